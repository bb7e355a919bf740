DROP FUNCTION confab_append_message;
