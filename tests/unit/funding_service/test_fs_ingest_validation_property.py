"""The ingest model's fast field types against pydantic's own constraints (the definitions they replace): the same
values, the same errors (but for a value both out of bounds and over a digit limit: the bound is reported), the same
JSON schema, on random and boundary inputs."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BeforeValidator, Field, StringConstraints, TypeAdapter, ValidationError

from funding_service.models import ingest as m


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


_DIGITS: dict[str, Any] = {"max_digits": 40, "decimal_places": 30}
# the definitions before the fast ones (pydantic's max_digits / decimal_places, Python case folding)
REFERENCE: dict[str, tuple[Any, Any]] = {
    "amount": (m.Amount, Annotated[Decimal, Field(ge=0, lt=m._MAX_AMOUNT, **_DIGITS)]),
    "price": (m.Price, Annotated[Decimal, Field(gt=0, lt=m._MAX_AMOUNT, **_DIGITS)]),
    "multiplier": (m.Multiplier, Annotated[Decimal, Field(gt=0, le=Decimal(10) ** 9, **_DIGITS)]),
    "rate": (m.Rate, Annotated[Decimal, Field(ge=-1, le=1, **_DIGITS)]),
    "interval": (m.IntervalHours, Annotated[Decimal, Field(gt=0, le=168, max_digits=20, decimal_places=10)]),
    "dex": (
        m.DexName,
        Annotated[str, BeforeValidator(_lower), StringConstraints(pattern=m.DEX_NAME_PATTERN)],
    ),
    "symbol": (
        m.CanonicalSymbol,
        Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=m.SYMBOL_PATTERN)],
    ),
}
ADAPTERS = {name: (TypeAdapter(new), TypeAdapter(old)) for name, (new, old) in REFERENCE.items()}
DECIMALS = ["amount", "price", "multiplier", "rate", "interval"]


def outcome(adapter: TypeAdapter[Any], raw: str) -> tuple[str, object]:
    try:
        value = adapter.validate_json(raw)
    except ValidationError as exc:
        return "error", [(e["type"], e["msg"], e.get("ctx")) for e in exc.errors(include_url=False)]
    return "ok", (type(value).__name__, str(value))


BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
DIGIT_LIMITS = {"decimal_max_digits", "decimal_max_places", "decimal_whole_digits"}


def assert_same(name: str, raw: str) -> None:
    new, old = ADAPTERS[name]
    got, expected = outcome(new, raw), outcome(old, raw)
    if got != expected and got[0] == expected[0] == "error":
        # the one documented difference: out of bounds AND over a digit limit reports the bound (pydantic: the digits)
        new_errors, old_errors = got[1], expected[1]
        assert isinstance(new_errors, list) and isinstance(old_errors, list)
        assert len(new_errors) == len(old_errors) == 1, raw
        assert new_errors[0][0] in BOUNDS and old_errors[0][0] in DIGIT_LIMITS, raw
        return
    assert got == expected, raw


digits = st.text("0123456789", min_size=1, max_size=45)
number_text = st.builds(
    lambda sign, whole, frac, exp: f"{sign}{whole}{'.' + frac if frac else ''}{exp}",
    st.sampled_from(["", "-", "+"]),
    digits,
    st.none() | st.text("0123456789", min_size=0, max_size=45),
    st.sampled_from(["", "E+3", "e-5", "E+12", "E-40", "E+0"]),
)


@settings(max_examples=600, deadline=None)
@given(name=st.sampled_from(DECIMALS), text=number_text, as_string=st.booleans())
def test_decimal_fields_match_pydantic_constraints(name: str, text: str, as_string: bool) -> None:
    raw = json.dumps(text) if as_string else text
    try:
        json.loads(raw)
    except ValueError:
        raw = json.dumps(text)  # not a JSON number: send it as a string
    assert_same(name, raw)


@pytest.mark.parametrize("name", DECIMALS)
@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "0E-50",
        "1." + "0" * 35,  # trailing zeros do not count
        "0." + "0" * 29 + "1",  # 30 decimals: the limit
        "0." + "0" * 30 + "1",  # 31
        "9999999999." + "9" * 30,  # 40 digits
        "1" * 10 + "." + "1" * 31,  # 41 digits
        "12345678901",  # 11 whole digits
        "1E+20",  # out of bounds AND too many digits: the bound is reported
        "1E+9",
        "-1." + "1" * 31,
        "168",
        "168.00000000001",
        "1e15",
        "NaN",
        "Infinity",
        "abc",
        "",
        "  1.5 ",
    ],
)
def test_decimal_boundaries_match_pydantic_constraints(name: str, text: str) -> None:
    assert_same(name, json.dumps(text))


@pytest.mark.parametrize("raw", ["1.5", "1e400", "true", "null", "[1]", '{"a": 1}', "12345678901", "0.1"])
@pytest.mark.parametrize("name", DECIMALS)
def test_decimal_json_values_match_pydantic_constraints(name: str, raw: str) -> None:
    assert_same(name, raw)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(["dex", "symbol"]),
    text=st.text(
        st.sampled_from(list("abcXYZ019-._ \t\n\u00a0K\u212aİß")), min_size=0, max_size=12
    ),  # incl. whitespace, Kelvin sign, dotted I
)
def test_names_match_python_case_folding(name: str, text: str) -> None:
    assert_same(name, json.dumps(text))


@pytest.mark.parametrize("name", ["dex", "symbol"])
@pytest.mark.parametrize("raw", ['" Lighter "', '"BTC"', '" btc\\t"', "5", "null", '"paper-a"', '"1000pepe"'])
def test_names_match_on_fixed_inputs(name: str, raw: str) -> None:
    assert_same(name, raw)


def test_json_schema_is_unchanged() -> None:
    for name, (new, old) in ADAPTERS.items():
        assert new.json_schema() == old.json_schema(), name
        assert new.json_schema(mode="serialization") == old.json_schema(mode="serialization"), name
