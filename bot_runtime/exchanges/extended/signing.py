"""Order signing with the official SDK's own functions, and nothing else of it: ``x10.signing.order_object``'s
``create_order_object`` (the Stark amounts and rounding, the SNIP-12 order hash of ``fast_stark_crypto``, the
signature of ``StarkPerpetualAccount.sign``) builds the ``NewOrderModel`` that ``POST /user/order`` takes, and
``x10.config`` names the Starknet domain of each network. These modules import pydantic, ``fast_stark_crypto`` and
the SDK's models only (~0.14 s, ~10 MB); the SDK's clients (aiohttp, its websockets stream, tenacity) are never
imported in a pod.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.extended.config import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV, ExtendedCredentials

if TYPE_CHECKING:
    from x10.models.market import MarketModel


class OrderSigner:
    """The sub-account's Stark key (inside the SDK's account object, never in a repr) and the network's domain."""

    def __init__(self, credentials: ExtendedCredentials, *, is_mainnet: bool, name: str = "extended") -> None:
        from fast_stark_crypto import get_public_key
        from x10.config import MAINNET_CONFIG, TESTNET_CONFIG
        from x10.core.stark_account import StarkPerpetualAccount

        private_key = credentials.private_key.get_secret_value()
        try:
            derived = get_public_key(int(private_key, 16))
        except Exception:  # the library's message may quote the key: never pass it on
            raise CredentialsError(name, [PRIVATE_KEY_ENV], "is not a valid Stark private key") from None
        if derived != int(credentials.public_key, 16):
            raise CredentialsError(name, [PUBLIC_KEY_ENV, PRIVATE_KEY_ENV], "are not one key pair")
        self._account = StarkPerpetualAccount(
            vault=credentials.vault,
            private_key=private_key,
            public_key=credentials.public_key,
            api_key="",  # the API key travels in our own headers, not through the SDK
        )
        self.public_key = credentials.public_key
        self.vault = credentials.vault
        self.domain = (MAINNET_CONFIG if is_mainnet else TESTNET_CONFIG).signing.starknet_domain

    def __repr__(self) -> str:
        return f"OrderSigner(public_key={self.public_key}, vault={self.vault})"

    def signed_order(
        self,
        market: MarketModel,
        *,
        side: str,
        size: Decimal,
        price: Decimal,
        order_type: str,
        time_in_force: str,
        post_only: bool,
        reduce_only: bool,
        external_id: str,
        expire_time: datetime,
        taker_fee: Decimal,
        nonce: int | None = None,
    ) -> dict[str, Any]:
        """The JSON body of ``POST /user/order``, exactly as the SDK's ``place_order`` sends it
        (``NewOrderModel.to_api_request_json(exclude_none=True)``)."""
        from x10.models.order import OrderSide, OrderType, TimeInForce
        from x10.signing.order_object import create_order_object

        order = create_order_object(
            account=self._account,
            market=market,
            amount_of_synthetic=size,
            price=price,
            side=OrderSide(side),
            starknet_domain=self.domain,
            order_type=OrderType(order_type),
            post_only=post_only,
            expire_time=expire_time,
            order_external_id=external_id,
            time_in_force=TimeInForce(time_in_force),
            nonce=nonce,
            taker_fee=taker_fee,
            reduce_only=reduce_only,
        )
        body: dict[str, Any] = order.to_api_request_json(exclude_none=True)
        return body
