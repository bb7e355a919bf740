-- Programmable Chat v2 over the same rows as Conversations (src/handlers/chat/).

-- A channel's visibility: Chat creates 'public' channels by default;
-- Conversations only knows 'private' ones (which is what it creates).
ALTER TABLE conversations ADD COLUMN channel_type TEXT NOT NULL DEFAULT 'private'
    CHECK (channel_type IN ('public', 'private'));
-- Chat's channel list filters by type (public only, by default).
CREATE INDEX conversations_service_type ON conversations (service_sid, channel_type, id);

-- Chat shows who last changed a message and whether its body was edited.
ALTER TABLE messages ADD COLUMN last_updated_by TEXT;
ALTER TABLE messages ADD COLUMN was_edited BOOLEAN NOT NULL DEFAULT 0;

-- The Chat service's settings that Conversations has no field for.
ALTER TABLE services ADD COLUMN read_status_enabled BOOLEAN NOT NULL DEFAULT 1;
ALTER TABLE services ADD COLUMN typing_indicator_timeout BIGINT NOT NULL DEFAULT 5;
ALTER TABLE services ADD COLUMN consumption_report_interval BIGINT NOT NULL DEFAULT 10;
-- Enforced for both APIs: members per channel, channels per user. New
-- services get Chat's defaults; services that existed before keep room
-- (Twilio's maximum) rather than start refusing members they accepted.
ALTER TABLE services ADD COLUMN limit_channel_members BIGINT NOT NULL DEFAULT 100;
ALTER TABLE services ADD COLUMN limit_user_channels BIGINT NOT NULL DEFAULT 250;
UPDATE services SET limit_channel_members = 1000, limit_user_channels = 1000;
-- Push notification settings as Chat renders them (JSON object; keys appear once set).
ALTER TABLE services ADD COLUMN notifications TEXT NOT NULL DEFAULT '{}';
