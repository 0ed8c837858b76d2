-- Payments. Only the card network and last four digits are kept: never the number or the CVV.
CREATE TABLE payment (
    id                    varchar(64)  PRIMARY KEY,
    order_id              varchar(64)  NOT NULL,
    merchant_id           uuid         NOT NULL,
    amount_minor          bigint       NOT NULL CHECK (amount_minor > 0),
    currency              char(3)      NOT NULL,
    method                varchar(20)  NOT NULL CHECK (method IN ('upi', 'card')),
    status                varchar(20)  NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    vpa                   varchar(255),
    card_network          varchar(20),
    card_last4            char(4),
    error_code            varchar(50),
    error_description     text,
    captured              boolean      NOT NULL DEFAULT false,
    captured_at           timestamptz,
    amount_refunded_minor bigint       NOT NULL DEFAULT 0 CHECK (amount_refunded_minor >= 0),
    created_at            timestamptz  NOT NULL,
    updated_at            timestamptz  NOT NULL,
    CHECK (amount_refunded_minor <= amount_minor),
    CHECK (NOT captured OR status = 'success')
);
CREATE INDEX payment_merchant_created_idx ON payment (merchant_id, created_at DESC, id DESC);
CREATE INDEX payment_order_idx ON payment (order_id);
CREATE INDEX payment_status_idx ON payment (status);
-- An order is paid at most once: a second success for the same order cannot be recorded.
CREATE UNIQUE INDEX payment_one_success_per_order_idx ON payment (order_id) WHERE status = 'success';
