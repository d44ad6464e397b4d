"""Paradex's Starknet signing, on the official SDKs, importing only the modules it needs.

What is signed, and by which SDK code:

* the typed data: paradex-py's ``paradex_py.message`` builders (``build_order_message``, ``build_auth_message``,
  ``build_onboarding_message``) and its ``paradex_py.common.order.Order`` (body and chain quantities);
* the message hash: starknet-py's ``TypedData.message_hash`` (what ``paradex_py.account.utils.typed_data_to_message_hash``
  calls);
* the signature and the public key: ``starknet_crypto_py`` (Paradex's Rust binding, what
  ``paradex_py.account.utils.message_signature`` / ``private_to_stark_key`` call, seed 32 as there);
* the account address: starknet-py's ``compute_address`` with the calldata of
  ``paradex_py.account.utils.derive_l2_address_starknet`` (Paradex's account proxy, ``initialize(public_key, 0)``).

Why not ``paradex_py.Paradex`` / ``ParadexAccount``: importing them loads the whole SDK (the Starknet full-node client,
aiohttp, the contract and ABI machinery, eth-account, ledgereth, the WebSocket client), about 5 s and 90 MB on top
of the bot, which is over the bot's start-up and memory budget (issue 12). Two import costs are avoided here:

* ``paradex_py/__init__.py`` imports every client class;
  :func:`~bot_runtime.exchanges._shared.sdk_imports.package_without_init` registers the package so that its
  submodules import alone, and runs the real ``__init__`` the first time anything reads an attribute of the package
  itself (``from paradex_py import Paradex`` still works, in this process too);
* ``crypto_cpp_py.utils`` (under ``starknet_py.hash.utils``) imports all of sympy (about 3 s, 47 MB) for one
  function, ``igcdex``, that only its C-library ``cpp_sign`` path calls; Paradex signs with ``starknet_crypto_py``
  instead. :func:`_crypto_cpp_without_sympy` gives that module a forwarder that imports sympy's real ``igcdex`` on
  first use, so nothing changes except when sympy is loaded.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import importlib.util
import json
import sys
import threading
import time
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bot_runtime.exchanges._shared.sdk_imports import package_without_init

SDK_PACKAGE = "paradex_py"
AUTH_LIFETIME_SECONDS = 24 * 60 * 60  # as paradex-py's ParadexAccount.auth_headers
_SIGNATURE_SEED = 32  # as paradex-py's message_signature


@contextlib.contextmanager
def _crypto_cpp_without_sympy() -> Iterator[None]:
    """While ``crypto_cpp_py.utils`` is imported, ``sympy.core.intfunc`` is a stand-in whose ``igcdex`` imports and
    calls sympy's on first use. The stand-in is removed right after, so a later ``import sympy`` is the real one."""
    name = "sympy.core.intfunc"
    if "crypto_cpp_py.utils" in sys.modules or name in sys.modules:
        yield
        return

    def igcdex(*args: Any, **kwargs: Any) -> Any:
        real = importlib.import_module(name)
        return real.igcdex(*args, **kwargs)

    stand_in = types.ModuleType(name, "stand-in while crypto_cpp_py.utils imports (bot_runtime.exchanges.paradex)")
    stand_in.__dict__["igcdex"] = igcdex
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


@dataclass(frozen=True)
class _Sdk:
    """The SDK callables the adapter uses (imported once, by :func:`sdk`)."""

    order_cls: Any
    order_side: Any
    order_type: Any
    build_order_message: Any
    build_auth_message: Any
    build_onboarding_message: Any
    typed_data_from_dict: Any
    compute_address: Any
    get_selector_from_name: Any
    get_public_key: Any
    sign: Any


_IMPORT_LOCK = threading.Lock()  # clients of several accounts may connect at once, each in a worker thread


