"""What the grid knows about its orders when the venue's answers disagree or are missing (issue 18, deliverable 2).

- :func:`freshest`: two views of one order (the update stream's, a REST read) → the later one. A final state is never
  replaced by a non-final one (a REST read lagging the stream), and of two views the one that filled more wins.
- :class:`Unresolved`: an order whose placement outcome is unknown (no answer, not found by its client id yet). The
  grid keeps looking it up by client id (:data:`LOOKUP_BACKOFF`), an entry for :data:`GIVE_UP_ENTRY_S`, a
  take-profit for :data:`GIVE_UP_CLOSE_S`; an entry found is adopted (monitored, its fill covered), a take-profit
  found simply rests (listed among the open orders, it is resolved too). Meanwhile no new entry opens, and an
  unresolved take-profit counts as covering its size (so the invariant does not place it twice).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot_runtime.exchanges.base import Order, OrderRequest

LOOKUP_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
# then it is taken as never placed: an entry blocks opening meanwhile (a late landing is still covered by the
# invariant); a take-profit counts as cover meanwhile, so it is given up sooner (the invariant then re-covers)
GIVE_UP_ENTRY_S = 600.0
GIVE_UP_CLOSE_S = 30.0


def freshest(known: Order | None, read: Order | None) -> Order | None:
    """The later of two views of one order (either may be missing)."""
    if known is None:
        return read
    if read is None:
        return known
    if known.status.is_final and not read.status.is_final:
        return known  # a stale read never un-finishes an order
    if read.status.is_final and not known.status.is_final:
        return read
    return known if known.filled_size > read.filled_size else read


@dataclass
class Unresolved:
    """An order sent whose outcome is unknown."""

    request: OrderRequest
    since: float
    next_lookup: float
    lookups: int = 0

    def backoff(self, now: float) -> None:
        self.next_lookup = now + LOOKUP_BACKOFF[min(self.lookups, len(LOOKUP_BACKOFF) - 1)]
        self.lookups += 1

    def expired(self, now: float) -> bool:
        return now - self.since >= (GIVE_UP_CLOSE_S if self.request.reduce_only else GIVE_UP_ENTRY_S)
