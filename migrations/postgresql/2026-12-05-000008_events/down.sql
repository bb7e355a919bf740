DROP TABLE event_log;
DROP TABLE events;
