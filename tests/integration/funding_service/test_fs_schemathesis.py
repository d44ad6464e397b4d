"""schemathesis against the published OpenAPI schema, on a real uvicorn + real PostgreSQL with data in it:
no 500s, every status code documented, every body and content type as the schema says, invalid input rejected.

Bounded: a fixed number of examples per operation, derandomised, so it runs in seconds and the same way every time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from funding_service.app import create_app
from tests.integration.funding_service.fs_helpers import AUTH, batch, make_settings, rate

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.negative_data_rejection,
]


class LiveServer:
    def __init__(self, dsn: str) -> None:
        config = uvicorn.Config(
            create_app(make_settings(dsn, latest_cache_seconds=1)),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), name="fs-uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def live_url(fs_dsn: str) -> Iterator[str]:
    with LiveServer(fs_dsn) as url:
        now = datetime.now(UTC)
        rows = [
            rate(
                "lighter",
                "BTC",
                "0.00001",
                "1",
                now,
                mark_price="60000",
                open_interest_usd="1000000",
                volume_24h_usd="5000000",
                best_bid="59990",
                best_ask="60010",
            ),
            rate(
                "aster",
                "BTC",
                "0.0004",
                "8",
                now,
                venue_symbol="BTCUSDT",
                mark_price="60030",
                open_interest_usd="2000000",
                volume_24h_usd="9000000",
                next_funding_time=now + timedelta(hours=1),
            ),
            rate("grvt", "BTC", "-0.0008", "8", now, venue_symbol="BTC_USDT_Perp"),
            rate("paper-a", "ETH", "0.00002", "1", now),
            rate("backpack", "ETH", "0.00004", "1", now, venue_symbol="ETH_USDC_PERP"),
        ]
        for hours in (48, 24, 0):
            at = now - timedelta(hours=hours)
            r = httpx.post(
                f"{url}/api/v1/ingest/funding-rates",
                json=batch(f"st-{hours}", rows if hours == 0 else [rate("aster", "BTC", "0.0002", "8", at)], at),
                headers=AUTH,
                timeout=30,
            )
            assert r.status_code == 200, r.text
        yield url


# the schema is static: built from the app itself (creating the app opens no connection), checked against the live one
schema = schemathesis.openapi.from_dict(create_app(make_settings("postgresql://unused@127.0.0.1:1/unused")).openapi())


def test_live_schema_is_the_one_tested(live_url: str) -> None:
    live = httpx.get(f"{live_url}/api/v1/openapi.json", timeout=30).json()
    assert live == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, live_url: str) -> None:
    headers = AUTH if case.path.endswith("/ingest/funding-rates") else None  # exercise the body, not only the 401
    case.call_and_validate(base_url=live_url, headers=headers, checks=CHECKS, timeout=30)
