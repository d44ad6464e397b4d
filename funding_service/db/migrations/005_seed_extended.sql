-- Extended (x10) joins the venues (issue 24). Fees: the published base schedule of its perpetuals (0 % maker,
-- 0.025 % taker for every market; GET /user/fees gives an account its own rates, which the trading client reads and
-- signs into each order); funding is paid every hour, on the hour.
INSERT INTO dexes (name, display_name, maker_fee, taker_fee, funding_interval_hours, api_base_url, has_fee_tiers) VALUES
    ('extended', 'Extended', 0.00000, 0.00025, 1, 'https://api.starknet.extended.exchange', false)
ON CONFLICT (name) DO NOTHING;
