"""Order decision latency (issue 12, item 4): price tick → order request sent, p50/p99, per venue, in one process.

The decision under test is the bot's hot path on a venue adapter: the adapter's ``price_stream`` yields a
:class:`~bot_runtime.exchanges.base.Quote`, a post-only buy at the bid is built (the smallest size the market takes)
and placed with ``place_order`` (rounding, signing, serialising, sending). One tick at a time: the next tick is pushed
only after ``place_order`` has returned, so no tick waits for the previous order.

* **paper**: the paper exchange (``step`` 5 ms) publishes a tick; the clock starts when it is published and stops
  when ``place_order`` returns (the paper venue has no wire: the order is "sent" once the engine accepted it).
  Baseline: the same ticks, from publication until the consumer receives them (the decision and order excluded).
* **aster, paradex, hyperliquid** (replay servers pushing quotes over WebSocket in the venue's wire format, from
  ``tests/support/replay.py`` and ``tests/fixtures/exchanges/``): the clock starts when the replay server sends the
  tick frame (``bookTicker`` / JSON-RPC ``bbo.<market>`` / ``bbo``) and stops when the same server receives the order
  request (``POST /fapi/v1/order``, HMAC-signed / ``POST /v1/orders``, Starknet-signed / ``POST /exchange``, an L1
  action signed by the API wallet). **extended** likewise: the ``orderbooks`` depth-1 frame, ``POST
  /api/v1/user/order`` with its Stark settlement (the verdict wait switched off, see :func:`extended_venue`). **nado**:
  the ``best_bid_offer`` event on ``/v1/subscribe``, ``POST /v1/execute`` with the EIP-712 ``Order`` (the written-out
  tables, eth-account 0.13 + coincurve). Baseline, same server, same run: a
  bare aiohttp WebSocket client that receives the same frame, decodes it and sends the adapter's own last order
  request again (same method, path, headers and body) with a bare httpx client: the wire round trip without the
  adapter.

Everything (replay server, adapter, baseline client) runs on one event loop, so the figures include the server's
share of the CPU, for both columns alike.

``python -m bench.decision_latency [--quick] [--ticks N] [--venues paper,aster,paradex,hyperliquid,extended,nado]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from bench.common import Table, base_parser, command_line, load_note, percentile, run_module
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import Exchange, Market, OrderRequest, Quote, Side, TimeInForce

MODULE = "bench.decision_latency"
VENUES: tuple[str, ...] = ("paper", "aster", "paradex", "hyperliquid", "extended", "nado")
SYMBOL = "BTC"
TICK_TIMEOUT = 10.0
PAPER_STEP = 0.005
BELOW_BID_TICKS = 10


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "order decision latency: price tick → order request sent, per venue")
    p.add_argument("--ticks", type=int, default=None, help="measured ticks per venue (default 200, quick 50)")
    p.add_argument("--warmup", type=int, default=None, help="ticks before measuring (default 20, quick 5)")
    p.add_argument("--venues", type=_venues, default=list(VENUES), help=f"comma-separated subset of {VENUES}")
    return p


def _venues(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VENUES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown venue(s) {unknown}; known: {', '.join(VENUES)}")
    return names


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    if args.ticks is None:
        args.ticks = 50 if args.quick else 200
    if args.warmup is None:
        args.warmup = 5 if args.quick else 20
    if args.ticks < 1 or args.warmup < 0:
        raise SystemExit("--ticks must be >= 1 and --warmup >= 0")
    return args


@dataclass
class Latencies:
    """Seconds per tick: the decision path and the baseline, measured in the same run."""

    venue: str
    decision: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    note: str = ""


def decision_request(quote: Quote, market: Market, n: int) -> OrderRequest:
    """The decision: a post-only buy ten ticks below the bid, the smallest size the market takes."""
    return OrderRequest(
        symbol=quote.symbol,
        side=Side.BUY,
        size=market.min_size,
        price=quote.bid - BELOW_BID_TICKS * market.tick_size,
        time_in_force=TimeInForce.POST_ONLY,
        client_order_id=f"bench-{n}",
    )


def table(results: list[Latencies], args: argparse.Namespace) -> Table:
    t = Table(
        f"Order decision latency: price tick → order request sent, {args.ticks} ticks per venue "
        f"(after {args.warmup} warm-up ticks)",
        "same run: receiving the tick alone (paper); a bare WebSocket + httpx client receiving the same frame and "
        "sending the same request to the same replay server (aster, paradex, hyperliquid, extended, nado)",
        command=command_line(MODULE, ["--quick"] if args.quick else []),
    )
    for r in results:
        for p in (50, 99):
            ms = [x * 1000 for x in r.decision]
            base = [x * 1000 for x in r.baseline]
            t.add(f"{r.venue}: p{p}", percentile(ms, p), "ms", percentile(base, p), note=r.note if p == 50 else "")
    t.notes.append(
        "decision = the adapter's price_stream quote → a post-only buy ten ticks below the bid → place_order (rounding, "
        "signing, "
        "serialising, sending); one tick at a time, the next pushed after place_order returned"
    )
    t.notes.append(load_note())
    return t


# ---------------------------------------------------------------------------------------------------------------------
# paper


async def measure_paper(ticks: int, warmup: int) -> Latencies:
    exchange = registry.create_exchange("paper", {"step": PAPER_STEP, "seed": 7}, {})
    await exchange.connect()
    published: dict[int, float] = {}
    hub = exchange._quotes[SYMBOL]  # type: ignore[attr-defined]
    publish = hub.publish

    def timed_publish(item: Quote) -> None:
        published[id(item)] = time.perf_counter()
        publish(item)

    hub.publish = timed_publish
    result = Latencies("paper", note=f"paper step {PAPER_STEP * 1000:g} ms")
    try:
        market = await exchange.market(SYMBOL)
        stream = exchange.price_stream(SYMBOL)
        ready = time.perf_counter()
        n = 0
        async with asyncio.timeout(TICK_TIMEOUT + (ticks + warmup) * 0.1):
            async for quote in stream:
                received = time.perf_counter()
                sent = published.pop(id(quote), None)
                if sent is None or sent < ready:  # published while the previous order was being placed
                    continue
                order = await exchange.place_order(decision_request(quote, market, n))
                done = time.perf_counter()
                await exchange.cancel_order(SYMBOL, order.order_id)  # keeps the paper book and margin flat
                if n >= warmup:
                    result.decision.append(done - sent)
                    result.baseline.append(received - sent)
                n += 1
                if n >= ticks + warmup:
                    break
                published.clear()
                ready = time.perf_counter()
    finally:
        await exchange.close()
    return result


# ---------------------------------------------------------------------------------------------------------------------
# venues behind a replay server


@dataclass(frozen=True)
class ReplayVenue:
    """What a venue's replay needs: its routes, options and credentials, the tick frame, where the order goes."""

    name: str
    env: dict[str, str]
    order_method: str
    order_path: str
    price_path: str  # the WebSocket endpoint the price stream connects to
    setup: Callable[[Any], None]  # registers the routes and endpoints on the ReplayServer
    options: Callable[[Any], dict[str, Any]]
    tick: Callable[[int], Any]  # the n-th tick frame
    order_reply: Any
    subscribed: Callable[[Any], bool] = lambda conn: True  # is this connection the price stream (subscribed)?
    diagnose: Callable[[Exchange], str] | None = None  # an extra figure for the note


