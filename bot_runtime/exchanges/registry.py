"""Which venues exist, where their code lives (imported lazily: a pod imports only its venue's SDK), and which
credential env vars each needs. The operator renders ``secretKeyRef`` env vars from :data:`VENUES`; the bot validates
them at start with :func:`require_credentials`.

Env var names are the original perp-dex-tools names, so ``kubectl create secret generic NAME --from-env-file=.env``
turns an existing ``.env`` into a working Secret.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.symbols import venue_family

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


@dataclass(frozen=True)
class VenueSpec:
    name: str
    module: str  # exports ``create_exchange(name, options, env)`` and ``create_funding_source(name, options)``
    required_env: tuple[str, ...] = ()
    optional_env: tuple[str, ...] = ()
    extra: str | None = None  # the pyproject extra that installs its SDK
    notes: str = ""
    sdk_modules: tuple[str, ...] = field(default=())
    # alternative complete credential sets (all optional for the operator), the first one the env holds is used
    credential_sets: tuple[tuple[str, ...], ...] = ()


VENUES: dict[str, VenueSpec] = {
    spec.name: spec
    for spec in (
        VenueSpec(
            "lighter",
            "bot_runtime.exchanges.lighter",
            required_env=("API_KEY_PRIVATE_KEY", "LIGHTER_ACCOUNT_INDEX", "LIGHTER_API_KEY_INDEX"),
            optional_env=("LIGHTER_BASE_URL", "LIGHTER_WS_URL", "LIGHTER_CHAIN_ID"),
            extra="lighter",
            sdk_modules=("lighter",),
        ),
        VenueSpec(
            "grvt",
            "bot_runtime.exchanges.grvt",
            required_env=("GRVT_TRADING_ACCOUNT_ID", "GRVT_PRIVATE_KEY", "GRVT_API_KEY"),
            optional_env=("GRVT_ENVIRONMENT", "GRVT_BASE_URL", "GRVT_WS_URL"),
            extra="grvt",
            sdk_modules=("pysdk",),
        ),
        VenueSpec(
            "edgex",
            "bot_runtime.exchanges.edgex",
            # EdgeX V2 (the only API of edgex-python-sdk >= 2) signs every private call with an API key triple
            # besides the account id and the signer key (the original's EDGEX_STARK_PRIVATE_KEY name, a V2 key now)
            required_env=(
                "EDGEX_ACCOUNT_ID",
                "EDGEX_STARK_PRIVATE_KEY",
                "EDGEX_API_KEY",
                "EDGEX_API_PASSPHRASE",
                "EDGEX_API_SECRET",
            ),
            optional_env=("EDGEX_BASE_URL", "EDGEX_WS_URL"),
            extra="edgex",
            sdk_modules=("edgex_sdk",),
        ),
        VenueSpec(
            "paradex",
            "bot_runtime.exchanges.paradex",
            required_env=("PARADEX_L1_ADDRESS", "PARADEX_L2_PRIVATE_KEY"),
            optional_env=("PARADEX_L2_ADDRESS", "PARADEX_ENVIRONMENT", "PARADEX_BASE_URL", "PARADEX_WS_URL"),
            extra="paradex",
            sdk_modules=("paradex_py",),
        ),
        VenueSpec(
            "backpack",
            "bot_runtime.exchanges.backpack",
            required_env=("BACKPACK_PUBLIC_KEY", "BACKPACK_SECRET_KEY"),
            optional_env=("BACKPACK_BASE_URL", "BACKPACK_WS_URL"),
            extra="backpack",
            sdk_modules=("bpx",),
        ),
        VenueSpec(
            "aster",
            "bot_runtime.exchanges.aster",
            # V3 (EIP-712 API wallet: new keys) or V1 (HMAC: keys created before V1 closed); the Secret decides
            optional_env=(
                "ASTER_USER",
                "ASTER_SIGNER",
                "ASTER_SIGNER_PRIVATE_KEY",
                "ASTER_API_KEY",
                "ASTER_SECRET_KEY",
                "ASTER_BASE_URL",
                "ASTER_WS_URL",
            ),
            credential_sets=(
                ("ASTER_USER", "ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY"),
                ("ASTER_API_KEY", "ASTER_SECRET_KEY"),
            ),
            extra="aster",
            sdk_modules=("eth_account",),
            notes="no official Python SDK: httpx + websockets on the documented Binance-USDⓈ-M-shaped API",
        ),
        VenueSpec(
            "hyperliquid",
            "bot_runtime.exchanges.hyperliquid",
            # as the SDK uses them: an API wallet (agent) key signs, the account address is whose orders they are
            required_env=("HYPERLIQUID_API_PRIVATE_KEY", "HYPERLIQUID_ACCOUNT_ADDRESS"),
            optional_env=("HYPERLIQUID_NETWORK", "HYPERLIQUID_BASE_URL", "HYPERLIQUID_WS_URL"),
            extra="hyperliquid",
            sdk_modules=("hyperliquid", "eth_account", "msgpack"),
        ),
        VenueSpec(
            "extended",
            "bot_runtime.exchanges.extended",
            # the original perp-dex-tools names: the sub-account's API key, its Stark key pair and vault
            required_env=(
                "EXTENDED_API_KEY",
                "EXTENDED_STARK_KEY_PRIVATE",
                "EXTENDED_STARK_KEY_PUBLIC",
                "EXTENDED_VAULT",
            ),
            optional_env=("EXTENDED_NETWORK", "EXTENDED_BASE_URL", "EXTENDED_WS_URL"),
            extra="extended",
            sdk_modules=("x10", "fast_stark_crypto"),
        ),
        VenueSpec(
            "ethereal",
            "bot_runtime.exchanges.ethereal",
            # as the SDK uses them: the key that signs (the account's, or a linked signer's) and the account that
            # owns the subaccount
            required_env=("ETHEREAL_PRIVATE_KEY", "ETHEREAL_ACCOUNT_ADDRESS"),
            optional_env=("ETHEREAL_SUBACCOUNT", "ETHEREAL_NETWORK", "ETHEREAL_BASE_URL", "ETHEREAL_WS_URL"),
            extra="ethereal",
            sdk_modules=("ethereal", "eth_account"),
        ),
        VenueSpec(
            "nado",
            "bot_runtime.exchanges.nado",
            # the key that signs (the wallet's, or a linked signer's); the owner when the key is a linked signer
            required_env=("NADO_PRIVATE_KEY",),
            optional_env=(
                "NADO_ACCOUNT_ADDRESS",
                "NADO_SUBACCOUNT_NAME",
                "NADO_NETWORK",
                "NADO_BASE_URL",
                "NADO_WS_URL",
                "NADO_INDEXER_URL",
            ),
            extra="nado",
            sdk_modules=("eth_account",),
            notes="nado-protocol cannot be imported under eth-account 0.13: its EIP-712 tables are written out",
        ),
        VenueSpec(
            "apex",
            "bot_runtime.exchanges.apex",
            # the API key triple (every private request and the stream's login) and the Omni key's seeds (orders)
            required_env=("APEX_API_KEY", "APEX_API_KEY_SECRET", "APEX_API_KEY_PASSPHRASE", "APEX_OMNI_KEY_SEED"),
            optional_env=("APEX_NETWORK", "APEX_BASE_URL", "APEX_WS_URL"),
            extra="apex",
            sdk_modules=("apexomni",),
            notes="apexomni cannot be imported under the project's pins: orders are signed with its zkLink binding",
        ),
        VenueSpec(
            "paper", "bot_runtime.exchanges.paper", notes="simulated venue; `paper-a`, `paper-b`, ... are named twins"
        ),
    )
}

NOTIFICATION_ENV: dict[str, tuple[str, ...]] = {
    "telegram": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"),
    "lark": ("LARK_TOKEN", "LARK_WEBHOOK_URL"),  # either one: a token or a full webhook address
}

_PLACEHOLDER = re.compile(r"^(your[_-].*|.*_here|changeme|change[_-]me|xxx+|<.*>|todo|placeholder|none|null)$", re.I)


def venue_spec(exchange: str) -> VenueSpec:
    family = venue_family(exchange)
    try:
        return VENUES[family]
    except KeyError:
        raise ValueError(f"unknown exchange {exchange!r}; known: {', '.join(sorted(VENUES))}") from None


def is_placeholder(value: str) -> bool:
    return not value.strip() or bool(_PLACEHOLDER.match(value.strip()))


def require_credentials(exchange: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the venue's credential env vars; raise :class:`CredentialsError` naming every missing, empty or
    placeholder key (never a value)."""
    env = os.environ if env is None else env
    spec = venue_spec(exchange)
    missing = [key for key in spec.required_env if is_placeholder(env.get(key, ""))]
    if missing:
        raise CredentialsError(exchange, missing, "missing, empty or a placeholder")
    if spec.credential_sets:
        credential_set(exchange, spec.credential_sets, env)
    return {key: env[key] for key in spec.required_env + spec.optional_env if key in env and env[key].strip()}


