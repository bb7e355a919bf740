DROP INDEX invites_identity;
