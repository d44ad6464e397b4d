"""The plugin's pure parts: display rounding (only the display rounds), ages as kubectl prints them, the preflight
message split into checks, kubectl's errors classified, runbot.py's wait time as a CRD duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from perpdex_operator.kubectl import display, from_runbot, preflight
from perpdex_operator.kubectl.kube import Forbidden, KubectlError, NoCrds, NotFound, classify

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (D("12.3149999999999999999999999"), 2, "12.31"),
        (D("-0.10433333"), 2, "-0.10"),
        (D("0"), 2, "0.00"),
        (D("0.000421"), 2, "0.00042"),  # tiny but not zero: its first significant digits
        (D("-1.2"), 2, "-1.20"),
        (None, 2, "-"),
    ],
)
def test_decimal(value: D | None, places: int, shown: str) -> None:
    assert display.decimal(value, places) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (D("0.0400000000000000000000000001"), "0.04"),
        (D("-1.5000"), "-1.5"),
        (D("0"), "0"),
        (D("0.0000001"), "1.00E-7"),
        (D("120"), "120"),
    ],
)
def test_size(value: D, shown: str) -> None:
    assert display.size(value) == shown


def test_percent_and_age() -> None:
    assert display.percent(D("0.1534000000000000000000000001")) == "15.3%"
    ages = [5, 119, 125, 600, 7200, 9000, 3600 * 5 + 600, 3600 * 30, 3600 * 50]
    assert [display.age(NOW - timedelta(seconds=s), NOW) for s in ages] == [
        "5s", "119s", "2m5s", "10m", "120m", "150m", "5h10m", "30h", "2d",
    ]  # fmt: skip
    assert display.age(None, NOW) == "-" and display.age(NOW + timedelta(seconds=3), NOW) == "0s"


def test_table_aligns_columns() -> None:
    assert display.table(["a", "bb"], [["xyz", "1"], ["q", "22"]]).splitlines() == ["A     BB", "xyz   1", "q     22"]


def test_preflight_message_into_checks() -> None:
    message = (
        "paper-a BTC: credentials pass: signed reads answered; market pass: BTC trades as BTC-PERP; "
        "paper-b BTC: credentials pass: ok; collateral warn: 10 × 0.01 × 60000 / 10 = 600; available 500"
    )
    assert preflight.checks(message) == [
        ("paper-a BTC", "credentials", "pass", "signed reads answered"),
        ("paper-a BTC", "market", "pass", "BTC trades as BTC-PERP"),
        ("paper-b BTC", "credentials", "pass", "ok"),
        ("paper-b BTC", "collateral", "warn", "10 × 0.01 × 60000 / 10 = 600; available 500"),
    ]
    assert preflight.checks("something else") == [("", "", "", "something else")]


@pytest.mark.parametrize(
    ("stderr", "kind", "text"),
    [
        ('error: the server doesn\'t have a resource type "tradingbots"', NoCrds, "not installed in this cluster"),
        (
            'Error from server (Forbidden): tradingbots.perpdex.io is forbidden: User "u" cannot list',
            Forbidden,
            'forbidden: tradingbots.perpdex.io is forbidden: User "u" cannot list',
        ),
        ('Error from server (NotFound): tradingbots.perpdex.io "x" not found', NotFound, '"x" not found'),
        ("error: You must be logged in to the server (Unauthorized)", KubectlError, "You must be logged in"),
    ],
)
def test_kubectl_errors_classified(stderr: str, kind: type[KubectlError], text: str) -> None:
    error = classify(stderr)
    assert type(error) is kind and text in str(error)


@pytest.mark.parametrize(
    ("seconds", "duration"), [(450, "450s"), ("450", "450s"), ("0.5", "500ms"), ("2.25", "2250ms")]
)
def test_wait_time_as_a_duration(seconds: object, duration: str) -> None:
    assert from_runbot._duration(seconds) == duration


def test_launcher_words_are_skipped_and_bad_numbers_named() -> None:
    args = from_runbot.parse_flags(["python3", "runbot.py", "--exchange", "paper", "--boost"])
    assert args.exchange == "paper" and args.boost is True
    with pytest.raises(from_runbot.Unsupported, match="--wait-time 0: must be more than 0 seconds"):
        from_runbot._duration("0")
    with pytest.raises(from_runbot.Unsupported, match="--quantity 'lots' is not a number"):
        from_runbot._decimal("--quantity", "lots")
