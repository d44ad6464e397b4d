"""One collection cycle: every venue in parallel, each bounded by the timeout; one failing or hanging venue never
delays or blocks the others. The result is one :class:`IngestBatch` with a report per venue."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from bot_runtime.exchanges.base import FundingRate, FundingSource
from bot_runtime.funding_api.ingest import ExchangeReport, IngestBatch, IngestRate


async def _collect_one(
    source: FundingSource, symbols: Sequence[str] | None, venue_timeout: float
) -> tuple[list[IngestRate], ExchangeReport]:
    started = time.perf_counter()
    try:
        rates: list[FundingRate] = await asyncio.wait_for(
            source.funding_rates(list(symbols) if symbols else None), venue_timeout
        )
    except TimeoutError:
        error = f"timed out after {venue_timeout:g}s"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # one venue's failure, whatever it is, must not stop the others
        error = f"{type(exc).__name__}: {exc}"[:500]
    else:
        rows, dropped = _validated(rates)
        latency = round((time.perf_counter() - started) * 1000, 1)
        if rates and not rows:
            return [], ExchangeReport(
                name=source.name, ok=False, error=f"invalid data from venue: {dropped[0]}", latency_ms=latency
            )
        note = f"dropped {len(dropped)} invalid market(s), first: {dropped[0]}" if dropped else None
        return rows, ExchangeReport(name=source.name, ok=True, markets=len(rows), error=note, latency_ms=latency)
    latency = (time.perf_counter() - started) * 1000
    return [], ExchangeReport(name=source.name, ok=False, error=error, latency_ms=round(latency, 1))


def _validated(rates: list[FundingRate]) -> tuple[list[IngestRate], list[str]]:
    """Rows the funding service will accept, and why the others were dropped (one bad market never costs the
    venue's other markets)."""
    rows: list[IngestRate] = []
    dropped: list[str] = []
    for rate in rates:
        try:
            rows.append(IngestRate.from_funding_rate(rate))
        except ValidationError as exc:
            first = exc.errors()[0]
            dropped.append(f"{rate.venue_symbol}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    return rows, dropped


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_cycle(
    sources: Mapping[str, FundingSource],
    *,
    venue_timeout: float,
    symbols: Sequence[str] | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> IngestBatch:
    """``now`` stamps the cycle (the collector's clock: virtual in tests)."""
    started_at = now()
    results = await asyncio.gather(*(_collect_one(src, symbols, venue_timeout) for src in sources.values()))
    rates = [row for rows, _ in results for row in rows]
    return IngestBatch(
        cycle_id=f"{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        started_at=started_at,
        finished_at=now(),
        rates=rates,
        exchanges=[report for _, report in results],
    )