def _fixture(venue: str, name: str) -> Any:
    from tests.support.replay import load_fixture

    return load_fixture(venue, name)


def aster_venue() -> ReplayVenue:
    listen_key = _fixture("aster", "listen_key")["listenKey"]

    def setup(server: Any) -> None:
        server.route("GET", "/fapi/v1/exchangeInfo", _fixture("aster", "exchange_info"))
        server.route("GET", "/fapi/v4/account", _fixture("aster", "account_v4"))
        server.route("GET", "/fapi/v1/openOrders", [])
        server.route("POST", "/fapi/v1/listenKey", _fixture("aster", "listen_key"))
        server.route("PUT", "/fapi/v1/listenKey", {})
        server.websocket(f"/ws/{listen_key}")
        server.websocket("/ws/btcusdt@bookTicker")

    frame = _fixture("aster", "ws_book_ticker")

    def tick(n: int) -> Any:
        return frame | {"u": frame["u"] + n, "E": frame["E"] + n, "T": frame["T"] + n}

    return ReplayVenue(
        name="aster",
        env={"ASTER_API_KEY": "bench-aster-api-key-0123456789", "ASTER_SECRET_KEY": "bench-aster-secret-9876543210"},
        order_method="POST",
        order_path="/fapi/v1/order",
        price_path="/ws/btcusdt@bookTicker",
        setup=setup,
        options=lambda server: {"baseUrl": server.url, "wsUrl": server.ws_url},
        tick=tick,
        order_reply=_fixture("aster", "order_new_gtx"),
    )


