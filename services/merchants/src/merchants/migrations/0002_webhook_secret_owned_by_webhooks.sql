-- Webhook signing secrets belong to the webhooks service alone (it creates them, the test
-- merchant's included): the merchants service keeps none. Emptied, not dropped, so pods of the
-- previous release still running during a rollout keep working; a later release drops it.
ALTER TABLE merchant ALTER COLUMN webhook_secret SET DEFAULT NULL;
UPDATE merchant SET webhook_secret = NULL WHERE webhook_secret IS NOT NULL;
