-- A user's invites (Chat's UserChannels with status invited).
CREATE INDEX invites_identity ON invites (service_sid, identity, id);
