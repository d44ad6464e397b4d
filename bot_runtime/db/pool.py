"""The asyncpg pool, created lazily and surviving database outages.

- The pool is created on first use, not at start: the service starts (and answers ``/health/simple``) while the
  database is still down, and every request made meanwhile gets :class:`DatabaseUnavailable` (→ 503).
- While the database is down, every connection error becomes :class:`DatabaseUnavailable`; the pool's stale
  connections are expired so that, when the database is back, the next request reconnects: no restart needed.
- A read that fails because its pooled connection died (the database restarted since) is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

import asyncpg

log = logging.getLogger(__name__)

T = TypeVar("T")

# errors that mean "the database is not reachable right now", as opposed to a bug in a query
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # connect / acquire / command timeout
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08 (incl. connection does not exist)
    asyncpg.CannotConnectNowError,  # 57P03: starting up / shutting down
    asyncpg.exceptions.OperatorInterventionError,  # 57xxx: admin shutdown, crash shutdown
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    # asyncpg raises a plain InterfaceError when a connection was closed under it
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return True
    # a server-side termination (pg_terminate_backend, admin shutdown) can reach an idle pooled connection as an
    # unsolicited FATAL error: its protocol is left consuming that error, and the next query on it fails with
    # "cannot switch to state N; another operation (2) is in progress" before the socket is seen closed
    return isinstance(exc, asyncpg.exceptions.InternalClientError) and "cannot switch to state" in str(exc)


class PoolSettings(Protocol):
    """What the pool needs of a service's settings (the funding service's and the paper exchange's have it)."""

    @property
    def pool_min_size(self) -> int: ...
    @property
    def pool_max_size(self) -> int: ...
    @property
    def connect_timeout_seconds(self) -> float: ...
    @property
    def acquire_timeout_seconds(self) -> float: ...
    @property
    def command_timeout_seconds(self) -> float: ...
    def dsn(self) -> str: ...
    def redacted_dsn(self) -> str: ...


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the message is safe to show (no DSN, no password)."""

    def __init__(self, reason: str = "database unreachable") -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(exc: BaseException) -> str:
    kind = type(exc).__name__
    if isinstance(exc, TimeoutError):
        return "timed out talking to the database"
    if isinstance(exc, OSError):
        return f"cannot connect to the database ({kind})"
    return f"database connection failed ({kind})"


class Database:
    """Lazily created asyncpg pool with outage handling. One per app."""

    def __init__(self, settings: PoolSettings, *, application_name: str) -> None:
        self._settings = settings
        self._application_name = application_name
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.last_error: str | None = None

    @property
    def created(self) -> bool:
        return self._pool is not None

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                s = self._settings
                try:
                    self._pool = await asyncpg.create_pool(
                        s.dsn(),
                        min_size=s.pool_min_size,
                        max_size=s.pool_max_size,
                        timeout=s.connect_timeout_seconds,
                        command_timeout=s.command_timeout_seconds,
                        max_inactive_connection_lifetime=300,
                        server_settings={"application_name": self._application_name, "jit": "off"},
                    )
                except Exception as exc:
                    if not is_connection_error(exc):
                        raise
                    self.last_error = _reason(exc)
                    log.warning("database pool not created: %s", self.last_error)
                    raise DatabaseUnavailable(self.last_error) from None
                log.info("database pool created (%s)", s.redacted_dsn())
        assert self._pool is not None
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; any connection failure inside the block becomes :class:`DatabaseUnavailable`."""
        pool = await self.pool()
        try:
            async with pool.acquire(timeout=self._settings.acquire_timeout_seconds) as conn:
                yield conn
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            await self._on_connection_error(exc)
            raise DatabaseUnavailable(self.last_error or "database unreachable") from None
        else:
            self.last_error = None

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, retry: bool = True) -> T:
        """Run ``work`` on a pooled connection; once more on a fresh connection if the first one was dead.

        Only for work that is safe to repeat (reads, or a transaction that rolled back as a whole).
        """
        attempts = 2 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                async with self.connection() as conn:
                    return await work(conn)
            except DatabaseUnavailable:
                if attempt == attempts:
                    raise
                log.info("retrying on a fresh connection after: %s", self.last_error)
        raise AssertionError("unreachable")

    async def _on_connection_error(self, exc: BaseException) -> None:
        self.last_error = _reason(exc)
        log.warning("database unavailable: %s", self.last_error)
        if self._pool is not None:
            # every idle connection predates the failure: replace them all on their next use
            await self._pool.expire_connections()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                pool.terminate()
