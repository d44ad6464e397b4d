"""Aster's V3 API (EIP-712 signed by an API wallet), chosen by the keys the Secret holds; V1 stays for old keys.

The signature is checked against Aster's own published material (github.com/asterdex/api-docs,
``V3(Recommended)/EN/aster-finance-futures-api-v3.md``, "Example of POST /fapi/v3/order"): its demo ``user``,
``signer`` and ``privateKey`` values, its printed microsecond nonce, its order parameters, and its typed data and
signing recipe (written out again below from the doc, not imported from our code)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

pytest.importorskip("eth_account")

from eth_account import Account
from eth_account.messages import encode_typed_data

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.aster.client import signer_from_env
from bot_runtime.exchanges.aster.signing import Eip712Signer, HmacSigner
from bot_runtime.exchanges.base import CredentialsError, Exchange, OrderRequest, OrderStatus, Side, TimeInForce
from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture

# the doc's demo values ("for demonstration purposes only (the privateKey corresponds to the signer)")
DOC_USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
DOC_SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
DOC_PRIVATE_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
DOC_NONCE = 1748310859508867  # the doc's printed `math.trunc(time.time()*1000000)`
DOC_ORDER = {
    "symbol": "ASTERUSDT",
    "type": "LIMIT",
    "side": "BUY",
    "timeInForce": "GTC",
    "quantity": "20",
    "price": "0.5",
}
DOC_TYPED_DATA: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Message": [{"name": "msg", "type": "string"}],
    },
    "primaryType": "Message",
    "domain": {
        "name": "AsterSignTransaction",
        "version": "1",
        "chainId": 1666,
        "verifyingContract": "0x0000000000000000000000000000000000000000",
    },
    "message": {"msg": "$msg"},
}
V3_ENV = {"ASTER_USER": DOC_USER, "ASTER_SIGNER": DOC_SIGNER, "ASTER_SIGNER_PRIVATE_KEY": DOC_PRIVATE_KEY}
V1_ENV = {"ASTER_API_KEY": "aster-test-api-key-0123456789", "ASTER_SECRET_KEY": "aster-test-secret-9876543210"}
LISTEN_KEY = load_fixture("aster", "listen_key")["listenKey"]


def doc_signature(msg: str) -> str:
    """The doc's recipe: typed_data['message']['msg'] = param; Account.sign_message(encode(...), private_key)."""
    typed = {**DOC_TYPED_DATA, "message": {"msg": msg}}
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=DOC_PRIVATE_KEY)
    return "0x" + bytes(signed.signature).hex().removeprefix("0x")


def recover(msg: str, signature: str) -> str:
    typed = {**DOC_TYPED_DATA, "message": {"msg": msg}}
    return str(Account.recover_message(encode_typed_data(full_message=typed), signature=signature))


def test_the_documented_private_key_is_the_documented_signer() -> None:
    assert Eip712Signer(DOC_USER, DOC_SIGNER, DOC_PRIVATE_KEY).address == DOC_SIGNER


def test_signature_of_the_documented_order_is_the_docs_own() -> None:
    """The documented order with the documented nonce: our request string is the doc's ``urlencode(my_dict)``
    (params, then nonce, user, signer, as its noop demo adds them), and our signature is byte-for-byte what the
    doc's recipe gives with its demo key, and recovers to its demo signer."""
    signer = Eip712Signer(DOC_USER, DOC_SIGNER, DOC_PRIVATE_KEY)
    sent = signer.signed_params(DOC_ORDER, nonce=DOC_NONCE)
    payload, signature = sent.rsplit("&signature=", 1)
    assert payload == urlencode({**DOC_ORDER, "nonce": str(DOC_NONCE), "user": DOC_USER, "signer": DOC_SIGNER})
    assert signature == doc_signature(payload)
    assert len(signature) == 132 and recover(payload, signature) == DOC_SIGNER
    # any other string (a changed price) does not verify as the signer
    assert recover(payload.replace("price=0.5", "price=0.6"), signature) != DOC_SIGNER


def test_nonces_are_microseconds_and_never_repeat() -> None:
    signer = Eip712Signer(DOC_USER, DOC_SIGNER, DOC_PRIVATE_KEY)
    nonces = [int(dict(parse_qsl(signer.signed_params({})))["nonce"]) for _ in range(50)]
    assert len(set(nonces)) == 50 and nonces == sorted(nonces)
    assert abs(nonces[0] - time.time() * 1_000_000) < 10_000_000  # within Aster's 10 s window


# --- which API the Secret selects ---------------------------------------------------------------------------------


def test_the_secret_selects_the_api() -> None:
    assert isinstance(signer_from_env("aster", V3_ENV, 5000), Eip712Signer)
    assert isinstance(signer_from_env("aster", V1_ENV, 5000), HmacSigner)
    assert isinstance(signer_from_env("aster", {**V1_ENV, **V3_ENV}, 5000), Eip712Signer)  # V3 wins


@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({"ASTER_USER": DOC_USER}, ["ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY"]),
        ({**V3_ENV, "ASTER_SIGNER_PRIVATE_KEY": "your_private_key_here"}, ["ASTER_SIGNER_PRIVATE_KEY"]),
        ({**V3_ENV, "ASTER_USER": "0x1234"}, ["ASTER_USER"]),
        ({**V3_ENV, "ASTER_SIGNER_PRIVATE_KEY": "0x" + "11" * 32}, ["ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY"]),
        ({**V3_ENV, "ASTER_SIGNER_PRIVATE_KEY": "0xnothex"}, ["ASTER_SIGNER_PRIVATE_KEY"]),
        (
            {},
            ["ASTER_USER", "ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY", "ASTER_API_KEY", "ASTER_SECRET_KEY"],
        ),
    ],
)
def test_incomplete_or_wrong_v3_keys_are_named_never_shown(env: dict[str, str], keys: list[str]) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("aster", {}, env)
    assert caught.value.keys == keys
    assert DOC_PRIVATE_KEY[2:] not in str(caught.value) and "11" * 32 not in str(caught.value)


