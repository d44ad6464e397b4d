"""Paradex authentication and signing imports: onboarding on ``NOT_ONBOARDED``, JWT renewal before it expires, and
the SDK modules a connected client loads (only the signing ones: not paradex-py's client classes, not sympy)."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import AuthenticationError, Exchange
from bot_runtime.exchanges.paradex.signing import jwt_expiry
from tests.support.replay import FIXTURES, RecordedRequest, ReplayServer, Reply, load_fixture

L2_KEY = hex(random.Random(13).randrange(1, 2**250))
L1_ADDRESS = "0x" + "ef" * 20
ENV = {"PARADEX_L1_ADDRESS": L1_ADDRESS, "PARADEX_L2_PRIVATE_KEY": L2_KEY, "PARADEX_ENVIRONMENT": "testnet"}


def fx(name: str) -> Any:
    return load_fixture("paradex", name)


def jwt(exp: float | None) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims: dict[str, Any] = {"sub": "replay"} | ({} if exp is None else {"exp": int(exp)})
    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


def rpc(conn: Any, message: Any) -> list[Any]:
    if not isinstance(message, dict) or "id" not in message:
        return []
    return [{"jsonrpc": "2.0", "result": {}, "id": message["id"]}]


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/v1/system/config", fx("system_config"))
        server.route("GET", "/v1/markets", fx("markets"))
        server.route("GET", "/v1/orders", {"results": []})
        server.websocket("/v1/ws", on_message=rpc)
        yield server


def options(venue: ReplayServer) -> dict[str, Any]:
    return {"baseUrl": venue.url + "/v1", "wsUrl": venue.ws_url + "/v1/ws", "reconnectInitialDelay": 0.01}


async def connected(venue: ReplayServer) -> Exchange:
    client = registry.create_exchange("paradex", options(venue), ENV)
    await client.connect()
    return client


def test_jwt_expiry() -> None:
    assert jwt_expiry(jwt(4102444800)) == 4102444800.0
    assert jwt_expiry(jwt(None)) is None
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None


async def test_an_account_not_onboarded_is_onboarded_then_authenticated(venue: ReplayServer) -> None:
    onboarded = False

    def auth(request: RecordedRequest) -> Any:
        if not onboarded:
            return Reply(400, {"error": "NOT_ONBOARDED", "message": "account not onboarded", "data": None})
        return fx("auth")

    def onboarding(request: RecordedRequest) -> Any:
        nonlocal onboarded
        onboarded = True
        return {}

    venue.route("POST", "/v1/auth/{public_key}", auth)
    venue.route("POST", "/v1/onboarding", onboarding)
    client = await connected(venue)
    try:
        [request] = venue.requests_to("POST", "/v1/onboarding")
        assert request.header("PARADEX-ETHEREUM-ACCOUNT") == L1_ADDRESS
        assert (request.header("PARADEX-STARKNET-SIGNATURE") or "").startswith('["')
        public_key = venue.requests_to("POST", "/v1/auth/{public_key}")[-1].path.rsplit("/", 1)[1]
        assert request.json() == {"public_key": public_key}
        assert len(venue.requests_to("POST", "/v1/auth/{public_key}")) == 2
    finally:
        await client.close()


async def test_other_auth_refusals_are_not_retried_with_onboarding(venue: ReplayServer) -> None:
    venue.route("POST", "/v1/auth/{public_key}", Reply(401, fx("error_invalid_token")))
    client = registry.create_exchange("paradex", options(venue), ENV)
    try:
        with pytest.raises(AuthenticationError) as caught:
            await client.connect()
        assert "INVALID_TOKEN" in str(caught.value) and L2_KEY[2:] not in str(caught.value)
        assert venue.requests_to("POST", "/v1/onboarding") == []
    finally:
        await client.close()


async def test_a_jwt_about_to_expire_is_renewed_before_a_private_call(venue: ReplayServer) -> None:
    # every token expires within the 30-s margin: each private call must fetch a fresh one first
    venue.route("POST", "/v1/auth/{public_key}", lambda request: {"jwt_token": jwt(time.time() + 10)})
    venue.route("GET", "/v1/positions", {"results": []})
    client = await connected(venue)
    try:
        before = len(venue.requests_to("POST", "/v1/auth/{public_key}"))
        await client.positions()
        await client.positions()
        assert len(venue.requests_to("POST", "/v1/auth/{public_key}")) >= before + 2
        bearer = venue.requests_to("GET", "/v1/positions")[-1].header("Authorization") or ""
        assert (jwt_expiry(bearer.removeprefix("Bearer ")) or 0) > time.time()
    finally:
        await client.close()


def test_a_connected_client_loads_only_the_signing_modules_of_the_sdk() -> None:
    """Signing needs a few modules of paradex-py and starknet-py: not the SDK's client classes (full-node client,
    WebSocket client, eth-account, ledger) and not sympy; ``from paradex_py import Paradex`` still works after."""
    code = (
        "import json, sys\n"
        "from bot_runtime.exchanges.paradex.signing import ParadexSigner\n"
        "config = json.load(open(sys.argv[1]))\n"
        f"signer = ParadexSigner(config, {L2_KEY!r})\n"
        "loaded = ['paradex_py.paradex', 'paradex_py.account.account', 'paradex_py.api.api_client',\n"
        "          'paradex_py.api.ws_client', 'starknet_py.net.full_node_client', 'ledgereth', 'sympy']\n"
        "print(sorted(m for m in loaded if m in sys.modules))\n"
        "from paradex_py import Paradex\n"
        "from paradex_py.account.utils import derive_l2_address_starknet\n"
        "from paradex_py.api.models import SystemConfigSchema\n"
        "from starknet_py.net.signer.key_pair import KeyPair\n"
        "raw = dict(config, starknet_fullnode_rpc_base_url='https://pathfinder.api.testnet.paradex.trade')\n"
        "public_key = KeyPair.from_private_key(int(sys.argv[2], 16)).public_key\n"
        "address = derive_l2_address_starknet(SystemConfigSchema().load(raw, unknown='exclude'), public_key)\n"
        "print(Paradex.__name__, signer.public_key == public_key, signer.address == address)\n"
        "import crypto_cpp_py.utils\n"  # sympy's igcdex, imported on first use: 3 * 5 = 1 mod 7
        "print('sympy' in sys.modules, crypto_cpp_py.utils.cpp_div_mod(1, 3, 7), 'sympy' in sys.modules)\n"
    )
    config = str(FIXTURES / "paradex" / "system_config.json")
    out = subprocess.run(
        [sys.executable, "-c", code, config, L2_KEY], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "Paradex True True", "False 5 True"]
