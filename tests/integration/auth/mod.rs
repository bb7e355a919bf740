//! Authentication and authorisation: Basic auth with Auth Tokens and API
//! keys, the 2010 Keys API, access tokens, and the permission matrix.

mod access_tokens;
mod api_keys;
mod basic;
mod console;
mod permissions;
