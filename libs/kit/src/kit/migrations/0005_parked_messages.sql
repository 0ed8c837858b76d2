-- A message this version cannot run (a task or event type it does not know, during a rolling
-- deploy) is parked, not acknowledged into the void (ADR 0011): kept here, tried again every
-- minute by whichever version runs, and listed by `python -m kit.messages list`.
ALTER TABLE failed_message ADD COLUMN parked_at timestamptz;
