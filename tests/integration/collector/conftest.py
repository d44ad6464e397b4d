"""The real funding service (in-process, ASGI) on the real PostgreSQL of ``tests/conftest.py`` - the funding
service tests' own ``fs_dsn``/``service`` fixtures, one fresh database for this module - and the six venues' replay
servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.collector.six_venues import VENUES, Venue
from tests.integration.funding_service.conftest import fs_dsn, service
from tests.integration.funding_service.fs_helpers import Service
from tests.support.replay import ReplayServer

__all__ = ["fs_dsn", "service", "venues"]


@pytest.fixture
async def venues(service: Service) -> AsyncIterator[dict[str, tuple[Venue, ReplayServer]]]:
    """Each venue's replay server loaded with its funding fixtures (and an empty database for every test)."""
    await service.reset()
    servers: dict[str, tuple[Venue, ReplayServer]] = {}
    try:
        for venue in VENUES:
            server = await ReplayServer().start()
            servers[venue.name] = (venue, server)
            venue.load(server)
        yield servers
    finally:
        for _venue, server in servers.values():
            await server.stop()
