ALTER TABLE conversations DROP COLUMN invite_only;
DROP TABLE invites;
