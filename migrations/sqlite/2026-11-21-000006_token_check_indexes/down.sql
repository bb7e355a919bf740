DROP INDEX conversations_service_check;
DROP INDEX participants_member_check;
DROP INDEX roles_permissions;
DROP INDEX users_identity_check;
DROP INDEX api_keys_check;
