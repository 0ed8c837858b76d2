-- What may still be refunded of each successful payment. Every refund locks its row, so
-- concurrent refunds are serialised per payment and can never exceed the amount.
CREATE TABLE payment_balance (
    payment_id      varchar(64) PRIMARY KEY,
    merchant_id     uuid        NOT NULL,
    amount_minor    bigint      NOT NULL CHECK (amount_minor > 0),
    currency        char(3)     NOT NULL,
    refunded_minor  bigint      NOT NULL DEFAULT 0,   -- pending + processed refunds
    CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor)
);

CREATE TABLE refund (
    id           varchar(64) PRIMARY KEY,
    payment_id   varchar(64) NOT NULL REFERENCES payment_balance (payment_id),
    merchant_id  uuid        NOT NULL,
    amount_minor bigint      NOT NULL CHECK (amount_minor > 0),
    currency     char(3)     NOT NULL,
    reason       text,
    status       varchar(20) NOT NULL CHECK (status IN ('pending', 'processed')),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    processed_at timestamptz,
    CHECK ((status = 'processed') = (processed_at IS NOT NULL))
);
CREATE INDEX refund_payment_idx ON refund (payment_id);
CREATE INDEX refund_merchant_created_idx ON refund (merchant_id, created_at DESC, id DESC);
