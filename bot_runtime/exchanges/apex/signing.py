"""ApeX Omni request and order signing, as the official SDK ``apexomni`` 3.4 does it, with the SDK's zkLink binding.

What the SDK does (``HttpPrivateSign.create_order_v3``, ``HttpPrivate.sign``) and what runs here:

* **Order signature**: a zkLink ``Contract`` transaction signed with the account's zk seeds (``ZkLinkSigner
  .new_from_seed(seeds).sign_musig(tx.get_bytes())``) - the SDK's own Rust binding (``apexomni/<platform>/zklink_sdk``,
  a uniffi/ctypes module) does the cryptography. Its inputs are computed exactly as ``create_order_v3`` computes them:
  ``nonce`` and ``slotId`` from sha256(clientId), the account id mod 2^32 - 1, price and size scaled by the settle
  asset's decimals (rounded down), the taker/maker fee rates x 10000 (rounded up); ``limitFee`` = size x price x taker
  fee rate (rounded up for buys, down for sells, then up to 6 decimals); ``expiration`` = (now + 28 days) in ms. The
  body is the SDK's ``POST /api/v3/order`` dict, key for key.
* **Request signature** (``APEX-SIGNATURE``): base64(HMAC-SHA256(key = base64(api secret), timestamp + METHOD + path
  + the body's non-null items sorted by key as ``k=v`` joined with ``&``)).

Why not call ``create_order_v3`` itself: the SDK pins sympy==1.6, mpmath==1.0.0, ecdsa==0.16.0 and web3==6.0.0 (for
its StarkEx "pro" code), which the other venues' SDKs rule out; under the versions the project keeps (pyproject's
override-dependencies) the SDK's package ``__init__`` fails to import (``from sympy.core.numbers import igcdex``), and
with its own pins it imports sympy, mpmath and web3 (seconds) before any order. So the package is registered without
its ``__init__`` and only the zkLink binding is imported. ``tests/unit/exchanges/test_apex_signing.py`` proves the
result equals, body and signature, what ``create_order_v3`` / ``HttpPrivate.sign`` produce in an environment with
exactly the SDK's pins (``tests/fixtures/exchanges/apex/sdk_vectors.json``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Context, Decimal
from typing import Any

from bot_runtime.exchanges._shared.sdk_imports import package_without_init

SDK_PACKAGE = "apexomni"
MAX_UINT32 = 2**32 - 1  # numpy's iinfo(uint32).max, as create_order_v3 uses it
MAX_UINT64 = 2**64 - 1
EXPIRY_SECONDS = 3600 * 24 * 28  # create_order_v3: timestampSeconds + 28 days
_ROUND_UP = Context(rounding=ROUND_UP)  # apexomni.starkex.order.DECIMAL_CONTEXT_ROUND_UP
_ROUND_DOWN = Context(rounding=ROUND_DOWN)  # ... DECIMAL_CONTEXT_ROUND_DOWN
_BINDINGS = {  # apexomni.get_os_specific_module
    ("darwin", "x86_64"): "x86",
    ("darwin", "arm64"): "arm",
    ("linux", "x86_64"): "pc.linux_x86",
    ("linux", "arm64"): "pc.linux_arm",
    ("linux", "aarch64"): "pc.linux_arm",
    ("windows", "amd64"): "pc",
}


def zklink() -> Any:
    """The SDK's zkLink binding for this platform, imported without the SDK's package ``__init__``."""
    package_without_init(SDK_PACKAGE)
    key = (platform.system().lower(), platform.machine().lower())
    if key not in _BINDINGS:
        raise RuntimeError(f"apexomni ships no zkLink binding for {key[0]}/{key[1]}")
    return importlib.import_module(f"{SDK_PACKAGE}.{_BINDINGS[key]}.zklink_sdk")


@dataclass(frozen=True)
class Contract:
    """What an order needs of ``/api/v3/symbols`` (``contractConfig.perpetualContract[]``) and its settle asset."""

    symbol: str
    l2_pair_id: int
    tick_size: Decimal
    settle_decimals: int


def _scaled(value: Decimal, decimals: int) -> Decimal:
    return (value * Decimal(10) ** Decimal(decimals)).quantize(Decimal(0), rounding=ROUND_DOWN)


def limit_fee(side: str, price: Decimal, size: Decimal, taker_fee_rate: Decimal) -> Decimal:
    if side == "BUY":
        fee = _ROUND_UP.multiply(_ROUND_UP.multiply(size, price), taker_fee_rate)
    else:
        fee = _ROUND_DOWN.multiply(_ROUND_DOWN.multiply(size, price), taker_fee_rate)
    return _ROUND_UP.quantize(fee, Decimal("0.000001"))


class OrderSigner:
    """Signs Omni orders for one account with its zk seeds (held only here and inside the binding's signer)."""

    def __init__(self, zk_seeds: str, account_id: str) -> None:
        sdk = zklink()
        self._sdk = sdk
        self._signer = sdk.ZkLinkSigner().new_from_seed(bytes.fromhex(zk_seeds.removeprefix("0x")))
        self._account = int(account_id, 10) % MAX_UINT32

    def signature(
        self,
        contract: Contract,
        *,
        side: str,
        price: Decimal,
        size: Decimal,
        client_id: str,
        taker_fee_rate: Decimal,
        maker_fee_rate: Decimal,
    ) -> str:
        nonce_int = int(hashlib.sha256(client_id.encode()).hexdigest(), 16)
        slot_id = int((nonce_int % MAX_UINT64) / MAX_UINT32)  # a float division, as the SDK's
        nonce = nonce_int % MAX_UINT32
        taker = (taker_fee_rate * Decimal(10000)).quantize(Decimal(0), rounding=ROUND_UP)
        maker = (maker_fee_rate * Decimal(10000)).quantize(Decimal(0), rounding=ROUND_UP)
        builder = self._sdk.ContractBuilder(
            self._account,
            0,  # subAccountId: create_order_v3 always signs for sub-account 0
            slot_id,
            nonce,
            contract.l2_pair_id,
            str(_scaled(size, contract.settle_decimals)),
            str(_scaled(price, contract.settle_decimals)),
            side == "BUY",
            int(taker),
            int(maker),
            False,
        )
        return str(self._signer.sign_musig(self._sdk.Contract(builder).get_bytes()).signature)

    def order_body(
        self,
        contract: Contract,
        *,
        side: str,
        order_type: str,
        price: Decimal,
        size: Decimal,
        time_in_force: str,
        reduce_only: bool,
        client_id: str,
        taker_fee_rate: Decimal,
        maker_fee_rate: Decimal,
        timestamp_seconds: int,
    ) -> dict[str, Any]:
        """The SDK's ``POST /api/v3/order`` body for a plain order (no trigger, no attached TP/SL)."""
        if price % contract.tick_size != 0:
            raise ValueError(f"the price {price} is not a multiple of {contract.symbol}'s tick {contract.tick_size}")
        signature = self.signature(
            contract,
            side=side,
            price=price,
            size=size,
            client_id=client_id,
            taker_fee_rate=taker_fee_rate,
            maker_fee_rate=maker_fee_rate,
        )
        expiration = (timestamp_seconds + EXPIRY_SECONDS) * 1000
        body: dict[str, Any] = {
            "symbol": contract.symbol,
            "side": side,
            "type": order_type,
            "timeInForce": time_in_force,
            "size": str(size),
            "price": str(price),
            "limitFee": str(limit_fee(side, price, size, taker_fee_rate)),
            "expiration": expiration,
            "triggerPrice": None,
            "triggerPriceType": None,
            "trailingPercent": None,
            "clientId": client_id,
            "signature": signature,
            "reduceOnly": reduce_only,
            "isPositionTpsl": False,
            "isOpenTpslOrder": False,
            "isSetOpenSl": False,
            "isSetOpenTp": False,
        }
        for prefix in ("sl", "tp"):  # the SDK sends these unset fields too (its *LimitFee as the string "None")
            body.update(
                {
                    f"{prefix}ClientOrderId": None,
                    f"{prefix}Price": None,
                    f"{prefix}Side": None,
                    f"{prefix}Size": None,
                    f"{prefix}TriggerPrice": None,
                    f"{prefix}TriggerPriceType": None,
                    f"{prefix}Expiration": None,
                    f"{prefix}LimitFee": "None",
                    f"{prefix}Signature": None,
                }
            )
        body.update({"sourceFlag": None, "brokerId": None})
        return body


def request_signature(secret: str, request_path: str, method: str, iso_timestamp: str, data: Mapping[str, Any]) -> str:
    """``APEX-SIGNATURE`` of a private request (``HttpPrivate.sign``)."""
    items = sorted(data.items(), key=lambda item: item[0])
    data_string = "&".join(f"{key}={value}" for key, value in items if value is not None)
    message = iso_timestamp + method.upper() + request_path + data_string
    key = base64.standard_b64encode(secret.encode("utf-8"))
    digest = hmac.new(key, msg=message.encode("utf-8"), digestmod=hashlib.sha256).digest()
    return base64.standard_b64encode(digest).decode()
