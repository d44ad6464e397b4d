"""Does a live child still carry what the operator applied?

``differences(desired, live)`` walks the desired manifest and lists the paths where the live object disagrees.
Fields the API server or other controllers add (defaults, status, managedFields, extra list items of other managers)
are ignored: server-side apply would not remove them either, so re-applying would change nothing. Removals of items the
operator itself dropped from its desired manifest are caught by the applied-hash annotation instead (see
:mod:`perpdex_operator.children`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perpdex_operator.quantities import same_quantity

_QUANTITY_KEYS = frozenset({"limits", "requests", "sizeLimit"})


def differences(desired: Any, live: Any, path: str = "", *, quantity: bool = False) -> list[str]:
    """Paths (``spec.replicas``, ``spec.template.spec.containers[bot].env``) where ``live`` lacks or changed a field
    of ``desired``. Empty when the live object matches."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return [path or "."]
        out: list[str] = []
        for key, value in desired.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in live:
                out.append(sub)
                continue
            out += differences(value, live[key], sub, quantity=quantity or key in _QUANTITY_KEYS)
        return out
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if not isinstance(live, Sequence) or isinstance(live, str):
            return [path]
        if all(isinstance(item, Mapping) for item in desired):
            return _list_of_maps(desired, live, path, quantity)
        return [] if list(desired) == list(live) else [path]
    if desired == live and type(desired) is type(live):
        return []
    if quantity and same_quantity(desired, live):
        return []
    return [path]


def _list_of_maps(desired: Sequence[Any], live: Sequence[Any], path: str, quantity: bool) -> list[str]:
    out: list[str] = []
    for index, item in enumerate(desired):
        label = item.get("name", item.get("uid", index))
        sub = f"{path}[{label}]"
        named = [x for x in live if isinstance(x, Mapping) and "name" in item and x.get("name") == item["name"]]
        if named:
            out += differences(item, named[0], sub, quantity=quantity)
        elif not any(not differences(item, candidate, sub, quantity=quantity) for candidate in live):
            out.append(sub)
    return out


def matches(desired: Any, live: Any) -> bool:
    return not differences(desired, live)
