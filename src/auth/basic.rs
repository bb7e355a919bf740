//! HTTP Basic authentication with `AccountSid:AuthToken`.
//!
//! argon2 costs ~20 ms of CPU, far too much per request, so successful
//! verifications are remembered for a short while, keyed by a hash of the
//! credentials and tied to the stored hash they were checked against. Every
//! request still reads the account's current hash (in the same database
//! round as the request's own work, see [`super::Caller`]) and a remembered
//! success only counts while that hash is unchanged: rotating a token, from
//! this process or any other instance, invalidates it at once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::config::HashCost;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::sid::SidKind;
use crate::store;
use crate::store::accounts::AccountRow;

use super::password;

/// Most entries the cache holds before it is pruned.
const CACHE_CAPACITY: usize = 10_000;

#[derive(Clone)]
struct Remembered {
    account_sid: String,
    /// The stored hash the secret was verified against.
    phc: String,
    until: Instant,
}

pub struct Authenticator {
    ttl: Duration,
    cost: HashCost,
    cache: Mutex<HashMap<[u8; 32], Remembered>>,
    /// Verified against when the SID is unknown, so that case costs the same
    /// time as a wrong token.
    decoy: OnceLock<String>,
    /// Bounds concurrent argon2 verifications (CPU and memory heavy).
    hashing: tokio::sync::Semaphore,
}

/// `user:password` from an `Authorization: Basic …` header.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Loads what the username names: an account (`AC…`, checked against its
/// Auth Token) or an API key (`SK…`, checked against its secret), with the
/// stored hash to verify. Other usernames need no query.
pub fn lookup(conn: &mut DbConnection, user: &str) -> Result<Option<(AccountRow, String)>, ApiError> {
    if SidKind::Account.matches(user) {
        Ok(store::accounts::find(conn, user)?.map(|a| {
            let phc = a.auth_token_hash.clone();
            (a, phc)
        }))
    } else if SidKind::ApiKey.matches(user) {
        Ok(store::api_keys::find_with_account(conn, user)?.map(|(key, account)| (account, key.secret_hash)))
    } else {
        Ok(None)
    }
}

impl Authenticator {
    pub fn new(ttl: Duration, cost: HashCost) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Authenticator {
            ttl,
            cost,
            cache: Mutex::new(HashMap::new()),
            decoy: OnceLock::new(),
            hashing: tokio::sync::Semaphore::new(cpus),
        }
    }

    pub fn cache_key(user: &str, secret: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        h.update(secret.as_bytes());
        h.finalize().into()
    }

    /// A still-fresh earlier success for these credentials: the account and
    /// the stored hash it was verified against (to be re-checked by the caller).
    pub fn remembered(&self, key: &[u8; 32]) -> Option<(String, String)> {
        let cache = self.cache.lock().expect("auth cache poisoned");
        cache.get(key).filter(|r| r.until > Instant::now()).map(|r| (r.account_sid.clone(), r.phc.clone()))
    }

    fn remember(&self, key: [u8; 32], account_sid: &str, phc: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().expect("auth cache poisoned");
        if cache.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            cache.retain(|_, r| r.until > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        let until = Instant::now() + self.ttl;
        cache.insert(key, Remembered { account_sid: account_sid.to_owned(), phc: phc.to_owned(), until });
    }

    pub fn forget(&self, key: &[u8; 32]) {
        self.cache.lock().expect("auth cache poisoned").remove(key);
    }

    /// Checks the secret against the account's stored hash; unknown SID and
    /// wrong token fail alike (the unknown case verifies against a decoy
    /// hash so it costs the same time). argon2 runs on the blocking pool
    /// without holding a database connection, and at most a few at once, so
    /// a flood of bad credentials cannot starve the pool.
    pub async fn check(
        &self,
        user: &str,
        secret: &str,
        found: Option<(AccountRow, String)>,
    ) -> Result<(AccountRow, String), ApiError> {
        let key = Self::cache_key(user, secret);
        if let Some((account, phc)) = &found
            && self.remembered(&key).is_some_and(|(_, remembered)| remembered == *phc)
        {
            return Ok((account.clone(), phc.clone()));
        }
        let stored = match &found {
            Some((_, phc)) => phc.clone(),
            None => self.decoy.get_or_init(|| password::hash("decoy", self.cost)).clone(),
        };
        let _permit = self.hashing.acquire().await.map_err(ApiError::internal)?;
        let secret = secret.to_owned();
        let ok = actix_web::web::block(move || password::verify(&secret, &stored)).await?;
        match found {
            Some((account, phc)) if ok => {
                self.remember(key, &account.sid, &phc);
                Ok((account, phc))
            }
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_headers() {
        let h = format!("Basic {}", STANDARD.encode("ACabc:tok:en"));
        assert_eq!(parse_basic(&h), Some(("ACabc".into(), "tok:en".into())));
        assert_eq!(parse_basic("Bearer xyz"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))), None);
    }

    #[test]
    fn remembered_successes_carry_the_hash_they_were_checked_against() {
        let auth = Authenticator::new(Duration::from_secs(60), HashCost::TESTING);
        let key = Authenticator::cache_key("AC1", "secret");
        auth.remember(key, "AC1", "hash-1");
        assert_eq!(auth.remembered(&key), Some(("AC1".into(), "hash-1".into())));
        assert_eq!(auth.remembered(&Authenticator::cache_key("AC1", "other")), None);
        auth.forget(&key);
        assert_eq!(auth.remembered(&key), None);
    }

    #[test]
    fn zero_ttl_remembers_nothing() {
        let auth = Authenticator::new(Duration::ZERO, HashCost::TESTING);
        let key = Authenticator::cache_key("AC1", "secret");
        auth.remember(key, "AC1", "hash-1");
        assert_eq!(auth.remembered(&key), None);
    }
}
