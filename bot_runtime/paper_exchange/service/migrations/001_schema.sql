-- The paper exchange's state, in its own schema (the funding service's tables live in public): everything a
-- restarted service needs to continue exactly where it stopped. Money and sizes are numeric (Decimal), never float.

CREATE TABLE paper_exchange.venues (
    name           text PRIMARY KEY,
    epoch          double precision NOT NULL,           -- time of step 0 of the synthetic price paths
    funding_period bigint NOT NULL,                     -- the period whose funding is paid next
    cursor         jsonb NOT NULL DEFAULT '{}'::jsonb,  -- market source progress (symbol -> step index)
    last_order     bigint NOT NULL DEFAULT 0,
    last_trade     bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE paper_exchange.accounts (
    venue            text NOT NULL REFERENCES paper_exchange.venues (name),
    account          text NOT NULL,
    starting_balance numeric NOT NULL,
    seq              bigint NOT NULL DEFAULT 0,          -- number of the account's last order update
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue, account)
);

CREATE TABLE paper_exchange.orders (
    venue           text NOT NULL,
    order_id        text NOT NULL,
    account         text NOT NULL,
    client_order_id text,
    symbol          text NOT NULL,
    side            text NOT NULL,
    order_type      text NOT NULL,
    time_in_force   text NOT NULL,
    price           numeric,
    size            numeric NOT NULL,
    filled_size     numeric NOT NULL,
    avg_fill_price  numeric,
    status          text NOT NULL,
    reduce_only     boolean NOT NULL,
    cancel_reason   text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (venue, order_id),
    FOREIGN KEY (venue, account) REFERENCES paper_exchange.accounts (venue, account),
    UNIQUE (venue, account, client_order_id)
);

CREATE TABLE paper_exchange.positions (
    venue        text NOT NULL,
    account      text NOT NULL,
    symbol       text NOT NULL,
    size         numeric NOT NULL,
    avg_entry    numeric,
    realized_pnl numeric NOT NULL,
    funding_pnl  numeric NOT NULL,
    fees         numeric NOT NULL,
    volume       numeric NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue, account, symbol),
    FOREIGN KEY (venue, account) REFERENCES paper_exchange.accounts (venue, account)
);

CREATE TABLE paper_exchange.fills (
    venue           text NOT NULL,
    trade_id        text NOT NULL,
    account         text NOT NULL,
    order_id        text NOT NULL,
    client_order_id text,
    symbol          text NOT NULL,
    side            text NOT NULL,
    price           numeric NOT NULL,
    size            numeric NOT NULL,
    fee             numeric NOT NULL,
    liquidity       text NOT NULL,
    filled_at       timestamptz NOT NULL,
    PRIMARY KEY (venue, trade_id),
    FOREIGN KEY (venue, account) REFERENCES paper_exchange.accounts (venue, account)
);
CREATE INDEX fills_account_time ON paper_exchange.fills (venue, account, filled_at);

CREATE TABLE paper_exchange.funding_payments (
    id       bigserial PRIMARY KEY,
    venue    text NOT NULL,
    account  text NOT NULL,
    symbol   text NOT NULL,
    amount   numeric NOT NULL,
    rate     numeric NOT NULL,
    mark     numeric NOT NULL,
    size     numeric NOT NULL,
    paid_at  timestamptz NOT NULL,
    FOREIGN KEY (venue, account) REFERENCES paper_exchange.accounts (venue, account)
);
CREATE INDEX funding_payments_account_time ON paper_exchange.funding_payments (venue, account, paid_at);

-- every order update of an account, numbered: a client that reconnects with the last number it saw is sent the rest
CREATE TABLE paper_exchange.order_events (
    venue      text NOT NULL,
    account    text NOT NULL,
    seq        bigint NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue, account, seq),
    FOREIGN KEY (venue, account) REFERENCES paper_exchange.accounts (venue, account)
);
