-- The API key Confab keeps for the console's access tokens (POST /console/token), per account;
-- an ordinary key the account can see and revoke.
ALTER TABLE accounts ADD COLUMN console_key_sid TEXT;
