//! What every request and background task shares: the database, the
//! configuration, the master keys, the media storage and authentication.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::web;
use tokio::sync::{Notify, Semaphore};

use crate::auth::rate::RateLimits;
use crate::auth::{self, Auth};
use crate::config::Config;
use crate::db::{Db, migrations};
use crate::keys::MasterKeys;
use crate::storage::Storage;
use crate::store;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Uploads that may stream at once; more wait their turn, which bounds the
/// memory uploads can hold (each buffers at most a few object-store parts).
const CONCURRENT_UPLOADS: usize = 16;

/// How many uploads each end user has in progress on this instance, so no
/// one user holds every upload slot.
#[derive(Default)]
pub struct UserUploads(Mutex<HashMap<String, usize>>);

/// One upload of a user in progress: counted until dropped.
pub struct UserUpload<'a> {
    uploads: &'a UserUploads,
    user: String,
}

impl UserUploads {
    /// Counts an upload of `user` (account, service and identity), unless
    /// it already has `max` in progress.
    pub fn take(&self, user: String, max: usize) -> Option<UserUpload<'_>> {
        let mut held = self.0.lock().expect("user uploads lock");
        let count = held.entry(user.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(UserUpload { uploads: self, user })
    }

    /// Uploads of end users in progress on this instance.
    pub fn in_progress(&self) -> usize {
        self.0.lock().expect("user uploads lock").values().sum()
    }
}

impl Drop for UserUpload<'_> {
    fn drop(&mut self) {
        let mut held = self.uploads.0.lock().expect("user uploads lock");
        if let Some(count) = held.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.user);
            }
        }
    }
}

/// Shared by every worker; cheap to clone behind `web::Data`.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub keys: Arc<MasterKeys>,
    pub storage: Storage,
    pub(crate) auth: web::Data<Auth>,
    /// Wakes the collector to delete objects right after a commit.
    pub(crate) collector: Arc<Notify>,
    pub uploads: Semaphore,
    /// How many upload slots there are (`uploads`' permits when none is taken).
    pub upload_slots: usize,
    /// Uploads in progress per end user (`config.media.user_uploads`).
    pub user_uploads: UserUploads,
    /// The live streams of this instance (src/live).
    pub hub: Arc<crate::live::Hub>,
    /// Webhook requests and deliveries (src/webhooks).
    pub(crate) webhooks: Arc<crate::webhooks::Webhooks>,
}

impl AppState {
    /// Connects to the database and applies pending migrations. Blocking:
    /// call before the server starts (or from a blocking context).
    pub fn initialize(config: Config) -> Result<AppState, BoxError> {
        if config.metrics.enabled() {
            crate::telemetry::install_metrics();
        }
        // The embedded defaults keep their files here: say so by name if it
        // cannot be made, rather than as a database or key-file error later.
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("CONFAB_DATA_DIR: cannot create {}: {e}", config.data_dir.display()))?;
        let db = Db::connect(&config.database_url, config.db_pool_size, config.db_timeouts)
            .map_err(|e| format!("DATABASE_URL: cannot connect to {:?}: {e}", config.database_url))?;
        let db = if config.stream.announce { db } else { db.without_announcements() };
        // Migrations on a connection of their own, without the pool's
        // statement timeout: an index on a large table takes what it takes.
        let mut migrating = crate::db::establish(&config.database_url)
            .map_err(|e| format!("DATABASE_URL: cannot connect: {e}"))?;
        let applied =
            migrations::run_pending(&mut migrating).map_err(|e| format!("migrations failed: {e}"))?;
        for name in &applied {
            tracing::info!(migration = %name, "migration applied");
        }
        let storage = Storage::open(&config.media.storage).map_err(|e| format!("CONFAB_STORAGE_URL: {e}"))?;
        // The key check waits for the start-up lock and, on a database from
        // before keys were recorded, scans what is sealed: no pool timeouts.
        let keys = Arc::new(
            MasterKeys::load(&config, db.clone(), &mut migrating).map_err(|e| format!("master key: {e}"))?,
        );
        drop(migrating);
        let auth = Auth::new(
            db.clone(),
            keys.clone(),
            config.auth_cache_ttl,
            config.hash_cost,
            config.public_url.clone(),
            RateLimits::new(config.rate_limit_user, config.rate_limit_account),
        );
        Ok(AppState {
            hub: crate::live::Hub::new(db.clone(), format!("{}/v1", config.public_url), config.stream),
            auth: web::Data::new(auth),
            collector: Arc::new(Notify::new()),
            webhooks: Arc::new(crate::webhooks::Webhooks::new(
                db.clone(),
                keys.clone(),
                config.webhooks.clone(),
            )),
            uploads: Semaphore::new(CONCURRENT_UPLOADS),
            upload_slots: CONCURRENT_UPLOADS,
            user_uploads: UserUploads::default(),
            config: Arc::new(config),
            keys,
            storage,
            db,
        })
    }

    /// Replaces the storage (tests wrap it to count or fail requests).
    pub fn set_storage(&mut self, storage: Storage) {
        self.storage = storage;
    }

    /// `CONFAB_ACCOUNT_SID`/`CONFAB_AUTH_TOKEN` create that account if it is
    /// missing; with neither set and no account at all, one is created and
    /// its credentials printed once to stderr.
    pub fn bootstrap_accounts(&self) -> Result<(), BoxError> {
        // Waits for the start-up lock, which another instance's migrations
        // may hold for long: a connection without the pool's lock timeout.
        let mut conn = crate::db::establish(&self.config.database_url)?;
        let cost = self.config.hash_cost;
        let bootstrap = self.config.bootstrap_account.clone();
        let keyring = self.keys.keyring();
        // Under the start-up lock: instances starting together create the
        // account once between them.
        migrations::exclusive(&mut conn, |conn| {
            match &bootstrap {
                Some((sid, token)) => {
                    if store::accounts::find(conn, sid)?.is_none() {
                        auth::accounts::create(
                            conn,
                            "Confab account",
                            Some(sid),
                            Some(token),
                            cost,
                            &keyring,
                        )
                        .map_err(|e| format!("creating CONFAB_ACCOUNT_SID account: {e}"))?;
                        tracing::info!(account_sid = %sid, "account created from CONFAB_ACCOUNT_SID");
                    }
                }
                None => {
                    if store::accounts::count(conn)? == 0 {
                        let creds =
                            auth::accounts::create(conn, "Confab account", None, None, cost, &keyring)
                                .map_err(|e| format!("creating the first account: {e}"))?;
                        eprintln!(
                            "\nConfab created an account (shown once; keep the token):\n  Account SID: {}\n  Auth Token:  {}\n",
                            creds.account_sid, creds.auth_token
                        );
                    }
                }
            }
            Ok(())
        })
    }
}
