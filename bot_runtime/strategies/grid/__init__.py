"""The grid strategy (SPEC §3 ``grid``): :mod:`.strategy` (the loop that composes the parts), :mod:`.core` (the
shared state, the venue reads and sends, the order risk check), :mod:`.cover` (the cover invariant: covering fills,
re-covering, unknown outcomes, entries found later), :mod:`.opening` (open one entry and monitor it), :mod:`.stops`
(risk halts and ``onStop``), :mod:`.rules` (the original's arithmetic), :mod:`.quotes` (which quotes may be used),
:mod:`.orders` (order states when the venue's answers disagree, unknown outcomes), :mod:`.feed` (the order-update
stream), :mod:`.blocks` (why nothing opens, for ``status.entriesBlocked``)."""

from bot_runtime.strategies.grid.quotes import BadQuote, QuoteGuard, quote_problem
from bot_runtime.strategies.grid.strategy import GridStrategy, create_strategy

__all__ = ["BadQuote", "GridStrategy", "QuoteGuard", "create_strategy", "quote_problem"]
