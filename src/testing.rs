//! What the integration tests and benchmarks reach inside Confab, beyond
//! the HTTP API: rows and the database under them, the storage, the keys
//! and the background passes. Not a stable API.

pub use crate::auth::accounts::{NewCredentials, create as create_account, rotate_auth_token};
pub use crate::background::collector::{self, Pass};
pub use crate::background::{event_log, timers};
pub use crate::db::openssl::skip_cleanup_at_exit;
pub use crate::db::{Db, DbConnection, DbError, Tx, establish, migrations, schema};
pub use crate::domain::{EventKind, permission};
pub use crate::keys::keyring::{Keyring, SecretKey};
pub use crate::keys::signed_url::UrlSigner;
pub use crate::keys::{MasterKeys, rotate};
pub use crate::sid::SidKind;
pub use crate::storage::Storage;
pub use crate::store::StoreError;
pub use crate::store::events::{self as event_store, EventRow};
pub use crate::store::master_keys;
pub use crate::store::media::{MediaRow, NewMedia};
pub use crate::store::messages::{self as message_store, Author, NewMessage};
pub use crate::views::events::frame as event_frame;

/// Twilio's dates, and the clock every row is stamped with.
pub mod time {
    pub use crate::time::{format, now, parse};
}

/// Runs `f` in a write transaction, as the server's own writes run.
pub async fn transaction<T, F>(db: &Db, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    db.write(|_| Ok(()), move |tx, ()| f(tx.conn()?)).await
}

/// Starts the background loops as `confab serve` does (nothing when the
/// configuration switches them off); dropping the result stops them.
pub fn start_background(state: &actix_web::web::Data<crate::app::AppState>) -> crate::background::Background {
    crate::background::start(state)
}

/// Webhook deliveries still owed (sent, retried or not yet attempted).
pub async fn pending_deliveries(db: &Db) -> i64 {
    db.read(crate::store::deliveries::pending).await.expect("count deliveries")
}

/// A push credential's secrets as stored (the master key's id, the sealed
/// bytes) and as the current master keys open them (JSON).
pub async fn push_credential_secrets(
    state: &actix_web::web::Data<crate::app::AppState>,
    account_sid: &str,
    sid: &str,
) -> (String, Vec<u8>, String) {
    let (account_sid, sid) = (account_sid.to_owned(), sid.to_owned());
    let row = state
        .db
        .read(move |conn| crate::store::push_credentials::find(conn, &account_sid, &sid))
        .await
        .expect("a push credential");
    let opened = state
        .keys
        .keyring_for(&row.key_id)
        .await
        .open(crate::keys::keyring::Purpose::PushCredential, &row.sid, &row.key_id, &row.secrets_sealed)
        .expect("sealed under a known master key");
    (row.key_id, row.secrets_sealed, String::from_utf8(opened).expect("JSON"))
}
