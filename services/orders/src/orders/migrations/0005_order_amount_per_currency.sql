-- Currencies (issue 25): an order's minimum is one major unit of its currency (100 for INR and
-- USD, 1 for JPY; kit.currencies, checked by the API). The table keeps what holds for every
-- currency: a positive amount. NOT VALID, then VALIDATE: no long exclusive lock on a big table.
ALTER TABLE merchant_order DROP CONSTRAINT merchant_order_amount_minor_check;
ALTER TABLE merchant_order ADD CONSTRAINT merchant_order_amount_minor_check
    CHECK (amount_minor >= 1) NOT VALID;
ALTER TABLE merchant_order VALIDATE CONSTRAINT merchant_order_amount_minor_check;
