-- An end user's media not attached to a message: its quota (store::media::unattached_of).
CREATE INDEX media_unattached_author ON media (service_sid, author) WHERE state <> 'attached';
