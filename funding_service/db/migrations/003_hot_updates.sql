-- Room on each page for the new version of a row updated in place. Every ingest cycle rewrites every row of
-- latest_funding_rates and dex_symbols, and the current funding period's row of every market in funding_rates; with
-- free space on the row's own page PostgreSQL makes that a HOT update (no new index entries, dead versions pruned
-- on the page), which roughly halves the cost of those upserts. Pages written from now on keep the space (existing
-- pages fill up as the rows move; `VACUUM FULL latest_funding_rates, dex_symbols` applies it at once).
-- funding_rates keeps 10 %: enough for the periods being updated, little extra disk for the history.
ALTER TABLE latest_funding_rates SET (fillfactor = 50);
ALTER TABLE dex_symbols SET (fillfactor = 50);
ALTER TABLE funding_rates SET (fillfactor = 90);
