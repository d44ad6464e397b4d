-- Nado joins the venues (issue 24). Fees: 0 % maker, 0.02 % taker, the perpetuals' base tier of the engine Nado
-- inherits from Vertex (its fee schedule; Nado's own fee page could not be consulted here, so this is the seed to
-- correct with a later migration when it differs). Each market's live maker/taker rate is the gateway's symbols query
-- (maker_fee_rate_x18 / taker_fee_rate_x18), which the trading client reads. Funding: the indexer quotes a 24-hour
-- rate and settles it every hour (the adapter reports rate / 24 per 1-hour interval).
INSERT INTO dexes (name, display_name, maker_fee, taker_fee, funding_interval_hours, api_base_url, has_fee_tiers) VALUES
    ('nado', 'Nado', 0, 0.0002, 1, 'https://gateway.prod.nado.xyz/v1', true)
ON CONFLICT (name) DO NOTHING;
