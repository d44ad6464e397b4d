"""Ingest wire models, settings, migration files, and the import-weight promise of the client/models
(importable without FastAPI or asyncpg)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot_runtime.exchanges.base import FundingRate
from bot_runtime.funding_api.ingest import ExchangeReport, IngestBatch, IngestRate
from bot_runtime.funding_api.models import plain_decimal
from funding_service.settings import Settings, redact_dsn

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def row(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "exchange": "lighter",
        "symbol": "BTC",
        "venue_symbol": "BTC",
        "rate": "0.0001",
        "interval_hours": "1",
        "collected_at": NOW.isoformat(),
    }
    base.update(kw)
    return base


def test_ingest_rate_normalises_names() -> None:
    r = IngestRate.model_validate(row(exchange=" Lighter ", symbol="btc"))
    assert (r.exchange, r.symbol) == ("lighter", "BTC")
    assert r.rate == D("0.0001") and isinstance(r, FundingRate)


def test_ingest_rate_from_funding_rate() -> None:
    fr = FundingRate(
        exchange="aster",
        symbol="PEPE",
        venue_symbol="1000PEPEUSDT",
        multiplier=D(1000),
        rate=D("0.0001"),
        interval_hours=D(8),
        mark_price=D("0.0123"),
        collected_at=NOW,
    )
    r = IngestRate.from_funding_rate(fr)
    assert (r.symbol, r.multiplier, r.mark_price) == ("PEPE", D(1000), D("0.0123"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate", "NaN"),
        ("rate", "Infinity"),
        ("rate", "2"),  # 200 % per interval is not a funding rate
        ("rate", "1e-400000"),
        ("interval_hours", "0"),
        ("interval_hours", "-8"),
        ("mark_price", "0"),
        ("mark_price", "-1"),
        ("open_interest_usd", "-5"),
        ("multiplier", "0"),
        ("exchange", "Bad Name!"),
        ("symbol", "BTC/USD"),
        ("venue_symbol", ""),
        ("collected_at", "2026-01-01T12:00:00"),  # naive: refused, never guessed
        ("collected_at", "0001-01-01T00:01:01+21:00"),  # before year 1 in UTC: no database write could take it
        ("next_funding_time", "9999-12-31T23:59:59-05:00"),  # after year 9999 in UTC
        ("collected_at", "2000-01-01T01:00:00+02:00"),  # 1999 in UTC: not funding data
    ],
)
def test_ingest_rate_rejects(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as err:
        IngestRate.model_validate(row(**{field: value}))
    assert err.value.errors()[0]["loc"][0] == field


def test_ingest_rate_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        IngestRate.model_validate(row(funding_rate_8h="0.0001"))


def test_batch_checks() -> None:
    ok = IngestBatch(cycle_id="c-1", started_at=NOW, finished_at=NOW + timedelta(seconds=3))
    assert ok.rates == [] and ok.exchanges == []
    with pytest.raises(ValidationError, match="before started_at"):
        IngestBatch(cycle_id="c-1", started_at=NOW, finished_at=NOW - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="twice"):
        IngestBatch(
            cycle_id="c-1",
            started_at=NOW,
            finished_at=NOW,
            exchanges=[ExchangeReport(name="grvt", ok=True), ExchangeReport(name="grvt", ok=False)],
        )
    with pytest.raises(ValidationError):
        IngestBatch(cycle_id="has space", started_at=NOW, finished_at=NOW)
    # an instant that does not exist in UTC is a 422 naming the field, never a database error (a 500)
    with pytest.raises(ValidationError) as err:
        IngestBatch.model_validate({"cycle_id": "c", "started_at": "0001-01-01T00:01:01+21:00", "finished_at": NOW})
    assert err.value.errors()[0]["loc"] == ("started_at",) and "out of range" in str(err.value)
    edge = IngestBatch.model_validate(
        {"cycle_id": "c", "started_at": "1999-12-31T23:00:00-02:00", "finished_at": "2199-12-31T23:00:00+02:00"}
    )  # 2000-01-01 01:00 and 2199-12-31 21:00 in UTC
    assert edge.started_at.astimezone(UTC).year == 2000


def test_batch_dex_names_and_error_truncation() -> None:
    batch = IngestBatch.model_validate(
        {
            "cycle_id": "c",
            "started_at": NOW.isoformat(),
            "finished_at": NOW.isoformat(),
            "rates": [row(exchange="paper-a")],
            "exchanges": [{"name": "grvt", "ok": False, "error": "x" * 5000}],
        }
    )
    assert batch.dex_names() == {"paper-a", "grvt"}
    assert batch.exchanges[0].error == "x" * 2000


def test_settings_dsn_from_parts_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("PERPDEX_FS_DATABASE_URL", "PERPDEX_FS_DB_PASSWORD", "PERPDEX_FS_CORS_ORIGINS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PERPDEX_FS_DB_HOST", "pg.example")
    monkeypatch.setenv("PERPDEX_FS_DB_USER", "fs")
    monkeypatch.setenv("PERPDEX_FS_DB_PASSWORD", "p@ss:w/rd")
    monkeypatch.setenv("PERPDEX_FS_DB_NAME", "funding")
    monkeypatch.setenv("PERPDEX_FS_CORS_ORIGINS", "https://a.example, https://b.example")
    s = Settings()
    assert s.dsn() == "postgresql://fs:p%40ss%3Aw%2Frd@pg.example:5432/funding"
    assert s.redacted_dsn() == "postgresql://fs:***@pg.example:5432/funding"
    assert "p@ss" not in repr(s) and "p@ss" not in str(s.model_dump())
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("PERPDEX_FS_DATABASE_URL", "postgresql://u:secret@h/db?sslmode=require")
    s2 = Settings()
    assert s2.dsn() == "postgresql://u:secret@h/db?sslmode=require"
    assert s2.redacted_dsn() == "postgresql://u:***@h/db"
    assert "secret" not in repr(s2)


def test_settings_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("PERPDEX_FS_INGEST_TOKEN", "PERPDEX_FS_CORS_ORIGINS"):
        monkeypatch.delenv(key, raising=False)
    s = Settings()
    assert s.ingest_token is None  # ingest disabled until a token is configured
    assert s.cors_origins == []  # CORS off
    assert s.stale_after_seconds == 600
    assert redact_dsn("postgresql://u@h/db") == "postgresql://u@h/db"


def test_plain_decimal_formatting() -> None:
    assert plain_decimal(D("9.00E+6")) == "9000000"
    assert plain_decimal(D("0.43800")) == "0.438"
    assert plain_decimal(D("-0.0")) == "0"
    assert plain_decimal(D("1E-12")) == "0.000000000001"


def test_migration_files_are_ordered_and_named() -> None:
    from funding_service.db.migrator import MIGRATIONS_DIR, load_migrations

    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].filename == "001_schema.sql"
    assert {p.name for p in Path(MIGRATIONS_DIR).glob("*.sql")} == {m.filename for m in migrations}


def test_migration_loader_rejects_bad_names(tmp_path: Path) -> None:
    from funding_service.db.migrator import MigrationError, load_migrations

    (tmp_path / "001_a.sql").write_text("SELECT 1")
    (tmp_path / "001_b.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="also used"):
        load_migrations(tmp_path)
    (tmp_path / "001_b.sql").unlink()
    (tmp_path / "two.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="NNN_"):
        load_migrations(tmp_path)
