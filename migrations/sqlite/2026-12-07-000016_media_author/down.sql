DROP INDEX media_unattached_author;
