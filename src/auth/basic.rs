//! HTTP Basic authentication with `AccountSid:AuthToken`.
//!
//! argon2 costs ~20 ms of CPU, far too much per request, so successful
//! verifications are remembered for a short while. Each request still reads
//! the account's current hash (one indexed lookup), and a remembered success
//! only counts while that hash is unchanged: rotating a token, from this
//! process or any other instance, invalidates it at once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::config::HashCost;
use crate::db::Db;
use crate::error::ApiError;
use crate::sid::SidKind;

use super::accounts::{self, AccountRow};
use super::password;

/// Most entries the cache holds before it is pruned.
const CACHE_CAPACITY: usize = 10_000;

struct Remembered {
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

impl Authenticator {
    pub fn new(ttl: Duration, cost: HashCost) -> Self {
        Authenticator { ttl, cost, cache: Mutex::new(HashMap::new()), decoy: OnceLock::new() }
    }

    fn cache_key(user: &str, secret: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        h.update(secret.as_bytes());
        h.finalize().into()
    }

    fn remembered(&self, key: &[u8; 32], phc: &str) -> bool {
        let cache = self.cache.lock().expect("auth cache poisoned");
        cache.get(key).is_some_and(|r| r.phc == phc && r.until > Instant::now())
    }

    fn remember(&self, key: [u8; 32], phc: String) {
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
        cache.insert(key, Remembered { phc, until: Instant::now() + self.ttl });
    }

    /// Verifies Basic credentials; unknown SID and wrong token fail alike.
    pub async fn authenticate(&self, db: &Db, user: &str, secret: &str) -> Result<AccountRow, ApiError> {
        let account = if SidKind::Account.matches(user) {
            let sid = user.to_owned();
            db.run(move |conn| Ok(accounts::find(conn, &sid)?)).await?
        } else {
            None
        };
        let key = Self::cache_key(user, secret);
        if let Some(account) = &account
            && self.remembered(&key, &account.auth_token_hash)
        {
            return Ok(account.clone());
        }

        let phc = match &account {
            Some(a) => a.auth_token_hash.clone(),
            None => self.decoy.get_or_init(|| password::hash("decoy", self.cost)).clone(),
        };
        let secret = secret.to_owned();
        let verify_phc = phc.clone();
        let ok = actix_web::web::block(move || password::verify(&secret, &verify_phc)).await?;
        match account {
            Some(account) if ok => {
                self.remember(key, phc);
                Ok(account)
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
    fn remembered_success_needs_the_same_stored_hash() {
        let auth = Authenticator::new(Duration::from_secs(60), HashCost::TESTING);
        let key = Authenticator::cache_key("AC1", "secret");
        auth.remember(key, "hash-1".into());
        assert!(auth.remembered(&key, "hash-1"));
        assert!(!auth.remembered(&key, "hash-2"), "a rotated token must not stay cached");
        assert!(!auth.remembered(&Authenticator::cache_key("AC1", "other"), "hash-1"));
    }
}
