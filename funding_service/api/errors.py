"""Every error is JSON :class:`~bot_runtime.funding_api.models.ErrorBody`: a bad query is a 422 naming the parameter,
an unknown dex/symbol a 404, an unreachable database a 503 with ``Retry-After``; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot_runtime.funding_api.models import ErrorBody
from funding_service.db.pool import DatabaseUnavailable
from funding_service.db.repositories.ingest import UnknownDexes

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
SCHEMA_MISSING = "the database schema is not migrated; run `perpdex funding-service migrate`"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.parameter = parameter
        self.headers = headers


def not_found(message: str, parameter: str | None = None) -> ApiError:
    return ApiError(404, "not_found", message, parameter=parameter)


def invalid(parameter: str, message: str) -> ApiError:
    return ApiError(422, "invalid_parameter", f"{parameter}: {message}", parameter=parameter)


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


def unavailable_response(reason: str) -> JSONResponse:
    body = ErrorBody(
        error="database_unavailable",
        message=f"The funding database is unavailable ({reason}); retry in a few seconds.",
        retry_after_seconds=RETRY_AFTER_SECONDS,
    )
    return error_response(503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def _location(loc: tuple[Any, ...]) -> tuple[str, str | None]:
    """(``query``, ``limit``) from ``("query", "limit")``; body paths joined: ``rates.3.rate``."""
    if not loc:
        return "request", None
    where = str(loc[0])
    rest = [str(p) for p in loc[1:]]
    return where, ".".join(rest) if rest else None


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    first = errors[0] if errors else {}
    where, name = _location(tuple(first.get("loc", ())))
    parameter = name or where
    label = {"query": "query parameter", "path": "path parameter", "body": "body field", "header": "header"}.get(
        where, where
    )
    message = f"{label} '{parameter}': {first.get('msg', 'invalid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return error_response(
        422, ErrorBody(error="invalid_parameter", message=message, parameter=parameter, details=details)
    )


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    body = ErrorBody(error=exc.error, message=exc.message, parameter=exc.parameter)
    return error_response(exc.status, body, exc.headers)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
    body = ErrorBody(error=code, message=str(exc.detail))
    return error_response(exc.status_code, body, dict(exc.headers) if exc.headers else None)


async def _db_down(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatabaseUnavailable)
    return unavailable_response(exc.reason)


async def _unknown_dexes(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnknownDexes)
    body = ErrorBody(
        error="unknown_dex", message=str(exc), parameter="rates[].exchange", details=[{"dexes": exc.names}]
    )
    return error_response(422, body)


async def _schema_missing(request: Request, exc: Exception) -> JSONResponse:
    log.error("query on a database without the schema: %s", type(exc).__name__)
    body = ErrorBody(error="schema_not_migrated", message=SCHEMA_MISSING, retry_after_seconds=RETRY_AFTER_SECONDS)
    return error_response(503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(asyncpg.UndefinedTableError, _schema_missing)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DatabaseUnavailable, _db_down)
    app.add_exception_handler(UnknownDexes, _unknown_dexes)


# documented on every route so clients (and schemathesis) know each body
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown dex or symbol"},
    422: {"model": ErrorBody, "description": "invalid parameter (named in `parameter`)"},
    503: {"model": ErrorBody, "description": "database unavailable; retry after `Retry-After` seconds"},
}
