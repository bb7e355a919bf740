-- The fan-out's cursor is leased by one instance at a time (its `Db`
-- instance number, until `leased_until` in ms): that instance sends the
-- first attempt of the deliveries it reads before it moves the cursor past
-- them, so a delivery answered at once is never written as a row. Another
-- instance takes over when the lease runs out, from the cursor.
ALTER TABLE webhook_cursor ADD COLUMN owner BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_cursor ADD COLUMN leased_until BIGINT NOT NULL DEFAULT 0;
