"""The live venues' funding endpoints as replay routes (their own wire format, tests/fixtures/exchanges/<venue>/), the
options that point each real funding adapter at its server, what a cycle must land for each, and the three ways a
venue breaks (HTTP 500s, an answer slower than the collector's timeout, a 200 whose body is not JSON)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture

D = Decimal


def _grvt_ticker(request: RecordedRequest) -> Any:
    return load_fixture("grvt", "tickers")[request.json()["instrument"]]


def _edgex_ticker(request: RecordedRequest) -> Any:
    return load_fixture("edgex", "tickers")[request.query["contractId"]]


def _hyperliquid_info(request: RecordedRequest) -> Any:
    """``metaAndAssetCtxs`` without SOL (every venue here lands the same three markets); the delisted MATIC stays."""
    assert request.json() == {"type": "metaAndAssetCtxs"}
    meta, ctxs = load_fixture("hyperliquid", "meta_and_asset_ctxs")
    keep = [i for i, asset in enumerate(meta["universe"]) if asset["name"] != "SOL"]
    meta["universe"] = [meta["universe"][i] for i in keep]
    return [meta, [ctxs[i] for i in keep]]


@dataclass(frozen=True)
class Venue:
    name: str
    routes: tuple[tuple[str, str, str | Callable[[RecordedRequest], Any], dict[str, str] | None], ...]
    base_path: str = ""
    #: symbol → (venue symbol, multiplier, interval hours) that one cycle must land
    expected: tuple[tuple[str, str, Decimal, Decimal], ...] = ()

    def load(self, server: ReplayServer) -> None:
        for method, path, source, query in self.routes:
            responder = load_fixture(self.name, source) if isinstance(source, str) else source
            server.route(method, path, responder, query=query)
        if self.name == "aster":  # openInterest per symbol; a symbol the venue has none for answers an error
            server.route("GET", "/fapi/v1/openInterest", Reply(400, {"code": -1121, "msg": "Invalid symbol."}))
            for symbol in ("BTCUSDT", "1000PEPEUSDT"):
                fixture = load_fixture("aster", f"open_interest_{symbol.lower()}")
                server.route("GET", "/fapi/v1/openInterest", fixture, query={"symbol": symbol})

    def options(self, server: ReplayServer) -> dict[str, Any]:
        return {"baseUrl": server.url + self.base_path}

    def break_with(self, server: ReplayServer, reply: Reply) -> None:
        """Every funding endpoint of the venue answers ``reply`` from now on."""
        paths = {(method, path) for method, path, _source, _query in self.routes}
        if self.name == "aster":
            paths.add(("GET", "/fapi/v1/openInterest"))
        for method, path in paths:
            server.clear_routes(method, path)
            server.route(method, path, reply)


VENUES: tuple[Venue, ...] = (
    Venue(
        "lighter",
        (
            ("GET", "/api/v1/funding-rates", "funding_rates", None),
            ("GET", "/api/v1/orderBookDetails", "order_book_details", None),
        ),
        expected=(("BTC", "BTC", D(1), D(1)), ("ETH", "ETH", D(1), D(1)), ("PEPE", "1000PEPE", D(1000), D(1))),
    ),
    Venue(
        "grvt",
        (
            ("POST", "/full/v1/instruments", "instruments", None),
            ("POST", "/full/v1/ticker", _grvt_ticker, None),
        ),
        expected=(
            ("BTC", "BTC_USDT_Perp", D(1), D(8)),
            ("ETH", "ETH_USDT_Perp", D(1), D(8)),
            ("PEPE", "1000PEPE_USDT_Perp", D(1000), D(8)),
        ),
    ),
    Venue(
        "edgex",
        (
            ("GET", "/api/v2/public/meta/getMetaData", "metadata", None),
            ("GET", "/api/v2/public/quote/getTicker", _edgex_ticker, None),
        ),
        expected=(
            ("BTC", "BTCUSDT", D(1), D(4)),
            ("ETH", "ETHUSDT", D(1), D(4)),
            ("PEPE", "1000PEPEUSDT", D(1000), D(1)),
        ),
    ),
    Venue(
        "paradex",
        (
            ("GET", "/v1/markets", "markets", None),
            ("GET", "/v1/markets/summary", "markets_summary", {"market": "ALL"}),
        ),
        base_path="/v1",
        expected=(
            ("BTC", "BTC-USD-PERP", D(1), D(8)),
            ("ETH", "ETH-USD-PERP", D(1), D(8)),
            ("PEPE", "kPEPE-USD-PERP", D(1000), D(1)),
        ),
    ),
    Venue(
        "backpack",
        (
            ("GET", "/api/v1/markets", "markets", None),
            ("GET", "/api/v1/markPrices", "mark_prices", None),
            ("GET", "/api/v1/tickers", "tickers", None),
            ("GET", "/api/v1/openInterest", "open_interest", None),
        ),
        expected=(
            ("BTC", "BTC_USDC_PERP", D(1), D(1)),
            ("ETH", "ETH_USDC_PERP", D(1), D(8)),
            ("PEPE", "kPEPE_USDC_PERP", D(1000), D(1)),
        ),
    ),
    Venue(
        "aster",
        (
            ("GET", "/fapi/v1/exchangeInfo", "exchange_info", None),
            ("GET", "/fapi/v1/premiumIndex", "premium_index", None),
            ("GET", "/fapi/v1/fundingInfo", "funding_info", None),
            ("GET", "/fapi/v1/ticker/24hr", "ticker_24hr", None),
            ("GET", "/fapi/v1/ticker/bookTicker", "book_ticker", None),
        ),
        expected=(
            ("BTC", "BTCUSDT", D(1), D(8)),
            ("ETH", "ETHUSDT", D(1), D(8)),
            ("PEPE", "1000PEPEUSDT", D(1000), D(4)),
        ),
    ),
    Venue(
        "hyperliquid",
        (("POST", "/info", _hyperliquid_info, None),),
        expected=(
            ("BTC", "BTC", D(1), D(1)),
            ("ETH", "ETH", D(1), D(1)),
            ("PEPE", "kPEPE", D(1000), D(1)),
        ),
    ),
    Venue(
        "extended",
        (("GET", "/api/v1/info/markets", "markets", None),),
        base_path="/api/v1",
        expected=(
            ("BTC", "BTC-USD", D(1), D(1)),
            ("ETH", "ETH-USD", D(1), D(1)),
            ("PEPE", "1000PEPE-USD", D(1000), D(1)),
        ),
    ),
    Venue(
        "ethereal",
        (
            ("GET", "/v1/product", "products", None),
            ("GET", "/v1/product/market-price", "market_price", None),
        ),
        expected=(
            ("BTC", "BTCUSD", D(1), D(1)),
            ("ETH", "ETHUSD", D(1), D(1)),
            ("PEPE", "1000PEPEUSD", D(1000), D(1)),
        ),
    ),
    Venue(
        "nado",
        (
            ("GET", "/v2/contracts", "v2_contracts", None),  # the archive indexer (its URL defaults to baseUrl's host)
            ("POST", "/v1/query", "query_symbols", None),  # the gateway's symbols: minimum sizes
        ),
        base_path="/v1",
        expected=(
            ("BTC", "BTC-PERP", D(1), D(1)),
            ("ETH", "ETH-PERP", D(1), D(1)),
            ("PEPE", "kPEPE-PERP", D(1000), D(1)),
        ),
    ),
    Venue(
        "apex",
        (
            ("GET", "/api/v3/symbols", "v3_symbols", None),  # the perpetuals and their minimum sizes
            ("GET", "/api/v3/ticker", "v3_ticker_btc", {"symbol": "BTCUSDT"}),  # one ticker read per market
            ("GET", "/api/v3/ticker", "v3_ticker_eth", {"symbol": "ETHUSDT"}),
            ("GET", "/api/v3/ticker", "v3_ticker_1000pepe", {"symbol": "1000PEPEUSDT"}),
        ),
        base_path="/api",
        expected=(
            ("BTC", "BTC-USDT", D(1), D(1)),
            ("ETH", "ETH-USDT", D(1), D(1)),
            ("PEPE", "1000PEPE-USDT", D(1000), D(1)),
        ),
    ),
)

#: the three ways a venue breaks, as replay answers (the hang is sized from the collector's timeout)
SERVER_ERROR = Reply(500, {"code": 500, "message": "internal server error"})
NOT_JSON = Reply(200, body='{"result": [{"symbol": "BTC', headers={"Content-Type": "application/json"})


def hanging(timeout: float) -> Reply:
    return Reply(json={}, delay=timeout + 2)
