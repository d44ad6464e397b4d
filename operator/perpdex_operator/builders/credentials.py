"""Credentials reach a pod ONLY as ``secretKeyRef`` env vars: Secret names come from the CR, key names from the venue
registry (the original perp-dex-tools env var names). No Secret is ever read by the operator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges.registry import NOTIFICATION_ENV, VENUES
from bot_runtime.exchanges.symbols import venue_family
from perpdex_operator.builders import BuildError

# telegram needs both keys; lark takes either a token or a full webhook address, so both are optional
_OPTIONAL_NOTIFICATION_KEYS: dict[str, frozenset[str]] = {
    "telegram": frozenset(),
    "lark": frozenset(NOTIFICATION_ENV["lark"]),
}


def secret_env(name: str, secret: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def exchanges_used(spec: Mapping[str, Any]) -> list[str]:
    """grid: ``[spec.exchange]``; fundingArb: ``spec.fundingArb.exchanges``."""
    if spec.get("strategy") == "fundingArb":
        return list((spec.get("fundingArb") or {}).get("exchanges") or [])
    exchange = spec.get("exchange")
    return [exchange] if exchange else []


def venue_credential_env(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    credentials: Mapping[str, Any] = spec.get("credentials") or {}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for exchange in exchanges_used(spec):
        family = venue_family(exchange)
        venue = VENUES.get(family)
        if venue is None:
            raise BuildError(f"spec: unknown exchange {exchange!r}; known: {', '.join(sorted(VENUES))}")
        if not venue.required_env and not venue.optional_env:
            continue  # paper venues
        ref = credentials.get(exchange) or credentials.get(family)
        secret = (ref or {}).get("secretName")
        if not secret:
            raise BuildError(f"spec.credentials.{exchange} is required: the live exchange needs a Secret reference")
        for key in venue.required_env:
            if key not in seen:
                out.append(secret_env(key, secret, key))
                seen.add(key)
        for key in venue.optional_env:
            if key not in seen:
                out.append(secret_env(key, secret, key, optional=True))
                seen.add(key)
    return out


def notification_env(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    notifications: Mapping[str, Any] = spec.get("notifications") or {}
    out: list[dict[str, Any]] = []
    for channel, keys in NOTIFICATION_ENV.items():
        ref = notifications.get(channel)
        if not ref:
            continue
        secret = ref.get("secretName")
        if not secret:
            raise BuildError(f"spec.notifications.{channel}.secretName is required")
        optional = _OPTIONAL_NOTIFICATION_KEYS.get(channel, frozenset())
        out += [secret_env(key, secret, key, optional=key in optional) for key in keys]
    return out


def bot_secret_env(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every secret-backed env var of a bot pod: venue credentials, then notification channels."""
    return venue_credential_env(spec) + notification_env(spec)
