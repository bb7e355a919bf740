//! The Auth Tokens webhook requests are signed with, opened from their seal
//! under the master key and kept for [`TOKEN_TTL`]: a rotated token signs
//! within that long.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::error::ApiError;
use crate::keys::MasterKeys;
use crate::keys::keyring::Purpose;
use crate::store;

/// How long an opened Auth Token is reused before it is read again.
const TOKEN_TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Tokens(Mutex<HashMap<String, (Option<String>, Instant)>>);

impl Tokens {
    /// The account's Auth Token; `None` when it is not known (an account
    /// created before tokens were sealed, until its token is next used).
    pub async fn get(&self, db: &Db, keys: &MasterKeys, account_sid: &str) -> Option<String> {
        if let Some((token, at)) = self.0.lock().expect("tokens lock").get(account_sid)
            && at.elapsed() < TOKEN_TTL
        {
            return token.clone();
        }
        let sid = account_sid.to_owned();
        let sealed =
            db.read(move |conn| Ok::<_, ApiError>(store::accounts::sealed_auth_token(conn, &sid)?)).await;
        let token = match sealed {
            Ok(Some((key_id, sealed))) => {
                let keyring = keys.keyring_for(&key_id).await;
                match keyring.open(Purpose::AuthToken, account_sid, &key_id, &sealed) {
                    Ok(bytes) => String::from_utf8(bytes).ok(),
                    Err(e) => {
                        tracing::error!(account_sid, error = %e, "the account's sealed Auth Token does not open");
                        None
                    }
                }
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(account_sid, error = %e, "reading the account's Auth Token failed");
                return None;
            }
        };
        self.0.lock().expect("tokens lock").insert(account_sid.to_owned(), (token.clone(), Instant::now()));
        token
    }
}
