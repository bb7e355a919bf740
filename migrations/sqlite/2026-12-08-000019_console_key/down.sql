ALTER TABLE accounts DROP COLUMN console_key_sid;