def paradex_venue() -> ReplayVenue:
    def rpc(conn: Any, message: Any) -> list[Any]:
        if not isinstance(message, dict) or "id" not in message:
            return []
        return [{"jsonrpc": "2.0", "result": {}, "id": message["id"]}]

    def setup(server: Any) -> None:
        server.route("GET", "/v1/system/config", _fixture("paradex", "system_config"))
        server.route("POST", "/v1/auth/{public_key}", _fixture("paradex", "auth"))
        server.route("GET", "/v1/markets", _fixture("paradex", "markets"))
        server.route("GET", "/v1/orders", {"results": []})
        server.websocket("/v1/ws", on_message=rpc)

    bbo = _fixture("paradex", "bbo")

    def tick(n: int) -> Any:
        data = bbo | {"last_updated_at": bbo["last_updated_at"] + n, "seq_no": bbo["seq_no"] + n}
        return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "bbo.BTC-USD-PERP", "data": data}}

    def subscribed(conn: Any) -> bool:
        return any(isinstance(m, dict) and m.get("params") == {"channel": "bbo.BTC-USD-PERP"} for m in conn.received)

    return ReplayVenue(
        name="paradex",
        env={
            "PARADEX_L1_ADDRESS": "0x" + "be" * 20,
            "PARADEX_L2_PRIVATE_KEY": hex(0x5EED_0000_1234_5678_9ABC_DEF0_1357_9BDF),
            "PARADEX_ENVIRONMENT": "testnet",
        },
        order_method="POST",
        order_path="/v1/orders",
        price_path="/v1/ws",
        setup=setup,
        options=lambda server: {
            "baseUrl": server.url + "/v1",
            "wsUrl": server.ws_url + "/v1/ws",
            "orderConfirmTimeout": 0,  # the engine's verdict is not part of "order sent"
        },
        tick=tick,
        order_reply=_fixture("paradex", "order_new"),
        subscribed=subscribed,
        diagnose=paradex_signing,
    )


def paradex_signing(exchange: Exchange) -> str:
    """How long signing one order takes alone (paradex-py typed data, starknet-py hash, Starknet signature)."""
    from decimal import Decimal

    from bot_runtime.exchanges.paradex.signing import sdk

    signer = exchange._signing()  # type: ignore[attr-defined]
    s = sdk()
    order = s.order_cls(market="BTC-USD-PERP", order_type=s.order_type.Limit, order_side=s.order_side.Buy,
                        size=Decimal("0.001"), limit_price=Decimal("97000.1"))  # fmt: skip
    times = []
    for _ in range(20):
        started = time.perf_counter()
        signer.signed_order(order)
        times.append(time.perf_counter() - started)
    return f"signing one order alone: p50 {percentile(times, 50) * 1000:.1f} ms"


def hyperliquid_venue() -> ReplayVenue:
    from tests.unit.exchanges.test_hyperliquid_client import ENV, HyperliquidVenue

    frame = _fixture("hyperliquid", "ws_bbo")

    def tick(n: int) -> Any:
        return {**frame, "data": {**frame["data"], "time": frame["data"]["time"] + n}}

    def subscribed(conn: Any) -> bool:
        return any(isinstance(m, dict) and m.get("subscription", {}).get("type") == "bbo" for m in conn.received)

    return ReplayVenue(
        name="hyperliquid",
        env=dict(ENV),
        order_method="POST",
        order_path="/exchange",
        price_path="/ws",
        setup=HyperliquidVenue,  # /info reads, the account stream; /exchange is the bench's own route
        options=lambda server: {"baseUrl": server.url, "wsUrl": server.ws_url + "/ws"},
        tick=tick,
        order_reply=_fixture("hyperliquid", "exchange_order_resting"),
        subscribed=subscribed,
        diagnose=hyperliquid_signing,
    )


def hyperliquid_signing(exchange: Exchange) -> str:
    """How long signing one order action takes alone (the SDK's msgpack + keccak action hash, EIP-712 signature)."""
    from bot_runtime.exchanges.hyperliquid.client import HyperliquidExchange
    from bot_runtime.exchanges.hyperliquid.signing import order_wires_to_order_action

    assert isinstance(exchange, HyperliquidExchange)
    wire = {"a": 0, "b": True, "p": "97000", "s": "0.00011", "r": False, "t": {"limit": {"tif": "Alo"}},
            "c": "0x" + "ab" * 16}  # fmt: skip
    action = order_wires_to_order_action([wire])
    signer = exchange._signer
    times = []
    for _ in range(20):
        started = time.perf_counter()
        signer.payload(action)
        times.append(time.perf_counter() - started)
    return f"signing one order alone: p50 {percentile(times, 50) * 1000:.1f} ms"


