"""Wire models of the funding service (pure pydantic: importable by the collector and the bots without FastAPI or
asyncpg)."""

from funding_service.models.ingest import ExchangeReport, IngestBatch, IngestRate, IngestResult

__all__ = ["ExchangeReport", "IngestBatch", "IngestRate", "IngestResult"]
