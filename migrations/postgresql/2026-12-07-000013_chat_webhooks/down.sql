ALTER TABLE webhook_deliveries DROP COLUMN max_attempts;
ALTER TABLE conversation_webhooks DROP COLUMN retry_count;
ALTER TABLE conversation_webhooks DROP COLUMN api;
ALTER TABLE service_webhooks DROP COLUMN post_retry_count;
ALTER TABLE service_webhooks DROP COLUMN pre_retry_count;
ALTER TABLE service_webhooks DROP COLUMN api;
