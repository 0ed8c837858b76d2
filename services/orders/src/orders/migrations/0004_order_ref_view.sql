-- What payments needs of an order, published as a read-only view (ADR 0011): part of the orders
-- service's interface, versioned like an API (a change that is not additive is a new view,
-- order_ref_v2, kept beside v1 until payments has moved). Checked by tests/contract.
CREATE VIEW order_ref_v1 AS
    SELECT id, merchant_id, amount_minor, currency FROM merchant_order;
GRANT USAGE ON SCHEMA orders TO payments;
GRANT SELECT ON order_ref_v1 TO payments;
