"""The client against a scripted transport: retries with backoff on 503/transient errors, Retry-After, error
mapping, bearer token, query encoding."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal as D

import httpx
import pytest

from bot_runtime.funding_api.client import FundingServiceClient, FundingServiceError, query
from bot_runtime.funding_api.ingest import IngestBatch

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EMPTY_OPPS = {
    "opportunities": [],
    "total_count": 0,
    "matched_count": 0,
    "stale_excluded": 0,
    "filters_applied": {},
    "generated_at": NOW.isoformat(),
}
INGESTED = {
    "cycle_id": "c1",
    "rates_received": 0,
    "rates_stored": 0,
    "latest_updated": 0,
    "exchanges_logged": 0,
    "dexes_registered": [],
    "opportunities_recorded": 0,
    "received_at": NOW.isoformat(),
}


def scripted(*responses: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), seen


def client(transport: httpx.MockTransport, token: str | None = None, retries: int = 3) -> FundingServiceClient:
    return FundingServiceClient("http://fs/", token=token, retries=retries, backoff=0.001, transport=transport)


def unavailable() -> httpx.Response:
    return httpx.Response(503, json={"error": "database_unavailable", "message": "down"}, headers={"Retry-After": "0"})


async def test_retries_503_then_succeeds() -> None:
    transport, seen = scripted(unavailable(), unavailable(), httpx.Response(200, json=EMPTY_OPPS))
    async with client(transport) as fs:
        page = await fs.opportunities(
            min_net_apr=D("0.15"), dexes=["lighter", "grvt"], hold_hours=72, include_stale=False
        )
    assert page.total_count == 0
    assert len(seen) == 3
    params = seen[-1].url.params
    assert params["min_net_apr"] == "0.15"
    assert params["dexes"] == "lighter,grvt"
    assert params["hold_hours"] == "72"
    assert params["include_stale"] == "false"
    assert seen[-1].url.path == "/api/v1/opportunities"


async def test_retries_transport_errors() -> None:
    transport, seen = scripted(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=EMPTY_OPPS)
    )
    async with client(transport) as fs:
        await fs.opportunities()
    assert len(seen) == 3


async def test_gives_up_after_retries() -> None:
    transport, seen = scripted(*(unavailable() for _ in range(3)))
    async with client(transport, retries=2) as fs:
        with pytest.raises(FundingServiceError) as err:
            await fs.opportunities()
    assert err.value.status == 503 and err.value.error == "database_unavailable" and err.value.retryable
    assert len(seen) == 3


async def test_does_not_retry_client_errors() -> None:
    body = {"error": "invalid_parameter", "message": "query parameter 'limit': too big", "parameter": "limit"}
    transport, seen = scripted(httpx.Response(422, json=body))
    async with client(transport) as fs:
        with pytest.raises(FundingServiceError) as err:
            await fs.opportunities(limit=1000)
    assert (err.value.status, err.value.parameter, err.value.retryable) == (422, "limit", False)
    assert "too big" in str(err.value)
    assert len(seen) == 1


async def test_ingest_sends_bearer_token_and_json() -> None:
    transport, seen = scripted(unavailable(), httpx.Response(200, json=INGESTED))
    batch = IngestBatch(cycle_id="c1", started_at=NOW, finished_at=NOW)
    async with client(transport, token="s3cret") as fs:
        result = await fs.ingest(batch)
    assert result.cycle_id == "c1"
    assert len(seen) == 2  # idempotent on the server: retried
    assert seen[-1].headers["authorization"] == "Bearer s3cret"
    assert json.loads(seen[-1].content)["cycle_id"] == "c1"


async def test_ingest_without_token_is_refused_locally() -> None:
    transport, seen = scripted()
    async with client(transport) as fs:
        with pytest.raises(FundingServiceError, match="token"):
            await fs.ingest(IngestBatch(cycle_id="c1", started_at=NOW, finished_at=NOW))
    assert seen == []


async def test_unexpected_body_is_an_error() -> None:
    transport, _ = scripted(httpx.Response(200, json={"not": "it"}))
    async with client(transport) as fs:
        with pytest.raises(FundingServiceError, match="unexpected response body"):
            await fs.opportunities()


async def test_ready_returns_not_ready_body() -> None:
    body = {
        "ready": False,
        "database": {"connected": False, "error": "cannot connect"},
        "migrations": None,
        "timestamp": NOW.isoformat(),
    }
    transport, seen = scripted(httpx.Response(503, json=body))
    async with client(transport) as fs:
        readiness = await fs.ready()
    assert readiness.ready is False and len(seen) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (True, "true"), (D("0.00001"), "0.00001"), (["a", "b"], "a,b"), (frozenset({"x"}), "x"), (3, "3")],
)
def test_query_encoding(value: object, expected: str | None) -> None:
    assert query({"k": value}).get("k") == expected


def test_client_and_models_import_without_fastapi_or_asyncpg() -> None:
    code = (
        "import sys; import bot_runtime.funding_api.client, bot_runtime.funding_api.ingest, bot_runtime.funding_api.models; "
        "bad = [m for m in ('fastapi', 'asyncpg', 'starlette', 'uvicorn') if m in sys.modules]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