def credential_set(exchange: str, sets: tuple[tuple[str, ...], ...], env: Mapping[str, str]) -> tuple[str, ...]:
    """The first of ``sets`` whose every key the env holds (non-placeholder). Otherwise a :class:`CredentialsError`
    naming the missing keys of the set the env holds most of, or every key of every set when it holds none."""
    present = [[key for key in keys if not is_placeholder(env.get(key, ""))] for keys in sets]
    for keys, found in zip(sets, present, strict=True):
        if len(found) == len(keys):
            return keys
    best = max(range(len(sets)), key=lambda i: (len(present[i]), -i))
    if not present[best]:
        alternatives = " or ".join("(" + ", ".join(keys) + ")" for keys in sets)
        raise CredentialsError(exchange, [k for keys in sets for k in keys], f"missing: set one of {alternatives}")
    missing = [key for key in sets[best] if key not in present[best]]
    raise CredentialsError(exchange, missing, "missing, empty or a placeholder (the rest of that key set is given)")


class VenueModule(Protocol):
    def create_exchange(self, name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange: ...

    def create_funding_source(self, name: str, options: Mapping[str, Any]) -> FundingSource: ...


def load_venue(exchange: str) -> VenueModule:
    """Import the venue's module (and so its SDK) only now."""
    spec = venue_spec(exchange)
    try:
        module: Any = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in spec.sdk_modules:
            raise ImportError(
                f"{exchange}: its SDK ({exc.name}) is not installed; install the `{spec.extra}` extra"
            ) from exc
        raise
    return module  # type: ignore[no-any-return]


def create_exchange(
    exchange: str, options: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Exchange:
    """Build the trading client for ``exchange`` (credentials from ``env``, validated before any network call)."""
    env = os.environ if env is None else env
    if venue_family(exchange) != "paper":
        require_credentials(exchange, env)
    return load_venue(exchange).create_exchange(exchange, options or {}, env)


def create_funding_source(exchange: str, options: Mapping[str, Any] | None = None) -> FundingSource:
    return load_venue(exchange).create_funding_source(exchange, options or {})