def extended_venue() -> ReplayVenue:
    """Extended's replay (its reads and account stream); the order book stream ``/orderbooks/BTC-USD?depth=1`` pushes
    the ticks. Placement is asynchronous on Extended (the engine's verdict comes after the answer): the adapter is run
    with ``orderConfirmTimeout: 0``, so ``place_order`` returns once the signed order is sent and acknowledged - the
    decision path, without the wait for the verdict."""
    from tests.unit.exchanges.test_extended_client import API, ENV, STREAM, ExtendedVenue, options

    frame = _fixture("extended", "ws_orderbook_depth1")

    def tick(n: int) -> Any:
        return {**frame, "ts": frame["ts"] + n, "seq": frame["seq"] + n}

    return ReplayVenue(
        name="extended",
        env=dict(ENV),
        order_method="POST",
        order_path=API + "/user/order",
        price_path=STREAM + "/orderbooks/BTC-USD",
        setup=ExtendedVenue,  # reads, the account stream; POST /user/order is the bench's own route
        options=lambda server: options(server, orderConfirmTimeout=0),
        tick=tick,
        order_reply=_fixture("extended", "order_placed"),
        diagnose=extended_signing,
    )


def extended_signing(exchange: Exchange) -> str:
    """How long building and signing one order takes alone (the SDK's ``create_order_object``: Stark amounts,
    SNIP-12 order hash, STARK-curve signature)."""
    from datetime import timedelta
    from decimal import Decimal

    from bot_runtime.exchanges.base import utcnow
    from bot_runtime.exchanges.extended.client import ExtendedExchange

    assert isinstance(exchange, ExtendedExchange)
    signer, model = exchange._signer, exchange._models["BTC-USD"]
    times = []
    for _ in range(20):
        started = time.perf_counter()
        signer.signed_order(model, side="BUY", size=Decimal("0.0001"), price=Decimal("64000.0"), order_type="LIMIT",
                            time_in_force="GTT", post_only=True, reduce_only=False, external_id="bench-sign",
                            expire_time=utcnow() + timedelta(days=7), taker_fee=Decimal("0.00025"))  # fmt: skip
        times.append(time.perf_counter() - started)
    return f"signing one order alone: p50 {percentile(times, 50) * 1000:.2f} ms"


def nado_venue() -> ReplayVenue:
    """Nado's replay (its gateway reads, the authenticated account stream on ``/v1/subscribe``); the same endpoint's
    ``best_bid_offer`` stream pushes the ticks. A post-only order's verdict is the execute answer itself."""
    from tests.unit.exchanges.test_nado_client import ENV, NadoVenue, options

    frame = _fixture("nado", "ws_best_bid_offer")

    def tick(n: int) -> Any:
        return {**frame, "timestamp": str(int(frame["timestamp"]) + n)}

    def subscribed(conn: Any) -> bool:
        return any(isinstance(m, dict) and m.get("stream", {}).get("type") == "best_bid_offer" for m in conn.received)

    return ReplayVenue(
        name="nado",
        env=dict(ENV),
        order_method="POST",
        order_path="/v1/execute",
        price_path="/v1/subscribe",
        setup=NadoVenue,  # reads, the account stream; POST /v1/execute is the bench's own route
        options=options,
        tick=tick,
        order_reply=_fixture("nado", "execute_place_order"),
        subscribed=subscribed,
        diagnose=nado_signing,
    )


def nado_signing(exchange: Exchange) -> str:
    """How long signing one order takes alone (the EIP-712 ``Order``: typed data, digest, secp256k1 signature)."""
    from bot_runtime.exchanges.nado.client import NadoExchange
    from bot_runtime.exchanges.nado.signing import AppendixOrderType, build_appendix, order_nonce

    assert isinstance(exchange, NadoExchange)
    signer, sender = exchange._signer, exchange._sender
    times = []
    for n in range(20):
        order = {"sender": sender, "priceX18": 97_000 * 10**18, "amount": 10**15, "expiration": 2**33 + n,
                 "nonce": order_nonce(None, n), "appendix": build_appendix(AppendixOrderType.POST_ONLY)}  # fmt: skip
        started = time.perf_counter()
        signer.order(2, order)
        times.append(time.perf_counter() - started)
    return f"signing one order alone: p50 {percentile(times, 50) * 1000:.2f} ms"


REPLAY_VENUES: dict[str, Callable[[], ReplayVenue]] = {
    "aster": aster_venue,
    "paradex": paradex_venue,
    "hyperliquid": hyperliquid_venue,
    "extended": extended_venue,
    "nado": nado_venue,
}


