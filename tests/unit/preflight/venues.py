"""One replay venue per live exchange for the preflight tests, built from each client test's own stateful replay
(same wire format, same signature checks): what a preflight needs to connect, read the balance and open orders,
list markets and read the top of book, plus one lever that makes the venue refuse the credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from tests.support.replay import ReplayServer, Reply, load_fixture

VENUES = [
    "lighter", "grvt", "edgex", "paradex", "backpack", "aster", "hyperliquid", "extended", "ethereal", "nado", "apex",
]  # fmt: skip


@dataclass
class Rig:
    name: str
    server: ReplayServer
    options: dict[str, Any]
    env: dict[str, str]
    refuse: Callable[[Rig], None] = field(default=lambda rig: None)  # make the venue refuse the credentials

    def refuse_credentials(self) -> None:
        self.refuse(self)


def _reroute(server: ReplayServer, method: str, path: str, reply: Any) -> None:
    server.clear_routes(method, path)
    server.route(method, path, reply)


def _lighter(server: ReplayServer) -> Rig:
    from lighter.signer_client import create_api_key

    from tests.unit.exchanges.test_lighter_client import LighterVenue, make_env

    make_key = cast(Callable[[], tuple[Any, Any, Any]], create_api_key)  # the SDK leaves it unannotated
    private, _public, err = make_key()
    assert err is None
    LighterVenue(server)

    def refuse(rig: Rig) -> None:  # the venue knows key 3 for this account, not 4: the auth token is refused
        rig.env["LIGHTER_API_KEY_INDEX"] = "4"

    return Rig("lighter", server, {"chainId": 300, "stream": False}, make_env(server, str(private)), refuse)


def _grvt(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_grvt_client import ENV, GrvtVenue

    GrvtVenue(server)

    def refuse(rig: Rig) -> None:
        rig.env["GRVT_API_KEY"] = "another-key-123"

    return Rig("grvt", server, {"stream": False}, {**ENV, "GRVT_BASE_URL": server.url}, refuse)


def _edgex(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_edgex_client import ENV, EdgexVenue

    EdgexVenue(server)

    def refuse(rig: Rig) -> None:  # the replay recomputes every HMAC
        rig.env["EDGEX_API_SECRET"] = "not-the-secret-the-venue-holds"

    env = {**ENV, "EDGEX_BASE_URL": server.url, "EDGEX_WS_URL": server.ws_url}
    return Rig("edgex", server, {"stream": False}, env, refuse)


def _paradex(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_paradex_client import ENV, rpc

    fx = lambda name: load_fixture("paradex", name)  # noqa: E731
    server.route("GET", "/v1/system/config", fx("system_config"))
    server.route("POST", "/v1/auth/{public_key}", fx("auth"))
    server.route("GET", "/v1/markets", fx("markets"))
    server.route("GET", "/v1/orders", {"results": []})
    server.route("GET", "/v1/account", fx("account"))
    server.route("GET", "/v1/bbo/{market}", fx("bbo"))
    server.websocket("/v1/ws", on_message=rpc)

    def refuse(rig: Rig) -> None:
        _reroute(rig.server, "POST", "/v1/auth/{public_key}", Reply(401, fx("error_invalid_token")))

    options = {"baseUrl": server.url + "/v1", "wsUrl": server.ws_url + "/v1/ws"}
    return Rig("paradex", server, options, dict(ENV), refuse)


def _backpack(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_backpack_client import ENV, BackpackVenue

    BackpackVenue(server)

    def refuse(rig: Rig) -> None:
        reply = Reply(401, load_fixture("backpack", "error_signature"))
        _reroute(rig.server, "GET", "/api/v1/capital/collateral", reply)

    return Rig("backpack", server, {"baseUrl": server.url, "wsUrl": server.ws_url + "/"}, dict(ENV), refuse)


def _aster(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_aster_grid_session import ENV, AsterVenue

    AsterVenue(server)  # verifies every HMAC signature

    def refuse(rig: Rig) -> None:
        reply = Reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
        _reroute(rig.server, "GET", "/fapi/v4/account", reply)

    return Rig("aster", server, {"baseUrl": server.url, "wsUrl": server.ws_url}, dict(ENV), refuse)


def _hyperliquid(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_hyperliquid_client import ENV, HyperliquidVenue

    venue = HyperliquidVenue(server)  # recovers the signer of every action

    def refuse(rig: Rig) -> None:  # the venue does not know the API wallet (never approved, or revoked)
        venue.role = load_fixture("hyperliquid", "user_role_missing")

    options = {"baseUrl": server.url, "wsUrl": server.ws_url + "/ws"}
    return Rig("hyperliquid", server, options, dict(ENV), refuse)


def _extended(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_extended_client import ENV, ExtendedVenue, options

    venue = ExtendedVenue(server)  # verifies every order's Stark signature and the API key header

    def refuse(rig: Rig) -> None:  # the API key's sub-account has another Stark key (or the key was revoked)
        venue.account["data"]["l2Key"] = "0x" + "5" * 63

    return Rig("extended", server, options(server), dict(ENV), refuse)


def _ethereal(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_ethereal_client import ENV, LINKED_KEY, EtherealVenue, options

    venue = EtherealVenue(server)  # recovers the signer of every order and cancel

    def refuse(rig: Rig) -> None:  # the linked signer the bot trades with was revoked
        venue.linked_status = "REVOKED"

    return Rig("ethereal", server, options(server), {**ENV, "ETHEREAL_PRIVATE_KEY": LINKED_KEY}, refuse)


def _nado(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_nado_client import ENV, NadoVenue, options

    venue = NadoVenue(server)  # recovers the signer of every order, cancel and stream authentication

    def refuse(rig: Rig) -> None:  # the subaccount the key names does not exist (wrong name, or no deposit yet)
        venue.subaccount_exists = False

    return Rig("nado", server, options(server), dict(ENV), refuse)


def _apex(server: ReplayServer) -> Rig:
    from tests.unit.exchanges.test_apex_client import ENV, ApexVenue, options

    venue = ApexVenue(server)  # checks every request's APEX-SIGNATURE and every order's zkLink signature

    def refuse(rig: Rig) -> None:  # the API key was deleted or its secret is wrong: "apikey sign error"
        venue.refuse_key = True

    return Rig("apex", server, options(server), dict(ENV), refuse)


BUILDERS: dict[str, Callable[[ReplayServer], Rig]] = {
    "lighter": _lighter,
    "grvt": _grvt,
    "edgex": _edgex,
    "paradex": _paradex,
    "backpack": _backpack,
    "aster": _aster,
    "hyperliquid": _hyperliquid,
    "extended": _extended,
    "ethereal": _ethereal,
    "nado": _nado,
    "apex": _apex,
}


@asynccontextmanager
async def venue_rig(name: str) -> AsyncIterator[Rig]:
    async with ReplayServer() as server:
        yield BUILDERS[name](server)
