//! One master key per cluster. The database records each master key's
//! fingerprint ([`SecretKey::id`], never the key) and which one is current;
//! every instance seals under that one, whatever it was configured with,
//! and an instance that does not hold it refuses to start instead of
//! storing media nobody else can open. A key is generated only for an
//! empty database.
//!
//! Rotation is therefore a rolling change (README, "Running several
//! instances"): every instance first accepts the new key (configured
//! beside the current one; recorded as `accepted`), then
//! `confab admin rotate-master-key` makes it current (running instances
//! follow within about a second: [`super::MasterKeys::refresh`]) and
//! re-seals every row under it, then `confab admin retire-master-key`
//! re-seals any stragglers and retires the old key, which instances may then drop.

use crate::config::Config;
use crate::db::DbConnection;
use crate::db::migrations;
use crate::store::master_keys;

use super::file::{self, KeySource};
use super::keyring::Keyring;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What was configured, for messages: where the keys come from.
fn origin(config: &Config, source: Option<&KeySource>) -> String {
    match source {
        Some(KeySource::Environment) => "CONFAB_MASTER_KEY and CONFAB_PREVIOUS_MASTER_KEYS".to_owned(),
        Some(KeySource::File(path)) => format!("{} and {}.previous", path.display(), path.display()),
        None => format!("no CONFAB_MASTER_KEY and no {}", file::key_path(config).display()),
    }
}

/// The keys this instance runs with, checked against the database's record
/// (under the start-up lock, so instances starting together on an empty
/// database agree on one key). The keyring's current key is the cluster's.
pub fn agree(conn: &mut DbConnection, config: &Config) -> Result<(Keyring, KeySource), BoxError> {
    migrations::exclusive(conn, |conn| {
        let recorded = master_keys::current(conn)?;
        let configured = file::configured(config)?;
        let Some(current) = recorded else {
            return first_record(conn, config, configured);
        };
        let Some((keyring, source)) = configured else {
            return Err(format!(
                "this database's master key is {current}, and this instance has {}. Give every \
                 instance the cluster's key: set CONFAB_MASTER_KEY to it, or copy master.key from \
                 an instance that has it (a new key is generated only for an empty database)",
                origin(config, None)
            )
            .into());
        };
        let Some(agreed) = keyring.with_current(&current) else {
            return Err(format!(
                "master key mismatch: this database's current master key is {current}, and {} \
                 hold {}. Set CONFAB_MASTER_KEY to the cluster's key (during a rotation, keep the \
                 current key and add the new one to CONFAB_PREVIOUS_MASTER_KEYS)",
                origin(config, Some(&source)),
                keyring.ids().join(", ")
            )
            .into());
        };
        let recorded = master_keys::all(conn)?;
        for id in keyring.ids() {
            match recorded.iter().find(|row| row.key_id == id) {
                None => {
                    master_keys::accept(conn, &id)?;
                    tracing::info!(key_id = %id, "master key accepted: it may become current with `confab admin rotate-master-key`");
                }
                Some(row) if row.state == master_keys::RETIRED => {
                    tracing::warn!(key_id = %id, "this instance holds a retired master key; it may be removed from its configuration")
                }
                Some(_) => {}
            }
        }
        if keyring.current_id() != current {
            tracing::info!(
                configured = %keyring.current_id(),
                current = %current,
                "sealing under the cluster's current master key; `confab admin rotate-master-key` makes the configured key current"
            );
        }
        Ok((agreed, source))
    })
}

/// No key recorded yet: a new database, or one from before keys were
/// recorded. Whatever is sealed must open with the configured keys; a key
/// is generated only if nothing is sealed at all.
fn first_record(
    conn: &mut DbConnection,
    config: &Config,
    configured: Option<(Keyring, KeySource)>,
) -> Result<(Keyring, KeySource), BoxError> {
    let sealed = master_keys::sealed_under(conn)?;
    let (keyring, source) = match configured {
        Some(found) => found,
        None if sealed.is_empty() => file::generate(config)?,
        None => {
            return Err(format!(
                "this database holds rows sealed under master key {}, and this instance has {}. \
                 Restore the key file or set CONFAB_MASTER_KEY (a new key is generated only for \
                 an empty database)",
                sealed.iter().cloned().collect::<Vec<_>>().join(", "),
                origin(config, None)
            )
            .into());
        }
    };
    let unknown: Vec<_> = sealed.iter().filter(|id| !keyring.knows(id)).cloned().collect();
    if !unknown.is_empty() {
        return Err(format!(
            "master key mismatch: this database holds rows sealed under {}, which {} do not hold \
             (they hold {}). Configure the key(s) the database was written with",
            unknown.join(", "),
            origin(config, Some(&source)),
            keyring.ids().join(", ")
        )
        .into());
    }
    crate::db::transaction(conn, |tx| {
        let conn = tx.conn()?;
        master_keys::make_current(conn, &keyring.current_id())?;
        for key in keyring.previous() {
            master_keys::accept(conn, &key.id())?;
        }
        Ok::<_, crate::store::StoreError>(())
    })?;
    tracing::info!(key_id = %keyring.current_id(), "master key recorded as the cluster's current key");
    Ok((keyring, source))
}
