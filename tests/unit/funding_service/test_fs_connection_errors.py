"""Which asyncpg failures count as "the database connection is gone" (→ retry once on a fresh connection, else 503)
and which are bugs that must surface as 500s."""

from __future__ import annotations

import asyncpg
import pytest

from funding_service.db.pool import is_connection_error


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.InterfaceError("connection is closed"),
        # an unsolicited FATAL (pg_terminate_backend) consumed while the pooled connection was idle
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    ],
)
def test_connection_failures_are_recognised(exc: Exception) -> None:
    assert is_connection_error(exc)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.UndefinedTableError('relation "funding_rates" does not exist'),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        asyncpg.exceptions.InternalClientError("PoolConnectionHolder.release() called on a free connection holder"),
        ValueError("bad"),
    ],
)
def test_query_bugs_are_not_connection_failures(exc: Exception) -> None:
    assert not is_connection_error(exc)
