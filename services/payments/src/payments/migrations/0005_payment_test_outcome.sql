-- Test outcomes per request (issue 25): in test mode a documented VPA or card number decides
-- its payment's outcome. The card number is never stored, so the outcome is decided at
-- creation and kept here ('success' or a failure code); NULL everywhere else.
ALTER TABLE payment ADD COLUMN test_outcome varchar(32);