@functools.cache
def sdk() -> _Sdk:
    """Import the SDK modules the adapter signs with (the first call takes the import time, about 1-2 s)."""
    with _IMPORT_LOCK:
        package_without_init(SDK_PACKAGE)
        with _crypto_cpp_without_sympy():
            importlib.import_module("crypto_cpp_py.utils")  # the module that would import sympy
    from paradex_py.common.order import Order, OrderSide, OrderType
    from paradex_py.message.auth import build_auth_message
    from paradex_py.message.onboarding import build_onboarding_message
    from paradex_py.message.order import build_order_message
    from starknet_crypto_py import get_public_key, sign
    from starknet_py.hash.address import compute_address
    from starknet_py.hash.selector import get_selector_from_name
    from starknet_py.utils.typed_data import TypedData

    return _Sdk(
        order_cls=Order,
        order_side=OrderSide,
        order_type=OrderType,
        build_order_message=build_order_message,
        build_auth_message=build_auth_message,
        build_onboarding_message=build_onboarding_message,
        typed_data_from_dict=TypedData.from_dict,
        compute_address=compute_address,
        get_selector_from_name=get_selector_from_name,
        get_public_key=get_public_key,
        sign=sign,
    )


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (not verified: only used to refresh it in time), ``None`` if it has none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


class ParadexSigner:
    """One account's L2 key: its public key and address, and the signed headers/bodies Paradex asks for.

    The key stays in this object; nothing here logs or formats it."""

    def __init__(self, system_config: Mapping[str, Any], l2_private_key: str) -> None:
        self._sdk = sdk()
        self._private_key = int(l2_private_key, 16)
        self.public_key: int = int(self._sdk.get_public_key(self._private_key))
        self.chain_id = int.from_bytes(str(system_config["starknet_chain_id"]).encode(), "big")
        self.address = self._derive_address(system_config)

    def __repr__(self) -> str:
        return f"ParadexSigner(address={hex(self.address)})"

    def _derive_address(self, config: Mapping[str, Any]) -> int:
        calldata = [
            int(str(config["paraclear_account_hash"]), 16),
            self._sdk.get_selector_from_name("initialize"),
            2,
            self.public_key,
            0,
        ]
        address = self._sdk.compute_address(
            class_hash=int(str(config["paraclear_account_proxy_hash"]), 16),
            constructor_calldata=calldata,
            salt=self.public_key,
        )
        return int(address)

    def _sign(self, typed_data: Any) -> str:
        message_hash = self._sdk.typed_data_from_dict(typed_data).message_hash(self.address)
        r, s = self._sdk.sign(private_key=self._private_key, msg_hash=message_hash, seed=_SIGNATURE_SEED)
        return f'["{r}","{s}"]'

    def auth_headers(self, now: float | None = None) -> dict[str, str]:
        timestamp = int(time.time() if now is None else now)
        expiry = timestamp + AUTH_LIFETIME_SECONDS
        return {
            "PARADEX-STARKNET-ACCOUNT": hex(self.address),
            "PARADEX-STARKNET-SIGNATURE": self._sign(self._sdk.build_auth_message(self.chain_id, timestamp, expiry)),
            "PARADEX-TIMESTAMP": str(timestamp),
            "PARADEX-SIGNATURE-EXPIRATION": str(expiry),
        }

    def onboarding_headers(self, l1_address: str) -> dict[str, str]:
        return {
            "PARADEX-ETHEREUM-ACCOUNT": l1_address,
            "PARADEX-STARKNET-ACCOUNT": hex(self.address),
            "PARADEX-STARKNET-SIGNATURE": self._sign(self._sdk.build_onboarding_message(self.chain_id)),
        }

    def signed_order(self, order: Any) -> dict[str, Any]:
        """The ``POST /orders`` body of a ``paradex_py.common.order.Order``, signed (what ``submit_order`` sends)."""
        order.signature = self._sign(self._sdk.build_order_message(self.chain_id, order))
        body: dict[str, Any] = order.dump_to_dict()
        return body
