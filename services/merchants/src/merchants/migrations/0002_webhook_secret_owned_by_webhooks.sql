-- Webhook signing secrets belong to the webhooks service alone (it creates them, the test
-- merchant's included): the merchants service keeps none.
ALTER TABLE merchant DROP COLUMN webhook_secret;
