"""What failed entries may cost: per symbol and pair of venues, consecutive failed entries back off, then stop.

A failed entry (no pair came of it: one leg rejected again and again, an IOC that missed on a lagging quote) costs the
fees of the leg that filled and of its unwind, plus the spread crossed twice. Left alone the bot would try again
after every cooldown (145 entries, -144.90 USD a day on a 1000 USD leg). Here, per ``(symbol, venue pair)``:

- the n-th consecutive failure blocks new entries for ``base x 2^(n-1)`` seconds (``Tuning.entry_cooldown``,
  capped at ``Tuning.max_entry_backoff``);
- after ``Tuning.max_failed_entries`` consecutive failures the pair of venues is stopped for that symbol until the
  bot restarts (a spec change restarts it): the strategy says why in its status reason and reports
  :class:`EntriesStopped` (an error notification, ``lastError``, the error metric by type);
- an entry that opens a pair resets the count; the cost of every failed entry (fees + price cash of its orders) is
  summed per key and in total (``FundingArbStrategy.failed_entry_cost``);
- every key backing off or stopped is in ``status.entriesBlocked`` (:meth:`EntryBackoff.blocks`: reason
  ``FailedEntriesBackoff`` with ``until``, or ``FailedEntriesStopped`` without), which the operator turns into the
  TradingBot's ``EntriesBlocked`` condition and an Event per change.

The venue pair is unordered: a pair that failed as long A / short B is as blocked as long B / short A.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bot_runtime.exchanges.base import ExchangeError
from bot_runtime.status import EntryBlock

ZERO = Decimal(0)

EntryKey = tuple[str, str, str]  # symbol, venue, venue (sorted)
BACKING_OFF = "FailedEntriesBackoff"
STOPPED = "FailedEntriesStopped"


class EntriesStopped(ExchangeError):
    """Entries of a symbol on a pair of venues stopped after repeated failures (reported once per key)."""


def entry_key(symbol: str, venue_a: str, venue_b: str) -> EntryKey:
    first, second = sorted((venue_a, venue_b))
    return symbol, first, second


def describe(key: EntryKey) -> str:
    return f"{key[0]} on {key[1]}/{key[2]}"


@dataclass
class FailedEntries:
    failures: int = 0  # consecutive
    until: float = 0.0  # clock.monotonic() before which no entry is tried
    since: datetime | None = None  # wall clock of the last failure (status.entriesBlocked)
    resume: datetime | None = None  # wall clock of ``until``
    cost: Decimal = ZERO  # of every failed entry of this key (not reset by a success)
    stopped: bool = False
    last: str = ""  # why the last one failed


class EntryBackoff:
    def __init__(self, base: float, cap: float, limit: int) -> None:
        self.base = base
        self.cap = cap
        self.limit = limit
        self.keys: dict[EntryKey, FailedEntries] = {}

    def blocked(self, key: EntryKey, now: float) -> str | None:
        """Why no entry may be tried on ``key`` now, or None."""
        state = self.keys.get(key)
        if state is None or state.failures == 0:
            return None
        if state.stopped:
            return f"entries of {describe(key)} stopped after {state.failures} failed entries ({state.last})"
        if now < state.until:
            return (
                f"backing off {state.until - now:.0f}s after {state.failures} failed entr"
                f"{'y' if state.failures == 1 else 'ies'} of {describe(key)} ({state.last})"
            )
        return None

    def failed(self, key: EntryKey, now: float, cost: Decimal, why: str, *, wall: datetime) -> FailedEntries:
        """Count a failed entry at ``now`` (monotonic; ``wall`` is the same moment on the wall clock)."""
        state = self.keys.setdefault(key, FailedEntries())
        state.failures += 1
        state.cost += cost
        state.last = why
        wait = min(self.base * 2 ** (state.failures - 1), self.cap)
        state.until = now + wait
        state.since = wall
        state.resume = wall + timedelta(seconds=wait)
        state.stopped = state.failures >= self.limit
        return state

    def succeeded(self, key: EntryKey) -> None:
        state = self.keys.get(key)
        if state is not None:
            state.failures = 0
            state.until = 0.0
            state.stopped = False

    @property
    def total_cost(self) -> Decimal:
        return sum((s.cost for s in self.keys.values()), ZERO)

    def stopped(self) -> list[EntryKey]:
        return sorted(k for k, s in self.keys.items() if s.stopped)

    def blocks(self, now: float) -> tuple[EntryBlock, ...]:
        """Every key backing off or stopped at ``now`` (monotonic), for ``status.entriesBlocked``."""
        out: list[EntryBlock] = []
        for key in sorted(self.keys):
            state = self.keys[key]
            if self.blocked(key, now) is None or state.since is None:
                continue
            count = f"{state.failures} consecutive failed entr{'y' if state.failures == 1 else 'ies'}"
            if state.stopped:
                why = f"stopped after {count} (limit {self.limit}) until the bot restarts; last: {state.last}"
            else:
                why = f"backing off after {count} (stop at {self.limit}); last: {state.last}"
            out.append(
                EntryBlock(
                    symbol=key[0],
                    venues=key[1:],
                    reason=STOPPED if state.stopped else BACKING_OFF,
                    message=why,
                    since=state.since,
                    until=None if state.stopped else state.resume,
                )
            )
        return tuple(out)
