"""Paper exchange fixtures on the REAL PostgreSQL of ``tests/conftest.py``: one fresh, migrated database per test."""

from __future__ import annotations

import pytest

from perpdex_dev.postgres import PostgresCluster
from tests.integration.paper_exchange.px_helpers import fresh_database


@pytest.fixture
async def px_dsn(postgres: PostgresCluster, request: pytest.FixtureRequest) -> str:
    name = ("px_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_"))[:60].lower()
    return await fresh_database(postgres, name)