# --- the V3 client against a replay venue that checks every signature -----------------------------------------


def assert_v3_signed(request: RecordedRequest) -> dict[str, str]:
    """The request carries nonce (µs, fresh), user, signer and a last ``signature`` that recovers to the signer
    over exactly the string sent; no API-key header, no V1 recvWindow/timestamp."""
    raw = request.body.decode() if request.method in {"POST", "PUT"} else urlencode(request.query)
    payload, signature = raw.rsplit("&signature=", 1)
    assert recover(payload, signature) == DOC_SIGNER
    params = dict(parse_qsl(payload))
    assert (params["user"], params["signer"]) == (DOC_USER, DOC_SIGNER)
    assert abs(int(params["nonce"]) - time.time() * 1_000_000) < 10_000_000
    assert request.header("X-MBX-APIKEY") is None and "recvWindow" not in params and "timestamp" not in params
    return params


def v3_only(reply: Any) -> Any:
    def respond(request: RecordedRequest) -> Any:
        try:
            assert_v3_signed(request)
        except AssertionError:
            return Reply(401, {"code": -1022, "msg": "Signature for this request is not valid."})
        return reply

    return respond


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/fapi/v1/exchangeInfo", load_fixture("aster", "exchange_info"))
        server.route("GET", "/fapi/v3/accountWithJoinMargin", v3_only(load_fixture("aster", "account_v4")))
        server.route("GET", "/fapi/v3/openOrders", v3_only([]))
        server.route("POST", "/fapi/v3/listenKey", v3_only(load_fixture("aster", "listen_key")))
        server.route("PUT", "/fapi/v3/listenKey", v3_only({}))
        server.route("POST", "/fapi/v3/order", v3_only(load_fixture("aster", "order_new_gtx")))
        server.websocket(f"/ws/{LISTEN_KEY}")
        yield server


@pytest.fixture
async def aster_v3(venue: ReplayServer) -> AsyncIterator[Exchange]:
    client = registry.create_exchange("aster", {"baseUrl": venue.url, "wsUrl": venue.ws_url}, V3_ENV)
    await client.connect()
    yield client
    await client.close()


async def test_v3_client_connects_and_places_a_post_only_order(aster_v3: Exchange, venue: ReplayServer) -> None:
    await venue.wait_for_request("POST", "/fapi/v3/listenKey")  # the user stream's listen key: V3, signed
    assert not venue.requests_to("GET", "/fapi/v4/account") and not venue.requests_to("POST", "/fapi/v1/listenKey")
    balance = await aster_v3.balance()
    assert balance.available > 0
    order = await aster_v3.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.0104"),
            price=Decimal("97012.37"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="grid-open-1",
        )
    )
    sent = assert_v3_signed(venue.requests_to("POST", "/fapi/v3/order")[-1])
    assert {k: v for k, v in sent.items() if k not in {"nonce", "user", "signer"}} == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.010",
        "timeInForce": "GTX",
        "price": "97012.3",
        "newClientOrderId": "grid-open-1",
        "newOrderRespType": "RESULT",
    }
    assert (order.order_id, order.status) == ("22542179", OrderStatus.OPEN)


async def test_v3_key_the_venue_does_not_accept_fails_at_connect(venue: ReplayServer) -> None:
    from bot_runtime.exchanges.base import AuthenticationError

    venue.route("GET", "/fapi/v3/accountWithJoinMargin", Reply(401, {"code": -1022, "msg": "Signature invalid"}))
    client = registry.create_exchange("aster", {"baseUrl": venue.url, "wsUrl": venue.ws_url}, V3_ENV)
    with pytest.raises(AuthenticationError):
        await client.connect()
    await client.close()


async def test_preflight_with_v3_keys(venue: ReplayServer) -> None:
    """``perpdex preflight``'s checks on a V3 Secret: the signed reads go to /fapi/v3 and verify as the API wallet;
    a venue refusing the signature fails the credentials check, naming no key material."""
    from bot_runtime.preflight.checks import PreflightRequest, preflight
    from bot_runtime.preflight.report import Outcome

    books = {row["symbol"]: row for row in load_fixture("aster", "book_ticker")}
    venue.route("GET", "/fapi/v1/ticker/bookTicker", lambda r: books[r.query["symbol"]])
    options = {"baseUrl": venue.url, "wsUrl": venue.ws_url}
    request = PreflightRequest(exchange="aster", ticker="BTC", quantity=Decimal("0.001"), max_orders=1)
    report = await preflight(request, options, V3_ENV)
    assert report.ok and report.check("credentials").outcome is Outcome.PASS, report.summary()
    assert venue.requests_to("GET", "/fapi/v3/accountWithJoinMargin")
    venue.clear_routes("GET", "/fapi/v3/accountWithJoinMargin")
    venue.route("GET", "/fapi/v3/accountWithJoinMargin", Reply(401, {"code": -1022, "msg": "Signature invalid"}))
    refused = await preflight(request, options, V3_ENV)
    assert refused.check("credentials").outcome is Outcome.FAIL and not refused.ok
    assert DOC_PRIVATE_KEY[2:] not in refused.summary()
