ALTER TABLE webhook_cursor DROP COLUMN leased_until;
ALTER TABLE webhook_cursor DROP COLUMN owner;
