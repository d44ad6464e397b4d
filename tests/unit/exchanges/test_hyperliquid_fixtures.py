"""Every Hyperliquid fixture the SDK has a type for validates against that type (``hyperliquid.utils.types``,
``TypedDict``s: key sets and value types, checked here directly since pydantic cannot read ``typing.TypedDict`` on
Python 3.11), strictly where the SDK types every key, so a fixture cannot drift from the wire format."""

from __future__ import annotations

import types as pytypes
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

pytest.importorskip("hyperliquid")

from hyperliquid.utils import types

from tests.support.replay import load_fixture


def check(value: Any, hint: Any, *, strict: bool = True, where: str = "$") -> None:
    """``value`` is an instance of the type ``hint`` (TypedDicts: required keys present, with ``strict`` no other)."""
    origin = get_origin(hint)
    if hint is Any:
        return
    if is_typeddict(hint):
        assert isinstance(value, dict), where
        fields = get_type_hints(hint)
        missing = hint.__required_keys__ - set(value)
        assert not missing, f"{where}: missing {sorted(missing)}"
        if strict:
            assert set(value) <= set(fields), f"{where}: unknown keys {sorted(set(value) - set(fields))}"
        for key, item in value.items():
            if key in fields:
                check(item, fields[key], strict=strict, where=f"{where}.{key}")
        return
    if origin in (Union, pytypes.UnionType):
        errors = []
        for option in get_args(hint):
            try:
                check(value, option, strict=strict, where=where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: {value!r} matches none of {get_args(hint)}: {errors}")
    if origin is Literal:
        assert value in get_args(hint), f"{where}: {value!r} not in {get_args(hint)}"
        return
    if origin is list:
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            check(item, get_args(hint)[0], strict=strict, where=f"{where}[{i}]")
        return
    if origin is tuple:
        args = get_args(hint)
        assert isinstance(value, list) and len(value) == len(args), where
        for i, (item, arg) in enumerate(zip(value, args, strict=True)):
            check(item, arg, strict=strict, where=f"{where}[{i}]")
        return
    if origin is dict:
        assert isinstance(value, dict), where
        return
    if hint is type(None):
        assert value is None, where
        return
    if hint is float:
        assert isinstance(value, int | float) and not isinstance(value, bool), where
        return
    if hint is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not an int"
        return
    assert isinstance(value, hint), f"{where}: {value!r} is not a {hint}"


def fx(name: str) -> Any:
    return load_fixture("hyperliquid", name)


def test_meta_and_asset_ctxs() -> None:
    meta, ctxs = fx("meta_and_asset_ctxs")
    check(meta, types.Meta, strict=False)  # the venue sends more per asset than the SDK types (maxLeverage, ...)
    check(ctxs, list[types.PerpAssetCtx])
    assert len(meta["universe"]) == len(ctxs)


def test_l2_book_and_bbo() -> None:
    check(fx("l2_book"), types.L2BookData)
    check(fx("ws_bbo"), types.BboMsg)


def test_fills() -> None:
    check(fx("ws_user_fills"), types.UserEventsMsg)
    check(fx("user_fills_by_time"), list[types.Fill])


def test_pong() -> None:
    check(fx("ws_pong"), types.PongMsg)


def test_order_updates_and_status_are_the_documented_ws_order() -> None:
    # the SDK types orderUpdates as Any: the docs' WsOrder / WsBasicOrder key sets
    for row in fx("ws_order_updates")["data"]:
        assert set(row) == {"order", "status", "statusTimestamp"}
        assert set(row["order"]) == {"coin", "side", "limitPx", "sz", "oid", "timestamp", "origSz", "cloid"}
    found = fx("order_status_order")["order"]
    assert set(found) == {"order", "status", "statusTimestamp"}
    assert set(fx("ws_order_updates")["data"][0]["order"]) <= set(found["order"])


def test_the_checker_refuses_a_drifted_fixture() -> None:
    fill = fx("ws_user_fills")["data"]["fills"][0]
    with pytest.raises(AssertionError, match="missing"):
        check({k: v for k, v in fill.items() if k != "tid"}, types.Fill)
    with pytest.raises(AssertionError, match="not an int"):
        check({**fill, "oid": "48212330077"}, types.Fill)
    with pytest.raises(AssertionError, match="unknown keys"):
        check({**fill, "price": "1"}, types.Fill)
