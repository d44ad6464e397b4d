"""The collector against the real funding service over real HTTP (uvicorn on the real PostgreSQL), in compressed
time (a 0.3 s interval): with the service hung (a TCP front that accepts and never answers) or stopped (nothing
listening) for ten cycles, collection goes on at its interval, the outbox holds the cycles, and once the service is
back every cycle is stored, each exactly once. (Ten minutes at the default 60 s interval, in virtual time, are
``tests/unit/collector/test_collector_delivery.py``.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
import uvicorn

from bot_runtime.collector.collector import Collector
from bot_runtime.collector.status import CollectorStatus
from bot_runtime.exchanges.registry import create_funding_source
from bot_runtime.funding_api.client import FundingServiceClient
from perpdex_dev.control_plane import free_port
from tests.integration.funding_service.fs_helpers import TOKEN, Service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

INTERVAL = 0.3
OUTAGE_CYCLES = 10


class Backend:
    """The funding service app served by uvicorn on a fixed port; stop() and start() again on the same port."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(
            self.service.app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


class HangingFront:
    """A TCP front of the backend: while ``hung`` it accepts connections and answers nothing; released, it forwards
    the held connections and every new one."""

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.released = asyncio.Event()
        self.released.set()
        self.held = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)

    def hang(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.released.is_set():
            self.held += 1
            await self.released.wait()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward, except while hung: then a request on a kept-alive connection is held too."""
        try:
            while data := await reader.read(65536):
                if not self.released.is_set():
                    self.held += 1
                    await self.released.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


@pytest.fixture
async def backend(service: Service) -> AsyncIterator[Backend]:
    await service.reset()
    b = Backend(service)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


async def until(predicate: Callable[[], bool], what: str, within: float = 60) -> None:
    try:
        async with asyncio.timeout(within):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {within:g}s: {what}") from None


async def run_through_an_outage(
    url: str, service: Service, outage: contextlib.AbstractAsyncContextManager[None]
) -> Collector:
    client = FundingServiceClient(url, TOKEN, timeout=2.0, retries=1, backoff=0.1)
    collector = Collector(
        {"paper-a": create_funding_source("paper-a")},
        client.ingest,
        interval=INTERVAL,
        timeout=5,
        retry_min=0.2,
        retry_max=0.5,
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(collector.run(stopping))
    try:
        await until(lambda: collector.delivered_cycles >= 2, "two cycles delivered")
        async with outage:
            down_at = collector.cycles
            await until(lambda: collector.cycles >= down_at + OUTAGE_CYCLES, "ten cycles collected during the outage")
            status = CollectorStatus.of(collector)  # every cycle of the outage waits: none got through
            assert status.outbox.pending >= OUTAGE_CYCLES and status.outbox.oldest_started_at is not None
        await until(lambda: not collector.outbox and collector.service_reachable, "everything delivered")
        stopping.set()
        await asyncio.wait_for(task, 30)
    finally:
        stopping.set()
        if not task.done():
            task.cancel()
        await collector.close()
        await client.close()
    stored = {r["cycle_id"] for r in await service.fetch("SELECT cycle_id FROM collection_cycles")}
    assert collector.delivered_cycles == collector.cycles == len(stored)
    assert collector.outbox.dropped == 0
    return collector


async def test_a_stopped_funding_service(backend: Backend, service: Service) -> None:
    @contextlib.asynccontextmanager
    async def stopped() -> AsyncIterator[None]:
        await backend.stop()
        try:
            yield
        finally:
            await backend.start()

    await run_through_an_outage(f"http://127.0.0.1:{backend.port}", service, stopped())


async def test_a_hung_funding_service(backend: Backend, service: Service) -> None:
    front = HangingFront(backend.port)
    await front.start()

    @contextlib.asynccontextmanager
    async def hung() -> AsyncIterator[None]:
        front.hang()
        try:
            yield
            assert front.held >= 1  # the collector's requests met a service that never answered
        finally:
            front.release()

    try:
        await run_through_an_outage(front.url, service, hung())
    finally:
        await front.stop()
