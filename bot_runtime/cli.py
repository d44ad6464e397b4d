"""``perpdex``: the one entry point of the image.

Each command is a module exporting ``main(argv: list[str]) -> int``, registered in the ``perpdex.commands``
entry-point group (pyproject.toml) and imported only when used, so a bot pod never imports kopf, FastAPI or another
venue's SDK, and the runtime names no package above it (the operator and the funding service register themselves).
``perpdex --help`` lists each command with the first line of its module's docstring (after its ````perpdex X``:``
prefix), read without importing it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

GROUP = "perpdex.commands"


def commands() -> dict[str, EntryPoint]:
    """The registered commands (by name)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def summary(entry: EntryPoint) -> str:
    """The first line of the command module's docstring, parsed from its source (nothing is imported)."""
    try:
        spec = importlib.util.find_spec(entry.module)
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return "(not installed in this image)"
    with open(spec.origin, encoding="utf-8") as source:
        doc = ast.get_docstring(ast.parse(source.read()))
    first = doc.strip().splitlines()[0] if doc else ""
    return re.sub(r"^``perpdex [^`]*``:\s*", "", first)


def _usage(found: dict[str, EntryPoint]) -> str:
    lines = ["usage: perpdex <command> [options]", "", "commands:"]
    lines += [f"  {name:<16} {summary(entry)}" for name, entry in found.items()]
    lines += ["", "`perpdex <command> --help` shows each command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    found = commands()
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage(found))
        return 0 if args else 2
    if args[0] == "--version":
        from importlib.metadata import version

        print(version("perp-dex-operator"))
        return 0
    name, rest = args[0], args[1:]
    if name not in found:
        print(f"perpdex: unknown command {name!r}\n\n{_usage(found)}", file=sys.stderr)
        return 2
    target = found[name]
    try:
        module = importlib.import_module(target.module)
    except ModuleNotFoundError as exc:
        if exc.name and target.module.startswith(exc.name):
            print(f"perpdex {name}: not installed in this image (module {target.module} is missing)", file=sys.stderr)
            return 2
        raise
    entry: Callable[[list[str]], int] = getattr(module, target.attr or "main")
    return entry(rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
