-- Ethereal joins the venues (issue 24). Fees: the perpetuals' maker/taker fractions as the products endpoint lists
-- them (0.005 % maker, 0.025 % taker: `makerFee`/`takerFee` of GET /v1/product in the API docs' Products page; each
-- product carries its own, read live by the client); funding is charged every hour, on the hour.
INSERT INTO dexes (name, display_name, maker_fee, taker_fee, funding_interval_hours, api_base_url, has_fee_tiers) VALUES
    ('ethereal', 'Ethereal', 0.00005, 0.00025, 1, 'https://api.ethereal.trade', false)
ON CONFLICT (name) DO NOTHING;
