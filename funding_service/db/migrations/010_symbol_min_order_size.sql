-- Each market's minimum order size, in base units of the canonical symbol (issue 22): the original service's
-- dex_symbols.min_order_size, answered by /dexes/{dex}/symbols. Collectors report it from the market data their
-- venue adapters already fetch (the trading client's minimum x the multiplier); each ingest writes the latest
-- observation, so it is null while the venue's latest row carried none. A nullable column without a default: adding
-- it rewrites nothing, and rows updated in place stay HOT (no index covers it).
ALTER TABLE dex_symbols ADD COLUMN min_order_size numeric CHECK (min_order_size > 0);
