DROP TABLE messages;
DROP TABLE participants;
DROP TABLE conversations;
DROP TABLE users;
DROP TABLE roles;
DROP TABLE services;
DROP TABLE accounts;
