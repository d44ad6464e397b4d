"""Why the grid opens nothing new, for ``status.entriesBlocked`` (the operator's EntriesBlocked condition).

One reason at a time (the loop stops at the first): ``UncoveredFill`` (a position part without its take-profit, being
re-covered), ``OrderOutcomeUnknown`` (an entry sent without an answer, being looked up by client id), ``BadQuote``
(no usable top of book), ``PausePrice`` (``pausePrice`` reached). A reason is reported once it has lasted
:data:`REPORT_AFTER_S`: a one-loop read or a single refused quote writes nothing (each change is a status write and an
Event). Its ``since`` is when it began.
"""

from __future__ import annotations

from datetime import datetime

from bot_runtime.clock import Clock
from bot_runtime.status import EntryBlock

REPORT_AFTER_S = 10.0


class OpeningBlock:
    def __init__(self, clock: Clock, symbol: str, venue: str) -> None:
        self.clock = clock
        self.symbol = symbol
        self.venue = venue
        self.reason: str | None = None
        self.message = ""
        self._since: datetime | None = None
        self._began = 0.0  # on the monotonic clock

    def set(self, reason: str, message: str) -> None:
        if reason != self.reason:
            self.reason = reason
            self._since = self.clock.now()
            self._began = self.clock.monotonic()
        self.message = message

    def clear(self) -> None:
        self.reason = None
        self._since = None

    def reported(self) -> tuple[EntryBlock, ...]:
        """What ``status.entriesBlocked`` says now: () when opening goes on (or the block is younger than
        :data:`REPORT_AFTER_S`)."""
        if self.reason is None or self._since is None or self.clock.monotonic() - self._began < REPORT_AFTER_S:
            return ()
        block = EntryBlock(
            symbol=self.symbol, venues=(self.venue,), reason=self.reason, message=self.message, since=self._since
        )
        return (block,)
