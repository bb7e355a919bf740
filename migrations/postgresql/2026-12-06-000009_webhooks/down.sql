DROP TABLE webhook_cursor;
DROP TABLE webhook_deliveries;
DROP TABLE conversation_webhooks;
DROP TABLE service_webhooks;
ALTER TABLE events DROP COLUMN webhooks;
ALTER TABLE events DROP COLUMN client_identity;
ALTER TABLE events DROP COLUMN source;
ALTER TABLE accounts DROP COLUMN auth_token_sealed;
ALTER TABLE accounts DROP COLUMN auth_token_key_id;
