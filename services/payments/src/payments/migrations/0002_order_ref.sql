-- What payments needs of each order, kept from `order.created` events (and filled from the
-- orders service's internal API when a payment arrives before the event). Never changes.
CREATE TABLE order_ref (
    id           varchar(64) PRIMARY KEY,
    merchant_id  uuid        NOT NULL,
    amount_minor bigint      NOT NULL,
    currency     char(3)     NOT NULL
);
