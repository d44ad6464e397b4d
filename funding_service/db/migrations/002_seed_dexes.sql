-- The six venues with their default fees (fractions of notional per trade; negative maker = rebate) and their
-- default funding interval (each collected rate also carries its own interval, which is what the math uses).
-- Fees are data: change them with a later migration or UPDATE dexes; paper venues (`paper-*`) register themselves
-- on first ingest with the paper fees from the settings.
INSERT INTO dexes (name, display_name, maker_fee, taker_fee, funding_interval_hours, api_base_url, has_fee_tiers) VALUES
    ('lighter',  'Lighter',  0,        0,       1, 'https://mainnet.zklighter.elliot.ai', false),
    ('grvt',     'GRVT',     -0.0001,  0.00055, 8, 'https://trades.grvt.io',              true),
    ('edgex',    'EdgeX',    0.00015,  0.00038, 4, 'https://pro.edgex.exchange',          true),
    ('paradex',  'Paradex',  0.00003,  0.0002,  8, 'https://api.prod.paradex.trade/v1',   true),
    ('backpack', 'Backpack', 0.0002,   0.0005,  1, 'https://api.backpack.exchange',       true),
    ('aster',    'Aster',    0.00005,  0.0004,  8, 'https://fapi.asterdex.com',           true)
ON CONFLICT (name) DO NOTHING;
