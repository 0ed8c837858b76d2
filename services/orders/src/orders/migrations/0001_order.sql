-- "order" is an SQL keyword, so the table is merchant_order.
CREATE TABLE merchant_order (
    id           varchar(64)  PRIMARY KEY,
    merchant_id  uuid         NOT NULL,
    amount_minor bigint       NOT NULL CHECK (amount_minor >= 100),
    currency     char(3)      NOT NULL DEFAULT 'INR',
    receipt      varchar(255),
    notes        jsonb,
    status       varchar(20)  NOT NULL DEFAULT 'created',
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX merchant_order_merchant_created_idx ON merchant_order (merchant_id, created_at DESC, id DESC);
