-- The currencies a merchant's orders may be in (issue 25): NULL, every currency in use
-- (kit.currencies); else an allow-list the merchant sets with PUT /api/v1/merchant/currencies.
ALTER TABLE merchant ADD COLUMN currencies text[];
