"""The GRVT replay fixtures parse into the SDK's own raw types the way its raw client does (dacite), strictly."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest

pytest.importorskip("pysdk")

from dacite import Config, from_dict
from pysdk import grvt_raw_types as types
from pysdk.grvt_raw_base import GrvtError

from tests.support.replay import load_fixture

STRICT = Config(cast=[Enum], strict=True)
CASES: list[tuple[str, Any]] = [
    ("instruments", types.ApiGetFilteredInstrumentsResponse),
    ("mini_ticker", types.ApiMiniTickerResponse),
    ("order", types.Order),
    ("positions", types.ApiPositionsResponse),
    ("account_summary", types.ApiSubAccountSummaryResponse),
    ("fill", types.Fill),
    ("error_unauthenticated", GrvtError),
    ("error_rate_limited", GrvtError),
    ("error_not_found", GrvtError),
]


@pytest.mark.parametrize(("fixture", "model"), CASES)
def test_fixture_matches_sdk_type(fixture: str, model: Any) -> None:
    from_dict(model, load_fixture("grvt", fixture), STRICT)


def test_every_ticker_matches_sdk_type() -> None:
    for body in load_fixture("grvt", "tickers").values():
        from_dict(types.ApiTickerResponse, body, STRICT)


def test_feeds_match_sdk_ws_types() -> None:
    fill = {
        "stream": "v1.fill",
        "selector": "1",
        "sequence_number": "1",
        "feed": load_fixture("grvt", "fill"),
        "prev_sequence_number": "0",
    }
    from_dict(types.WSFillFeedDataV1, fill, STRICT)
    order = {
        "stream": "v1.order",
        "selector": "1",
        "sequence_number": "1",
        "feed": load_fixture("grvt", "order"),
        "prev_sequence_number": "0",
    }
    from_dict(types.WSOrderFeedDataV1, order, STRICT)


def test_strictness() -> None:
    broken = load_fixture("grvt", "order")
    broken["state"]["status"] = "MAYBE"
    with pytest.raises(ValueError):
        from_dict(types.Order, broken, STRICT)
