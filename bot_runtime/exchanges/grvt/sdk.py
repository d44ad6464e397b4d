"""The grvt-pysdk REST client, adapted (not forked):

* **Base URL**: the SDK has no parameter for it; every request path comes from
  ``pysdk.grvt_ccxt_env.get_grvt_endpoint_domains(env)``. :func:`use_base_url` installs (once) a wrapper around that
  lookup which returns one configured server for all three GRVT hosts (edge, trades, market-data) of an environment
  - the supported ``GRVT_BASE_URL`` option. Without an override the SDK's own table is used unchanged.
* **Errors**: ``GrvtCcxtPro._auth_and_post`` swallows HTTP errors (returns ``{}``); :class:`GrvtRest` overrides that one
  transport method to raise the contract's typed errors (status, GRVT error code/message, Retry-After, timeouts).
* **Login**: ``GrvtCcxtPro.__init__`` logs in with a *blocking* HTTP call when given an API key; :class:`GrvtRest`
  is constructed without the key and logs in with the SDK's async ``refresh_cookie`` instead.
* **Logs**: the SDK logs payloads, its session cookie and even the API key (``get_cookie_with_expiration_async``
  logs ``data={'api_key': ...}`` through the root logger) at INFO. :class:`SdkLogGuard` drops pysdk records below
  WARNING and scrubs secrets and cookies from the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import aiohttp
from pysdk import grvt_ccxt_env
from pysdk.grvt_ccxt_env import GrvtEndpointType, GrvtEnv
from pysdk.grvt_ccxt_pro import GrvtCcxtPro
from pysdk.grvt_ccxt_utils import EnumEncoder

from bot_runtime.exchanges._shared.http import parse_retry_after
from bot_runtime.exchanges._shared.redaction import (
    SecretRedactingFilter,
    install_redaction,
    quiet_loggers,
    remove_redaction,
)
from bot_runtime.exchanges.base import ExchangeError, TransientNetworkError
from bot_runtime.exchanges.grvt.errors import from_response

NAME = "grvt"
_ORIGINAL_DOMAINS = grvt_ccxt_env.get_grvt_endpoint_domains
_OVERRIDES: dict[str, str] = {}


def _domains(env_name: str) -> dict[GrvtEndpointType, str]:
    base = _OVERRIDES.get(env_name)
    if base is None:
        result: dict[GrvtEndpointType, str] = _ORIGINAL_DOMAINS(env_name)
        return result
    return dict.fromkeys(GrvtEndpointType, base)


def use_base_url(environment: str, base_url: str | None) -> None:
    """Route every GRVT REST host of ``environment`` to ``base_url`` (``None`` restores the SDK's hosts)."""
    if base_url:
        _OVERRIDES[environment] = base_url.rstrip("/")
    else:
        _OVERRIDES.pop(environment, None)
    if grvt_ccxt_env.get_grvt_endpoint_domains is not _domains:
        grvt_ccxt_env.get_grvt_endpoint_domains = _domains


_COOKIE_PATTERNS = (
    re.compile(r"(gravity[=:]\s*'?)[^;'\s,}]+"),
    re.compile(r"('gravity':\s*')[^']+"),
    re.compile(r"(cookie_value=')[^']+"),
)
_SDK_LOGGERS = ("bot_runtime.exchanges.grvt.sdk", "pysdk")


class SdkLogGuard(SecretRedactingFilter):
    """Drop pysdk log records below WARNING; scrub secrets and session cookies from the others."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(secrets, patterns=_COOKIE_PATTERNS)

    def filter(self, record: logging.LogRecord) -> bool:
        from_sdk = "pysdk" in record.pathname or record.name.startswith(("pysdk", "bot_runtime.exchanges.grvt.sdk"))
        if from_sdk and record.levelno < logging.WARNING:
            return False
        return super().filter(record)


def install_log_guard(secrets: Iterable[str]) -> SdkLogGuard:
    guard = SdkLogGuard(secrets)
    quiet_loggers(_SDK_LOGGERS[:1])
    install_redaction(guard, _SDK_LOGGERS)
    return guard


def remove_log_guard(guard: SdkLogGuard) -> None:
    remove_redaction(guard, _SDK_LOGGERS)


def _plain_decimals(payload: dict[str, Any]) -> None:
    """The SDK stringifies ``round(Decimal(0), 9)`` as ``"0E-9"`` (a market order's limit price): send positional
    notation instead. Only the strings change; the signature covers the scaled integers, which are the same."""
    order = payload.get("order")
    if not isinstance(order, dict):
        return
    for leg in order.get("legs") or []:
        for key in ("size", "limit_price"):
            value = leg.get(key)
            if isinstance(value, str) and ("E" in value or "e" in value):
                leg[key] = format(Decimal(value), "f")


class GrvtRest(GrvtCcxtPro):  # type: ignore[misc]
    """``GrvtCcxtPro`` with a typed-error transport and a non-blocking login."""

    def __init__(
        self,
        environment: str,
        *,
        trading_account_id: str | None = None,
        private_key: str = "",
        api_key: str = "",
        timeout: float = 10.0,
    ) -> None:
        params: dict[str, Any] = {}
        if trading_account_id:
            params = {"trading_account_id": trading_account_id, "private_key": private_key}
        sdk_logger = logging.getLogger(__name__)
        sdk_logger.setLevel(logging.WARNING)  # the SDK logs every payload at INFO
        super().__init__(GrvtEnv(environment), logger=sdk_logger, parameters=params)
        self._api_key = api_key  # set after construction: the login happens in login(), asynchronously
        self.request_timeout = timeout

    def __del__(self) -> None:  # the SDK's __del__ needs a running loop; close() already released the session
        return

    async def login(self) -> bool:
        """POST auth/api_key/login through the SDK; True when a session cookie was obtained."""
        await asyncio.wait_for(self.refresh_cookie(), self.request_timeout + 1)
        return bool(self._cookie)

    def cookie_headers(self) -> dict[str, str]:
        if not self._cookie:
            return {}
        headers = {"Cookie": f"gravity={self._cookie['gravity']}"}
        if self._cookie.get("X-Grvt-Account-Id"):
            headers["X-Grvt-Account-Id"] = str(self._cookie["X-Grvt-Account-Id"])
        return headers

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _auth_and_post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        await self.refresh_cookie()
        _plain_decimals(payload)
        body = json.dumps(payload, cls=EnumEncoder)
        try:
            async with self._session.post(
                url=path,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as response:
                status = response.status
                text = await response.text()
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            raise TransientNetworkError(f"{NAME}: {path.rsplit('/', 1)[-1]} timed out", exchange=NAME) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientNetworkError(
                f"{NAME}: {path.rsplit('/', 1)[-1]} failed: {type(exc).__name__}", exchange=NAME
            ) from None
        try:
            data: Any = json.loads(text) if text else {}
        except json.JSONDecodeError:
            if status < 400:  # never read an unparseable 200 as an empty answer
                raise ExchangeError(
                    f"{NAME}: {path.rsplit('/', 1)[-1]} answered HTTP {status} with a body that is not JSON",
                    exchange=NAME,
                ) from None
            data = {"message": text[:200]}
        if status >= 400 or (isinstance(data, dict) and "code" in data and "result" not in data):
            raise from_response(status, data if isinstance(data, dict) else {}, retry_after=retry_after)
        result: dict[str, Any] = data if isinstance(data, dict) else {"result": data}
        self._path_return_value_map[path] = result
        return result
