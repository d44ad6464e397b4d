-- Funding service schema (SPEC §6). Money and rates are `numeric` (exact), times are `timestamptz`.
-- Rates are stored raw WITH their funding interval; nothing assumes 8 h.

CREATE TABLE dexes (
    name                   text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
    display_name           text        NOT NULL,
    maker_fee              numeric     NOT NULL,          -- fraction of notional per trade; negative = rebate
    taker_fee              numeric     NOT NULL,
    funding_interval_hours numeric     NOT NULL CHECK (funding_interval_hours > 0),  -- default; each rate carries its own
    is_active              boolean     NOT NULL DEFAULT true,
    is_paper               boolean     NOT NULL DEFAULT false,
    api_base_url           text,
    has_fee_tiers          boolean     NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE symbols (
    symbol     text PRIMARY KEY,                          -- canonical base asset (bot_runtime.exchanges.symbols)
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dex_symbols (
    dex               text        NOT NULL REFERENCES dexes (name) ON UPDATE CASCADE,
    symbol            text        NOT NULL REFERENCES symbols (symbol),
    venue_symbol      text        NOT NULL,               -- the venue's own name: BTC-USD-PERP, 1000PEPEUSDT, ...
    multiplier        numeric     NOT NULL DEFAULT 1 CHECK (multiplier > 0),
    mark_price        numeric,
    index_price       numeric,
    open_interest_usd numeric,
    volume_24h_usd    numeric,
    best_bid          numeric,
    best_ask          numeric,
    spread_bps        numeric,
    is_active         boolean     NOT NULL DEFAULT true,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL,               -- collected_at of the data above
    PRIMARY KEY (dex, symbol)
);

-- One row per (dex, symbol, funding period): funding_time = when that period settles (the venue's next funding
-- time, or the next interval boundary). Re-collecting within a period refreshes the row (latest observation wins).
CREATE TABLE funding_rates (
    dex               text        NOT NULL REFERENCES dexes (name) ON UPDATE CASCADE,
    symbol            text        NOT NULL REFERENCES symbols (symbol),
    funding_time      timestamptz NOT NULL,
    rate              numeric     NOT NULL,               -- raw rate per interval, fraction
    interval_hours    numeric     NOT NULL CHECK (interval_hours > 0),
    mark_price        numeric,
    index_price       numeric,
    open_interest_usd numeric,
    volume_24h_usd    numeric,
    next_funding_time timestamptz,
    collected_at      timestamptz NOT NULL,
    cycle_id          text,
    PRIMARY KEY (dex, symbol, funding_time)               -- also the index for range scans and latest-per-pair
);
CREATE INDEX funding_rates_symbol_time ON funding_rates (symbol, funding_time DESC);   -- stats across venues
CREATE INDEX funding_rates_time ON funding_rates (funding_time);                      -- retention, recent counts

CREATE TABLE latest_funding_rates (
    dex               text        NOT NULL REFERENCES dexes (name) ON UPDATE CASCADE,
    symbol            text        NOT NULL REFERENCES symbols (symbol),
    venue_symbol      text        NOT NULL,
    multiplier        numeric     NOT NULL DEFAULT 1 CHECK (multiplier > 0),
    rate              numeric     NOT NULL,
    interval_hours    numeric     NOT NULL CHECK (interval_hours > 0),
    funding_time      timestamptz NOT NULL,
    mark_price        numeric,
    index_price       numeric,
    open_interest_usd numeric,
    volume_24h_usd    numeric,
    best_bid          numeric,
    best_ask          numeric,
    next_funding_time timestamptz,
    collected_at      timestamptz NOT NULL,
    cycle_id          text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dex, symbol)
);
CREATE INDEX latest_funding_rates_symbol ON latest_funding_rates (symbol);

CREATE TABLE collection_cycles (
    cycle_id      text PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    rates_count   integer     NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collection_cycles_finished ON collection_cycles (finished_at DESC);

-- One row per dex per cycle: feeds dex health (last success, consecutive errors).
CREATE TABLE collection_logs (
    cycle_id     text        NOT NULL REFERENCES collection_cycles (cycle_id) ON DELETE CASCADE,
    dex          text        NOT NULL REFERENCES dexes (name) ON UPDATE CASCADE,
    status       text        NOT NULL CHECK (status IN ('ok', 'error')),
    fetched      integer     NOT NULL DEFAULT 0,
    error        text,
    latency_ms   numeric,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    PRIMARY KEY (cycle_id, dex)
);
CREATE INDEX collection_logs_dex_time ON collection_logs (dex, finished_at DESC);
CREATE INDEX collection_logs_dex_ok_time ON collection_logs (dex, finished_at DESC) WHERE status = 'ok';

-- Snapshot of the best opportunities of each collection cycle (history of what the finder saw).
CREATE TABLE opportunities (
    id                 bigserial PRIMARY KEY,
    cycle_id           text        NOT NULL REFERENCES collection_cycles (cycle_id) ON DELETE CASCADE,
    computed_at        timestamptz NOT NULL,
    symbol             text        NOT NULL,
    long_dex           text        NOT NULL,
    short_dex          text        NOT NULL,
    long_rate          numeric     NOT NULL,
    short_rate         numeric     NOT NULL,
    long_interval_hours  numeric   NOT NULL,
    short_interval_hours numeric   NOT NULL,
    spread_hourly      numeric     NOT NULL,
    gross_apr          numeric     NOT NULL,
    fees               numeric     NOT NULL,
    fee_mode           text        NOT NULL,
    hold_hours         numeric     NOT NULL,
    net_apr            numeric     NOT NULL,
    break_even_hours   numeric,
    min_volume_24h_usd numeric,
    min_oi_usd         numeric,
    oi_ratio           numeric,
    price_spread_pct   numeric,
    UNIQUE (cycle_id, symbol, long_dex, short_dex)
);
CREATE INDEX opportunities_computed ON opportunities (computed_at DESC);
CREATE INDEX opportunities_symbol_computed ON opportunities (symbol, computed_at DESC);
CREATE INDEX opportunities_net_apr ON opportunities (net_apr DESC);
CREATE INDEX opportunities_min_oi ON opportunities (min_oi_usd);