class Arrivals:
    """When the replay server received each order request (``perf_counter``)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[float] = asyncio.Queue()

    def responder(self, reply: Any) -> Callable[[Any], Any]:
        def on_request(request: Any) -> Any:
            self.queue.put_nowait(time.perf_counter())
            return reply

        return on_request

    async def next(self) -> float:
        return await asyncio.wait_for(self.queue.get(), TICK_TIMEOUT)


async def _price_connection(endpoint: Any, venue: ReplayVenue, exclude: Iterator[Any] | None = None) -> Any:
    skip = list(exclude or [])
    async with asyncio.timeout(TICK_TIMEOUT):
        while True:
            for conn in endpoint.active:
                if conn not in skip and venue.subscribed(conn):
                    return conn
            await asyncio.sleep(0.01)


@asynccontextmanager
async def replay(venue: ReplayVenue, arrivals: Arrivals) -> AsyncIterator[Any]:
    from tests.support.replay import ReplayServer

    async with ReplayServer() as server:
        venue.setup(server)
        server.route(venue.order_method, venue.order_path, arrivals.responder(venue.order_reply))
        yield server


async def measure_replay_venue(venue: ReplayVenue, ticks: int, warmup: int) -> Latencies:
    arrivals = Arrivals()
    result = Latencies(venue.name)
    async with replay(venue, arrivals) as server:
        exchange: Exchange = registry.create_exchange(venue.name, venue.options(server), venue.env)
        started = time.perf_counter()
        await exchange.connect()
        result.note = f"connect {(time.perf_counter() - started) * 1000:.0f} ms"
        try:
            run = Run(venue, server, arrivals, ticks, warmup)
            await _adapter_run(run, exchange, result.decision)
            await _baseline_run(run, server.requests_to(venue.order_method, venue.order_path)[-1], result.baseline)
            if venue.diagnose is not None:
                result.note += f"; {venue.diagnose(exchange)}"
        finally:
            await exchange.close()
    return result


@dataclass(frozen=True)
class Run:
    venue: ReplayVenue
    server: Any
    arrivals: Arrivals
    ticks: int
    warmup: int


async def _adapter_run(run: Run, exchange: Exchange, out: list[float]) -> None:
    venue, server, arrivals, ticks, warmup = run.venue, run.server, run.arrivals, run.ticks, run.warmup
    market = await exchange.market(SYMBOL)
    placed: asyncio.Queue[None] = asyncio.Queue()

    async def decide() -> None:
        n = 0
        async for quote in exchange.price_stream(SYMBOL):
            await exchange.place_order(decision_request(quote, market, n))
            n += 1
            placed.put_nowait(None)

    task = asyncio.create_task(decide(), name=f"bench-{venue.name}-decide")
    try:
        conn = await _price_connection(server._ws[venue.price_path], venue)
        for n in range(ticks + warmup):
            sent = time.perf_counter()
            await conn.send_json(venue.tick(n))
            arrived = await arrivals.next()
            await asyncio.wait_for(placed.get(), TICK_TIMEOUT)
            if n >= warmup:
                out.append(arrived - sent)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _baseline_run(run: Run, request: Any, out: list[float]) -> None:
    """A bare client: receive the frame, decode it, send the adapter's last order request again."""
    venue, server, arrivals, ticks, warmup = run.venue, run.server, run.arrivals, run.ticks, run.warmup
    skip = {"host", "content-length", "connection", "accept-encoding", "user-agent"}
    headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
    url = server.url + request.path
    endpoint = server._ws[venue.price_path]
    count = len(endpoint.connections) + 1
    async with (
        aiohttp.ClientSession() as session,
        httpx.AsyncClient() as http,
        session.ws_connect(server.ws_url + venue.price_path) as ws,
    ):
        conn = await endpoint.wait_for_connections(count, within=TICK_TIMEOUT)
        for n in range(ticks + warmup):
            sent = time.perf_counter()
            await conn.send_json(venue.tick(n))
            message = await ws.receive(TICK_TIMEOUT)
            json.loads(message.data)
            await http.request(request.method, url, params=request.query, content=request.body, headers=headers)
            arrived = await arrivals.next()
            if n >= warmup:
                out.append(arrived - sent)


# ---------------------------------------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> list[Latencies]:
    results = []
    for name in args.venues:
        if name == "paper":
            results.append(await measure_paper(args.ticks, args.warmup))
        else:
            results.append(await measure_replay_venue(REPLAY_VENUES[name](), args.ticks, args.warmup))
    return results


def run(args: argparse.Namespace) -> list[Table]:
    args = resolve(args)
    return [table(asyncio.run(measure(args)), args)]


def main(argv: list[str] | None = None) -> int:
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
