-- Chat v2's webhooks (src/webhooks/chat.rs): a configuration speaks the
-- API it was last written through. 'chat' makes its deliveries and
-- pre-event calls use Chat's event names and parameters; its filters are
-- stored in that API's names.
ALTER TABLE service_webhooks ADD COLUMN api TEXT NOT NULL DEFAULT 'conversations';
-- Chat's PreWebhookRetryCount and PostWebhookRetryCount (0..3).
ALTER TABLE service_webhooks ADD COLUMN pre_retry_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE service_webhooks ADD COLUMN post_retry_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversation_webhooks ADD COLUMN api TEXT NOT NULL DEFAULT 'conversations';
-- A channel webhook's Configuration.RetryCount (0..3).
ALTER TABLE conversation_webhooks ADD COLUMN retry_count INTEGER NOT NULL DEFAULT 0;
-- How many attempts a delivery gets (Chat's retry counts + 1); NULL: until
-- the retry horizon, as Conversations' webhooks.
ALTER TABLE webhook_deliveries ADD COLUMN max_attempts INTEGER;
