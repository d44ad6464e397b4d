"""``POST /ingest/funding-rates``: one collector cycle, bearer-token protected, all or nothing, idempotent."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from bot_runtime.funding_api.ingest import IngestBatch, IngestResult
from bot_runtime.funding_api.models import ErrorBody
from funding_service.api.errors import ERROR_RESPONSES, ApiError
from funding_service.api.state import ServiceState, get_state
from funding_service.db.pool import DatabaseUnavailable
from funding_service.db.repositories.ingest import UnknownDexes, ingest_batch

log = logging.getLogger(__name__)

router = APIRouter(tags=["Ingest"], responses=ERROR_RESPONSES)
State = Annotated[ServiceState, Depends(get_state)]


def _authorize(state: ServiceState, authorization: str | None) -> None:
    token = state.settings.ingest_token
    if token is None or not token.get_secret_value():
        state.metrics.ingest_batches.labels("disabled").inc()
        raise ApiError(503, "ingest_disabled", "ingest is disabled: no ingest token is configured on the service")
    scheme, _, presented = (authorization or "").partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode("utf-8"), token.get_secret_value().encode("utf-8")
    )
    if not ok:
        state.metrics.ingest_batches.labels("unauthorized").inc()
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong bearer token",
            parameter="Authorization",
            headers={"WWW-Authenticate": 'Bearer realm="perpdex-funding-ingest"'},
        )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "batch_too_large", f"body larger than {limit} bytes", parameter="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "batch_too_large", f"body larger than {limit} bytes", parameter="body")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> IngestBatch:
    try:
        return IngestBatch.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *e["loc"])}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


@router.post(
    "/ingest/funding-rates",
    response_model=IngestResult,
    summary="Ingest one collector cycle (bearer token)",
    responses={
        401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
        413: {"model": ErrorBody, "description": "too many rows in one batch"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}},
        }
    },
)
async def ingest(
    request: Request,
    state: State,
    authorization: Annotated[str | None, Header(description="Bearer <ingest token>")] = None,
) -> IngestResult:
    _authorize(state, authorization)  # before reading a byte of the body
    batch = _parse(await _read_body(request, state.settings.max_ingest_bytes))
    if len(batch.rates) > state.settings.max_ingest_rows:
        state.metrics.ingest_batches.labels("rejected").inc()
        raise ApiError(
            413,
            "batch_too_large",
            f"{len(batch.rates)} rows; at most {state.settings.max_ingest_rows} per batch",
            parameter="rates",
        )
    now = datetime.now(UTC)

    async def write(conn: asyncpg.Connection) -> IngestResult:
        return await ingest_batch(conn, batch, state.settings, now)

    try:
        # the transaction either committed or rolled back as a whole, so one retry on a fresh connection is safe
        result = await state.db.run(write)
    except UnknownDexes:
        state.metrics.ingest_batches.labels("rejected").inc()
        raise
    except DatabaseUnavailable:
        state.metrics.ingest_batches.labels("unavailable").inc()
        raise
    state.invalidate()
    state.metrics.ingest_batches.labels("ok").inc()
    state.metrics.ingest_rows.inc(result.rates_stored)
    log.info(
        "ingested cycle %s: %d rows (%d stored, %d latest), %d venues",
        batch.cycle_id,
        result.rates_received,
        result.rates_stored,
        result.latest_updated,
        result.exchanges_logged,
    )
    return result
