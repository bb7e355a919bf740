//! `confab admin …`: account and key administration from the command line,
//! on the configured database.

use crate::app::AppState;
use crate::auth::accounts::{self, NewCredentials};
use crate::config::Config;
use crate::keys::rotate::{self, Retirement, Rotation};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection of the command's own, without the pool's statement
/// timeout: a rotation re-wraps (and a retirement scans) every sealed row.
fn session(state: &AppState) -> Result<crate::db::DbConnection, BoxError> {
    Ok(crate::db::establish(&state.config.database_url)?)
}

/// Creates an account (with its default service); its token is shown once.
pub fn create_account(config: Config, friendly_name: &str) -> Result<NewCredentials, BoxError> {
    let cost = config.hash_cost;
    let state = AppState::initialize(config)?;
    let keyring = state.keys.keyring();
    Ok(accounts::create(&mut session(&state)?, friendly_name, None, None, cost, &keyring)?)
}

/// Replaces an account's Auth Token; returns the new one.
pub fn rotate_auth_token(config: Config, account_sid: &str) -> Result<String, BoxError> {
    let cost = config.hash_cost;
    let state = AppState::initialize(config)?;
    let keyring = state.keys.keyring();
    accounts::rotate_auth_token(&mut session(&state)?, account_sid, cost, &keyring)
        .map_err(|e| format!("{account_sid}: {e}").into())
}

/// Re-wraps every data key and API key secret under the current master key
/// (see `keys::rotate`).
pub fn rotate_master_key(config: Config, new_key: Option<[u8; 32]>) -> Result<Rotation, BoxError> {
    let state = AppState::initialize(config)?;
    Ok(rotate::run(&state.config, &mut session(&state)?, new_key)?)
}

/// Retires a master key that is no longer current (see `keys::rotate`).
pub fn retire_master_key(config: Config, key_id: &str) -> Result<Retirement, BoxError> {
    let state = AppState::initialize(config)?;
    Ok(rotate::retire(&state.config, &mut session(&state)?, key_id)?)
}
