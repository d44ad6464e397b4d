"""Benchmarks of issue 12: each program prints a table with the ratio against a baseline measured in the same run."""

import sys as _sys
import types as _types
from pathlib import Path as _Path

# The benchmarks reuse the tests' replay venues (``tests.support``, ``tests.unit...``). The repository's ``tests`` is a
# namespace package, and ethereal-sdk's wheel installs a top-level *regular* package named ``tests`` (its own test
# suite) into site-packages, which Python prefers over a namespace package wherever it sits on sys.path. pytest binds
# ``tests`` to the repository's folder itself; a ``python -m bench...`` run does the same here.
_TESTS = _Path(__file__).resolve().parent.parent / "tests"
if str(_TESTS) not in list(getattr(_sys.modules.get("tests"), "__path__", [])):
    _package = _types.ModuleType("tests")
    _package.__path__ = [str(_TESTS)]
    _sys.modules["tests"] = _package
