"""Importing one module of an SDK whose package ``__init__`` imports all of it.

Some venue SDKs (paradex-py, ethereal-sdk) import every client class - and with them a full node client, web3,
aiohttp - in their package ``__init__``, so ``import sdk.sub`` costs the whole SDK. A pod needs a few modules
(signing, models): :func:`package_without_init` registers the package so that its submodules import alone, and runs
the real ``__init__`` the first time anything reads an attribute of the package itself (``from sdk import Client``
still works, in the same process too).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def package_without_init(name: str) -> None:
    """Make ``import name.sub`` load only ``name/sub.py`` (and what it imports), not ``name/__init__.py``.

    The package module is registered with its real spec and ``__path__``; its ``__init__`` runs on the first read
    of an attribute the package itself defines, so ``from name import X`` behaves as usual."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def run_init(attribute: str) -> Any:
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, attribute)

    package.__dict__["__getattr__"] = run_init
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:  # as the import system does: the parent's attribute, so reading it runs no parent __init__
        setattr(sys.modules[parent], child, package)
