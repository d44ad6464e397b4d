-- ApeX Omni joins the venues (issue 24). Fees: 0.02 % maker, 0.05 % taker, the base tier ccxt's apex implementation
-- carries (its `fees.swap`; ApeX's own fee page could not be consulted here, so this is the seed to correct with a later
-- migration when it differs). Each account's live rates are /v3/account's contractAccount.makerFeeRate /
-- takerFeeRate, which the trading client reads and signs with. Funding: the ticker's fundingRate, settled every hour
-- (an assumption docs/exchanges/apex.md states: no field carries the interval).
INSERT INTO dexes (name, display_name, maker_fee, taker_fee, funding_interval_hours, api_base_url, has_fee_tiers) VALUES
    ('apex', 'ApeX Omni', 0.0002, 0.0005, 1, 'https://omni.apex.exchange/api', true)
ON CONFLICT (name) DO NOTHING;
