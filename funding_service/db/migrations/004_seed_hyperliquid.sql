-- Hyperliquid joins the venues (issue 24). Fees: the base tier of its perpetuals fee schedule (0.015 % maker,
-- 0.045 % taker; volume tiers and staking discounts lower them, hence has_fee_tiers); funding settles every hour.
INSERT INTO dexes (name, display_name, maker_fee, taker_fee, funding_interval_hours, api_base_url, has_fee_tiers) VALUES
    ('hyperliquid', 'Hyperliquid', 0.00015, 0.00045, 1, 'https://api.hyperliquid.xyz', true)
ON CONFLICT (name) DO NOTHING;
