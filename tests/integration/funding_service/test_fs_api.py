"""Every read endpoint and every filter, on a real PostgreSQL, against a dataset whose answers are worked out by hand.

Dataset (latest, collected now; hold 24 h and taker fees unless a test says otherwise):

    BTC  grvt  −0.0008 / 8 h (hourly −0.0001)   OI 3M  vol 1M  mark 59970
         lighter 0.00001 / 1 h (hourly 0.00001) OI 1M  vol 5M  mark 60000  bid/ask 59990/60010
         paradex 0.0001 / 8 h (hourly 0.0000125) no OI/volume/price
         aster 0.0004 / 8 h (hourly 0.00005)    OI 2M  vol 9M  mark 60030  bid/ask 60020/60040
    ETH  lighter 0.00002 / 1 h, backpack 0.00004 / 1 h
    PEPE aster 0.0002 / 8 h (1000PEPEUSDT ×1000, mark 0.0125), backpack 0.00003 / 1 h (kPEPE ×1000, mark 0.012)
    SOL  edgex 0.0008 / 4 h, lighter 0.00001 / 1 h, collected 20 min ago (stale)

Default opportunities (min_divergence 0.0001 per 8 h, min_profit 0), by net return over 24 h:
    grvt→aster 0.0017 (spread 0.00015/h, fees 0.0019), grvt→lighter 0.00154, grvt→paradex 0.0012,
    lighter→aster 0.00016; every other pair fails min_divergence or min_profit; SOL is stale.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

from funding_service.core.funding_time import funding_period_end
from tests.integration.funding_service.fs_helpers import Service, batch, close_service, open_service, rate

pytestmark = pytest.mark.integration

API = "/api/v1"
# aster BTC history: (hours back, rate per 8 h); 0 is the current period, 240 h = 10 days back
HISTORY = [
    (0, "0.0004"),
    (8, "0.0001"),
    (16, "0.0002"),
    (24, "0.0003"),
    (32, "-0.0002"),
    (40, "0.0005"),
    (48, "0.0001"),
    (56, "0.0002"),
    (64, "0.0004"),
    (72, "0.0003"),
    (240, "-0.0004"),
]


@pytest.fixture(scope="module")
async def data(service: Service) -> AsyncIterator[dict[str, Any]]:
    await service.reset()
    now = datetime.now(UTC)
    old = now - timedelta(minutes=20)
    for hours, value in HISTORY[:0:-1]:  # oldest first, the current one comes with the main batch
        at = now - timedelta(hours=hours)
        r = await service.ingest(batch(f"hist-{hours}", [rate("aster", "BTC", value, "8", at)], at))
        assert r.status_code == 200, r.text
    stale = await service.ingest(
        batch("stale", [rate("edgex", "SOL", "0.0008", "4", old), rate("lighter", "SOL", "0.00001", "1", old)], old)
    )
    assert stale.status_code == 200, stale.text
    rows = [
        rate(
            "grvt",
            "BTC",
            "-0.0008",
            "8",
            now,
            venue_symbol="BTC_USDT_Perp",
            open_interest_usd="3000000",
            volume_24h_usd="1000000",
            mark_price="59970",
        ),
        rate(
            "lighter",
            "BTC",
            "0.00001",
            "1",
            now,
            open_interest_usd="1000000",
            volume_24h_usd="5000000",
            mark_price="60000",
            best_bid="59990",
            best_ask="60010",
            next_funding_time=now + timedelta(minutes=30),
        ),
        rate("paradex", "BTC", "0.0001", "8", now, venue_symbol="BTC-USD-PERP"),
        rate(
            "aster",
            "BTC",
            "0.0004",
            "8",
            now,
            venue_symbol="BTCUSDT",
            open_interest_usd="2000000",
            volume_24h_usd="9000000",
            mark_price="60030",
            best_bid="60020",
            best_ask="60040",
            next_funding_time=now + timedelta(hours=2),
        ),
        rate("lighter", "ETH", "0.00002", "1", now),
        rate("backpack", "ETH", "0.00004", "1", now, venue_symbol="ETH_USDC_PERP"),
        rate("aster", "PEPE", "0.0002", "8", now, venue_symbol="1000PEPEUSDT", multiplier="1000", mark_price="0.0125"),
        rate(
            "backpack",
            "PEPE",
            "0.00003",
            "1",
            now,
            venue_symbol="kPEPE_USDC_PERP",
            multiplier="1000",
            mark_price="0.012",
        ),
    ]
    r = await service.ingest(batch("now", rows, now))
    assert r.status_code == 200, r.text
    yield {"now": now}


@pytest.fixture
async def api(service: Service, data: dict[str, Any]) -> httpx.AsyncClient:
    return service.http


async def get(api: httpx.AsyncClient, path: str, status: int = 200, **params: Any) -> Any:
    r = await api.get(API + path, params=params)
    assert r.status_code == status, f"{path} {params}: {r.status_code} {r.text}"
    return r.json()


def pairs(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(o["symbol"], o["long_dex"], o["short_dex"]) for o in body["opportunities"]]


def d(value: str | None) -> D | None:
    return None if value is None else D(value)


# --- dexes ------------------------------------------------------------------------------------------------------------


async def test_dexes(api: httpx.AsyncClient) -> None:
    body = await get(api, "/dexes")
    by_name = {x["name"]: x for x in body["dexes"]}
    assert body["count"] == len(by_name)
    assert set(by_name) == {
        "lighter", "grvt", "edgex", "paradex", "backpack", "aster", "hyperliquid", "extended", "ethereal", "nado",
        "apex",
    }  # fmt: skip
    assert d(by_name["extended"]["fee_structure"]["taker_fee"]) == D("0.00025")
    assert d(by_name["hyperliquid"]["fee_structure"]["taker_fee"]) == D("0.00045")
    assert d(by_name["grvt"]["fee_structure"]["maker_fee"]) == D("-0.0001")
    assert d(by_name["grvt"]["fee_structure"]["taker_fee_percent"]) == D("0.00055")  # original name, a fraction
    assert by_name["aster"]["supported_symbols_count"] == 2
    assert by_name["aster"]["is_healthy"] is True and by_name["aster"]["consecutive_errors"] == 0


async def test_dex_detail_and_symbols(api: httpx.AsyncClient) -> None:
    detail = await get(api, "/dexes/aster")
    assert detail["health"]["status"] == "healthy" and detail["api_base_url"].startswith("https://")
    assert detail["health"]["last_markets_fetched"] == 2
    assert (await get(api, "/dexes/ASTER"))["name"] == "aster"
    symbols = await get(api, "/dexes/aster/symbols")
    assert [(s["symbol"], s["dex_symbol_format"], d(s["multiplier"])) for s in symbols["symbols"]] == [
        ("BTC", "BTCUSDT", D(1)),
        ("PEPE", "1000PEPEUSDT", D(1000)),
    ]
    btc = symbols["symbols"][0]
    assert d(btc["spread_bps"]) == D(20) / D(60030) * 10000 and d(btc["open_interest_usd"]) == D(2_000_000)
    edgex = await get(api, "/dexes/edgex/symbols")
    assert [(s["symbol"], s["is_stale"]) for s in edgex["symbols"]] == [("SOL", True)]
    for path in ("/dexes/binance", "/dexes/binance/symbols"):
        err = await get(api, path, 404)
        assert err["error"] == "not_found" and err["parameter"] == "dex" and "binance" in err["message"]


# --- funding rates ----------------------------------------------------------------------------------------------------


async def test_latest_rates_original_shape(api: httpx.AsyncClient) -> None:
    body = await get(api, "/funding-rates")
    assert body["count"] == 10
    assert {k: {x: d(y) for x, y in v.items()} for k, v in body["data"].items()} == {
        "BTC": {"grvt": D("-0.0008"), "lighter": D("0.00001"), "paradex": D("0.0001"), "aster": D("0.0004")},
        "ETH": {"lighter": D("0.00002"), "backpack": D("0.00004")},
        "PEPE": {"aster": D("0.0002"), "backpack": D("0.00003")},
        "SOL": {"edgex": D("0.0008"), "lighter": D("0.00001")},
    }
    assert "dex_metadata" not in body or body["dex_metadata"] is None
    assert (await get(api, "/funding-rates", dex="backpack"))["count"] == 2
    only_btc = await get(api, "/funding-rates", symbol="btc-perp")  # normalised by the shared normaliser
    assert set(only_btc["data"]) == {"BTC"} and only_btc["count"] == 4
    assert (await get(api, "/funding-rates", dex="aster", symbol="1000PEPEUSDT"))["count"] == 1


async def test_latest_rates_with_metadata(api: httpx.AsyncClient) -> None:
    body = await get(api, "/funding-rates", include_metadata="true", symbol="SOL")
    assert set(body["dex_metadata"]) == {
        "lighter",
        "grvt",
        "edgex",
        "paradex",
        "backpack",
        "aster",
        "hyperliquid",
        "extended",
        "ethereal",
        "nado",
        "apex",
    }
    assert d(body["dex_metadata"]["edgex"]["taker_fee"]) == D("0.00038")
    edgex = body["details"]["SOL"]["edgex"]
    assert (d(edgex["interval_hours"]), d(edgex["hourly_rate"]), d(edgex["annualized_rate"])) == (
        D(4),
        D("0.0002"),
        D("1.752"),
    )
    assert edgex["is_stale"] is True and edgex["data_age_seconds"] > 600


async def test_latest_rate_filters_are_checked(api: httpx.AsyncClient) -> None:
    err = await get(api, "/funding-rates", 422, dex="binance")
    assert err["parameter"] == "dex" and "binance" in err["message"]
    err = await get(api, "/funding-rates", 422, symbol="!!")
    assert err["parameter"] == "symbol"
    err = await get(api, "/funding-rates", 422, include_metadata="perhaps")
    assert err["parameter"] == "include_metadata"


async def test_dex_rates_and_pair(api: httpx.AsyncClient) -> None:
    body = await get(api, "/funding-rates/aster")
    assert set(body["rates"]) == {"BTC", "PEPE"} and body["count"] == 2
    btc = body["rates"]["BTC"]
    assert (d(btc["funding_rate"]), d(btc["hourly_rate"]), d(btc["annualized_rate"])) == (
        D("0.0004"),
        D("0.00005"),
        D("0.438"),
    )
    assert btc["venue_symbol"] == "BTCUSDT" and d(btc["volume_24h"]) == D(9_000_000)
    pair = await get(api, "/funding-rates/lighter/btc")
    assert (pair["dex_name"], pair["symbol"], d(pair["funding_rate"]), d(pair["interval_hours"])) == (
        "lighter",
        "BTC",
        D("0.00001"),
        D(1),
    )
    assert d(pair["best_bid"]) == D(59990) and pair["next_funding_time"] is not None
    pepe = await get(api, "/funding-rates/aster/1000PEPEUSDT")
    assert pepe["symbol"] == "PEPE" and d(pepe["multiplier"]) == D(1000)
    assert (await get(api, "/funding-rates/grvt"))["count"] == 1
    await get(api, "/funding-rates/aster/SOL", 404)  # SOL is not listed on aster
    await get(api, "/funding-rates/binance", 404)
    await get(api, "/funding-rates/binance/BTC", 404)


async def test_compare(api: httpx.AsyncClient) -> None:
    body = await get(api, "/funding-rates/compare", symbol="BTC", dex1="aster", dex2="lighter")
    assert (body["long_recommendation"], body["short_recommendation"]) == ("lighter", "aster")
    assert d(body["divergence"]) == D("0.00032") and d(body["divergence_bps"]) == D("3.2")
    assert d(body["divergence_hourly"]) == D("0.00004") and d(body["estimated_net_profit_8h"]) == D("0.00032")
    assert d(body["gross_apr"]) == D("0.3504") and d(body["estimated_fees"]) == D("0.0008")
    assert d(body["net_apr"]) == D("0.0584") and d(body["break_even_hours"]) == D(20)
    assert body["dex1"]["name"] == "aster" and d(body["dex1"]["hourly_rate"]) == D("0.00005")
    assert d(body["price_spread_pct"]) == D("0.05")  # (60030 − 60000) / 60000 × 100
    longer = await get(
        api, "/funding-rates/compare", symbol="BTC", dex1="aster", dex2="lighter", hold_hours="48", fee_mode="maker"
    )
    assert d(longer["estimated_fees"]) == D("0.0001") and d(longer["net_apr"]) == D(
        "0.33215"
    )  # (0.00192 − 0.0001) × 8760 / 48
    assert (await get(api, "/funding-rates/compare", 404, symbol="BTC", dex1="aster", dex2="binance"))[
        "parameter"
    ] == "dex2"
    assert (await get(api, "/funding-rates/compare", 404, symbol="ETH", dex1="aster", dex2="lighter"))[
        "parameter"
    ] == "dex1"
    assert (await get(api, "/funding-rates/compare", 422, symbol="BTC", dex1="aster", dex2="aster"))[
        "parameter"
    ] == "dex2"
    missing = await get(api, "/funding-rates/compare", 422, dex1="aster", dex2="lighter")
    assert missing["parameter"] == "symbol" and "symbol" in missing["message"]


# --- history and stats ------------------------------------------------------------------------------------------------


async def test_history_points(api: httpx.AsyncClient) -> None:
    body = await get(api, "/history/funding-rates/aster/BTC")  # default 7 d: everything but the 10-day-old point
    assert body["count"] == 10 and d(body["period_days"]) == D(7) and body["bucket"] is None
    rates = [d(p["funding_rate"]) for p in body["data_points"]]
    assert rates == [D(v) for _, v in HISTORY[:10]]  # most recent first
    first = body["data_points"][0]
    assert (d(first["interval_hours"]), d(first["hourly_rate"]), d(first["annualized_rate"])) == (
        D(8),
        D("0.00005"),
        D("0.438"),
    )
    stats = body["stats"]
    hourly = [D(v) / 8 for _, v in HISTORY[:10]]
    assert d(stats["average"]) == sum(hourly) / 10
    assert (d(stats["min"]), d(stats["max"])) == (D("-0.0002") / 8, D("0.0005") / 8)
    asc = await get(api, "/history/funding-rates/aster/BTC", period="30d", order="asc", limit=3)
    assert [d(p["funding_rate"]) for p in asc["data_points"]] == [D("-0.0004"), D("0.0003"), D("0.0004")]
    times = [p["time"] for p in (await get(api, "/history/funding-rates/aster/BTC", period="30d"))["data_points"]]
    assert times == sorted(times, reverse=True) and len(times) == 11


async def test_history_start_end_and_buckets(api: httpx.AsyncClient, data: dict[str, Any]) -> None:
    now: datetime = data["now"]
    # the periods settling within [now − 33 h, now − 7 h): points collected 8, 16, 24 and 32 hours ago
    start, end = now - timedelta(hours=33), now - timedelta(hours=7)
    ends = {h: funding_period_end(now - timedelta(hours=h), D(8)) for h, _ in HISTORY}
    ends[0] = funding_period_end(now, D(8), now + timedelta(hours=2))  # the current row gives its next funding time
    expected = [D(v) for h, v in HISTORY if start <= ends[h] < end]
    body = await get(api, "/history/funding-rates/aster/BTC", start=start.isoformat(), end=end.isoformat())
    assert [d(p["funding_rate"]) for p in body["data_points"]] == expected
    assert body["end"].startswith(end.strftime("%Y-%m-%dT%H:%M"))
    daily = await get(api, "/history/funding-rates/aster/BTC", period="30d", bucket="1d", order="asc")
    by_day: dict[str, list[D]] = {}
    for h, v in HISTORY:
        by_day.setdefault(ends[h].strftime("%Y-%m-%d"), []).append(D(v))
    assert [p["time"][:10] for p in daily["data_points"]] == sorted(by_day)
    assert [p["samples"] for p in daily["data_points"]] == [len(by_day[k]) for k in sorted(by_day)]
    for p in daily["data_points"]:
        values = by_day[p["time"][:10]]
        assert d(p["hourly_rate"]) == pytest.approx(sum(values) / len(values) / 8, abs=D("1e-18"))
        assert d(p["max_hourly_rate"]) == max(values) / 8 and d(p["interval_hours"]) == D(8)
    four = await get(api, "/history/funding-rates/aster/BTC", bucket="4h")
    assert sum(p["samples"] for p in four["data_points"]) == 10


async def test_history_errors(api: httpx.AsyncClient) -> None:
    path = "/history/funding-rates/aster/BTC"
    assert (await get(api, path, 422, period="7w"))["parameter"] == "period"
    assert (await get(api, path, 422, period="7d", start="2026-01-01T00:00:00Z"))["parameter"] == "period"
    assert (await get(api, path, 422, start="2026-01-02T00:00:00Z", end="2026-01-01T00:00:00Z"))["parameter"] == "start"
    assert (await get(api, path, 422, start="yesterday"))["parameter"] == "start"
    assert (await get(api, path, 422, bucket="2h"))["parameter"] == "bucket"
    assert (await get(api, path, 422, limit="0"))["parameter"] == "limit"
    assert (await get(api, path, 422, limit="10001"))["parameter"] == "limit"
    await get(api, "/history/funding-rates/binance/BTC", 404)
    await get(api, "/history/funding-rates/aster/NOPE", 404)
    empty = await get(api, "/history/funding-rates/backpack/BTC")  # both exist, no data for the pair
    assert empty["count"] == 0 and empty["stats"]["average"] is None


async def test_stats(api: httpx.AsyncClient) -> None:
    body = await get(api, "/stats/funding-rates/BTC", dex="aster")  # 30 d default: 11 periods
    hourly = sorted(D(v) / 8 for _, v in HISTORY)
    s = body["statistics"]
    assert body["sample_size"] == 11 and body["dex_name"] == "aster" and body["unit"] == "hourly"
    assert d(s["average"]) == sum(hourly) / 11
    assert d(s["median"]) == hourly[5]
    assert (d(s["min"]), d(s["max"])) == (hourly[0], hourly[-1])
    assert d(s["positive_share"]) == D(9) / D(11)
    assert d(s["annualized_apr"]) == d(s["average"]) * 8760
    assert d(s["annualized_apy"]) == d(s["annualized_apr"]) * 100
    assert d(s["stability"]) == d(s["stdev"]) / abs(d(s["average"]))
    assert d(s["percentile_25"]) == hourly[2] + (hourly[3] - hourly[2]) * D("0.5")  # rank 2.5
    assert body["per_dex"] is None
    week = await get(api, "/stats/funding-rates/BTC", dex="aster", period="7d")
    assert week["sample_size"] == 10
    every = await get(api, "/stats/funding-rates/btc")
    assert every["dex_name"] is None and set(every["per_dex"]) == {"aster", "grvt", "lighter", "paradex"}
    assert every["sample_size"] == 14 and every["per_dex"]["grvt"]["average"] == "-0.0001"
    assert (await get(api, "/stats/funding-rates/BTC", 422, dex="binance"))["parameter"] == "dex"
    await get(api, "/stats/funding-rates/NOPE", 404)


# --- opportunities ----------------------------------------------------------------------------------------------------

DEFAULT = [
    ("BTC", "grvt", "aster"),
    ("BTC", "grvt", "lighter"),
    ("BTC", "grvt", "paradex"),
    ("BTC", "lighter", "aster"),
]


async def test_opportunities_default(api: httpx.AsyncClient, data: dict[str, Any]) -> None:
    body = await get(api, "/opportunities")
    assert pairs(body) == DEFAULT
    assert body["total_count"] == body["matched_count"] == 4
    assert body["stale_excluded"] == 1  # SOL edgex/lighter would qualify, but its data is 20 minutes old
    assert body["filters_applied"]["hold_hours"] == "24" and body["filters_applied"]["fee_mode"] == "taker"
    top = body["opportunities"][0]
    expected = {
        "long_rate": "-0.0008",
        "short_rate": "0.0004",
        "long_interval_hours": "8",
        "short_interval_hours": "8",
        "long_hourly_rate": "-0.0001",
        "short_hourly_rate": "0.00005",
        "long_apr": "-0.876",
        "short_apr": "0.438",
        "divergence": "0.0012",
        "divergence_hourly": "0.00015",
        "gross_apr": "1.314",
        "long_fee": "0.00055",
        "short_fee": "0.0004",
        "estimated_fees": "0.0019",
        "net_profit_percent": "0.0017",
        "net_apr": "0.6205",
        "annualized_apy": "62.05",
        "hold_hours": "24",
        "position_size_usd": "1000",
        "estimated_fees_usd": "1.9",
        "net_profit_usd": "1.7",
        "daily_funding_usd": "3.6",
        "daily_pnl_usd": "1.7",
        "oi_ratio": "1.5",
        "min_oi_usd": "2000000",
        "max_oi_usd": "3000000",
        "min_volume_24h": "1000000",
        "long_dex_oi_usd": "3000000",
        "short_dex_volume_24h": "9000000",
        "long_mark_price": "59970",
    }
    assert {k: top[k] for k in expected} == expected
    assert d(top["break_even_hours"]) == D("0.0019") / D("0.00015")
    assert d(top["price_spread_pct"]) == (D(60030) - D(59970)) / D(59970) * 100
    assert top["oi_imbalance"] == "long_heavy" and top["stale"] is False and top["data_age_seconds"] < 60
    assert top["long_venue_symbol"] == "BTC_USDT_Perp" and top["short_venue_symbol"] == "BTCUSDT"
    assert 0 < top["seconds_to_next_funding"] <= 7200
    # grvt sent no next funding time: its period's settlement (the next 8 h boundary) stands in
    assert top["long_next_funding_time"] == funding_period_end(data["now"], D(8)).isoformat().replace("+00:00", "Z")
    assert top["long_dex_spread_bps"] is None and top["short_dex_spread_bps"] is not None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"symbol": "btc"}, DEFAULT),
        # net over 24 h: ETH 0.00048 − 0.001 = −0.00052, PEPE 0.00012 − 0.0018 = −0.00168
        (
            {"symbols": "ETH,PEPE", "min_profit": "-1", "min_divergence": "0"},
            [("ETH", "lighter", "backpack"), ("PEPE", "aster", "backpack")],
        ),
        (
            {"symbols": "ETH,1000PEPE", "symbol": "ETH", "min_profit": "-1", "min_divergence": "0"},
            [("ETH", "lighter", "backpack")],
        ),
        ({"dex": "lighter"}, [("BTC", "grvt", "lighter"), ("BTC", "lighter", "aster")]),
        ({"dex_pair": "aster,grvt"}, [("BTC", "grvt", "aster")]),
        ({"dexes": "paradex,backpack"}, [("BTC", "grvt", "paradex")]),
        (
            {"whitelist_dexes": "grvt,lighter,aster"},
            [("BTC", "grvt", "aster"), ("BTC", "grvt", "lighter"), ("BTC", "lighter", "aster")],
        ),
        (
            {"include_dexes": "grvt,lighter,aster"},
            [("BTC", "grvt", "aster"), ("BTC", "grvt", "lighter"), ("BTC", "lighter", "aster")],
        ),
        ({"exclude_dexes": "grvt"}, [("BTC", "lighter", "aster")]),
        ({"required_dex": "aster"}, [("BTC", "grvt", "aster"), ("BTC", "lighter", "aster")]),
        ({"long_dex": "lighter"}, [("BTC", "lighter", "aster")]),
        ({"short_dex": "lighter"}, [("BTC", "grvt", "lighter")]),
        ({"min_divergence": "0.001"}, [("BTC", "grvt", "aster")]),
        ({"min_profit": "0.0016"}, [("BTC", "grvt", "aster")]),  # 0.0017 passes, 0.00154 not
        ({"min_net_apr": "0.5"}, [("BTC", "grvt", "aster"), ("BTC", "grvt", "lighter")]),
        (
            {"min_volume": "1000000"},
            [("BTC", "grvt", "aster"), ("BTC", "grvt", "lighter"), ("BTC", "lighter", "aster")],
        ),
        ({"min_volume": "2000000"}, [("BTC", "lighter", "aster")]),
        ({"max_volume": "1000000"}, [("BTC", "grvt", "aster"), ("BTC", "grvt", "lighter")]),
        ({"min_oi": "1500000"}, [("BTC", "grvt", "aster")]),
        ({"max_oi": "1000000"}, [("BTC", "grvt", "lighter"), ("BTC", "lighter", "aster")]),
        ({"max_oi": "2500000", "required_dex": "aster"}, [("BTC", "grvt", "aster"), ("BTC", "lighter", "aster")]),
        ({"oi_ratio_min": "1.4"}, [("BTC", "grvt", "aster"), ("BTC", "grvt", "lighter")]),
        ({"oi_ratio_max": "1"}, [("BTC", "lighter", "aster")]),
        ({"max_spread": "4"}, [("BTC", "lighter", "aster")]),
        ({"max_spread": "3"}, []),
        ({"max_price_divergence_pct": "0.06"}, [("BTC", "grvt", "lighter"), ("BTC", "lighter", "aster")]),
        # over 8 h nothing pays its fees: grvt→aster 0.0012 − 0.0019, grvt→lighter 0.00088 − 0.0011, grvt→paradex
        # 0.0009 − 0.0015, lighter→aster 0.00032 − 0.0008 are all negative
        ({"hold_hours": "8"}, []),
        ({"hold_hours": "8", "min_profit": "-0.0003"}, [("BTC", "grvt", "lighter")]),  # −0.00022 passes, −0.00048 not
        ({"include_stale": "true"}, [("SOL", "lighter", "edgex"), *DEFAULT]),
        ({"limit": "2"}, DEFAULT[:2]),
        (
            {"sort_by": "min_oi_usd", "sort_desc": "false"},
            [
                ("BTC", "grvt", "lighter"),
                ("BTC", "lighter", "aster"),
                ("BTC", "grvt", "aster"),
                ("BTC", "grvt", "paradex"),
            ],
        ),
        (
            {
                "sort_by": "symbol",
                "sort_desc": "false",
                "min_profit": "-1",
                "min_divergence": "0",
                "symbols": "ETH,PEPE",
            },
            [("ETH", "lighter", "backpack"), ("PEPE", "aster", "backpack")],
        ),
    ],
)
async def test_opportunity_filters(
    api: httpx.AsyncClient, params: dict[str, str], expected: list[tuple[str, str, str]]
) -> None:
    assert pairs(await get(api, "/opportunities", **params)) == expected


async def test_opportunity_valuation_parameters(api: httpx.AsyncClient) -> None:
    body = await get(api, "/opportunities", long_dex="lighter", hold_hours="48", position_size_usd="5000")
    row = body["opportunities"][0]
    assert (d(row["net_apr"]), d(row["daily_pnl_usd"]), d(row["daily_funding_usd"])) == (
        D("0.2044"),
        D("2.8"),
        D("4.8"),
    )
    assert (d(row["estimated_fees_usd"]), d(row["net_profit_usd"])) == (D(4), D("5.6"))
    maker = await get(api, "/opportunities", dex_pair="grvt,aster", fee_mode="maker")
    row = maker["opportunities"][0]
    assert (d(row["estimated_fees"]), row["fee_mode"]) == (D("-0.0001"), "maker")  # 2 × (−0.0001 + 0.00005)
    assert d(row["break_even_hours"]) == 0
    stale = await get(api, "/opportunities", include_stale="true", symbol="SOL")
    assert stale["opportunities"][0]["stale"] is True and stale["stale_excluded"] == 0


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"hold_hours": "0"}, "hold_hours"),
        ({"position_size_usd": "-1"}, "position_size_usd"),
        ({"min_profit": "abc"}, "min_profit"),
        ({"min_divergence": "NaN"}, "min_divergence"),
        ({"sort_by": "profit"}, "sort_by"),
        ({"fee_mode": "cheap"}, "fee_mode"),
        ({"exclude_dexes": "grvt,binance"}, "exclude_dexes"),
        ({"dex_pair": "aster"}, "dex_pair"),
        ({"dex_pair": "aster,aster"}, "dex_pair"),
        ({"dex": "lighter,grvt"}, "dex"),
        ({"required_dex": "nope"}, "required_dex"),
        ({"symbol": "$$$"}, "symbol"),
        ({"symbols": ","}, "symbols"),
        ({"include_stale": "maybe"}, "include_stale"),
    ],
)
async def test_opportunity_bad_queries_name_the_parameter(
    api: httpx.AsyncClient, params: dict[str, str], parameter: str
) -> None:
    err = await get(api, "/opportunities", 422, **params)
    assert err["error"] == "invalid_parameter" and err["parameter"] == parameter
    assert parameter in err["message"]


async def test_best_and_per_symbol(api: httpx.AsyncClient) -> None:
    best = await get(api, "/opportunities/best")
    assert best["rank"] == 1 and (best["opportunity"]["long_dex"], best["opportunity"]["short_dex"]) == (
        "grvt",
        "aster",
    )
    other = await get(api, "/opportunities/best", exclude_dexes="grvt", max_oi="5000000")
    assert (other["opportunity"]["long_dex"], other["opportunity"]["short_dex"]) == ("lighter", "aster")
    none = await get(api, "/opportunities/best", min_net_apr="100")
    assert none["opportunity"] is None and none["rank"] is None and none["message"]
    by_apr = await get(api, "/opportunities/best", sort_by="min_volume_24h")
    assert by_apr["opportunity"]["short_dex"] == "aster" and by_apr["opportunity"]["long_dex"] == "lighter"
    sym = await get(api, "/opportunities/symbol/btc-perp", limit="3")
    assert sym["symbol"] == "BTC" and sym["count"] == 3
    assert [(o["long_dex"], o["short_dex"]) for o in sym["opportunities"]] == [(a, b) for _, a, b in DEFAULT[:3]]
    assert (await get(api, "/opportunities/symbol/ETH"))["count"] == 0  # listed, nothing profitable
    assert (await get(api, "/opportunities/symbol/ETH", min_profit="-1", min_divergence="0"))["count"] == 1
    assert (await get(api, "/opportunities/symbol/NOPE", 404))["parameter"] == "symbol"


# --- health, metrics, docs, errors ------------------------------------------------------------------------------------


async def test_health_endpoints(service: Service, data: dict[str, Any]) -> None:
    http = service.http
    for prefix in ("", API):
        health = (await http.get(prefix + "/health")).json()
        assert health["database"]["connected"] is True and health["database"]["migrations_current"] is True
        by = {x["dex_name"]: x for x in health["dex_health"]}
        assert by["aster"]["status"] == "healthy" and by["edgex"]["status"] == "unhealthy"  # last success 20 min ago
        assert health["status"] == "degraded"
        assert health["data_freshness"]["total_rates"] == 10 and health["data_freshness"]["stale_rates"] == 2
        venues = len(health["dex_health"])  # every seeded venue; only five have data here
        assert health["dex_summary"] == {"total": venues, "active": venues, "healthy": 5}
        simple = await http.get(prefix + "/health/simple")
        assert simple.status_code == 200 and simple.json()["status"] == "ok"
        db = (await http.get(prefix + "/health/database")).json()
        assert db["status"] == "healthy" and db["statistics"]["latest_rates"] == 10 and db["statistics"]["symbols"] == 4
        dex = (await http.get(prefix + "/health/dex/backpack")).json()
        assert dex["status"] == "healthy" and dex["active_symbols"] == 2 and dex["recent_updates"] == 2
        assert (await http.get(prefix + "/health/dex/binance")).status_code == 404
        ready = await http.get(prefix + "/health/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert ready.json()["migrations"]["pending"] == []


async def test_metrics_use_route_templates(service: Service, data: dict[str, Any]) -> None:
    await service.http.get(API + "/dexes/aster")
    await service.http.get(API + "/dexes/nope")
    await service.http.get("/no/such/path")
    text = (await service.http.get("/metrics")).text
    assert 'route="/api/v1/dexes/{dex}",status="200"' in text
    assert 'route="/api/v1/dexes/{dex}",status="404"' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "/dexes/aster" not in text  # raw paths never become labels
    assert "perpdex_fs_http_request_duration_seconds_bucket" in text
    assert "perpdex_fs_database_up 1.0" in text


async def test_openapi_and_docs(service: Service) -> None:
    schema = (await service.http.get(API + "/openapi.json")).json()
    paths = set(schema["paths"])
    for path in (
        "/api/v1/dexes",
        "/api/v1/dexes/{dex}",
        "/api/v1/dexes/{dex}/symbols",
        "/api/v1/funding-rates",
        "/api/v1/funding-rates/compare",
        "/api/v1/funding-rates/{dex}",
        "/api/v1/funding-rates/{dex}/{symbol}",
        "/api/v1/history/funding-rates/{dex}/{symbol}",
        "/api/v1/stats/funding-rates/{symbol}",
        "/api/v1/opportunities",
        "/api/v1/opportunities/best",
        "/api/v1/opportunities/symbol/{symbol}",
        "/api/v1/ingest/funding-rates",
        "/api/v1/health",
        "/api/v1/health/simple",
        "/api/v1/health/database",
        "/api/v1/health/dex/{dex}",
        "/api/v1/health/ready",
    ):
        assert path in paths, path
    params = {p["name"] for p in schema["paths"]["/api/v1/opportunities"]["get"]["parameters"]}
    original = {
        "symbol",
        "dex",
        "dex_pair",
        "dexes",
        "whitelist_dexes",
        "exclude_dexes",
        "required_dex",
        "min_divergence",
        "min_profit",
        "min_volume",
        "max_volume",
        "min_oi",
        "max_oi",
        "oi_ratio_min",
        "oi_ratio_max",
        "max_spread",
        "limit",
        "sort_by",
        "sort_desc",
    }
    assert original | {"min_net_apr", "position_size_usd", "hold_hours", "symbols"} <= params
    assert "IngestBatch" in schema["components"]["schemas"]
    docs = await service.http.get(API + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_unknown_route_and_method_are_json(service: Service) -> None:
    r = await service.http.get(API + "/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await service.http.delete(API + "/dexes")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


async def test_unexpected_error_is_a_json_500_without_trace(
    service: Service, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from funding_service.db.repositories import dexes as dex_repo

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail /path/to/file.py")

    monkeypatch.setattr(dex_repo, "fetch_dex_symbols", broken)
    r = await service.http.get(API + "/dexes/aster/symbols")
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal_error" and "logged with id" in body["message"]
    assert "Traceback" not in r.text and "secret internal detail" not in r.text


async def test_cors_off_by_default_and_on_when_configured(service: Service, fs_dsn: str) -> None:
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"}
    r = await service.http.get(API + "/dexes", headers={"Origin": "https://ui.example"})
    assert "access-control-allow-origin" not in r.headers
    with_cors = await open_service(fs_dsn, cors_origins=["https://ui.example"])
    try:
        r = await with_cors.http.options(API + "/dexes", headers=preflight)
        assert r.headers.get("access-control-allow-origin") == "https://ui.example"
        r = await with_cors.http.get(API + "/dexes", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    finally:
        await close_service(with_cors)
