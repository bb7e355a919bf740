-- The send functions move out of migration history into src/db/sql/, which
-- every start re-applies (as schema confab_fn) when its text changes: what a
-- send does is changed by editing that file, not by a new migration. Who
-- may send is now decided in Rust, so confab_append_user_message (000005)
-- has no successor.
DROP FUNCTION confab_append_message;
DROP FUNCTION confab_append_user_message;
