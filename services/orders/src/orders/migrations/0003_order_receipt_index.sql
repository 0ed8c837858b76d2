-- The dashboard finds orders by their receipt (GET /api/v1/orders?receipt=).
CREATE INDEX merchant_order_receipt_idx ON merchant_order (merchant_id, receipt)
    WHERE receipt IS NOT NULL;
