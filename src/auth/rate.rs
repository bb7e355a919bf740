//! Request rate limits, a token bucket per caller: per end user (account,
//! service, identity), and when configured per account for account
//! credentials. A bucket holds `burst` requests and refills at `per_sec`; a
//! request finding it empty is answered 429 with the seconds until the next
//! one is allowed. Buckets live in this instance: N instances behind a load
//! balancer allow up to N times the rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub use crate::config::Rate;
use crate::error::ApiError;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept before full ones (idle callers) are dropped.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimits {
    user: Option<Rate>,
    account: Option<Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    pub fn new(user: Option<Rate>, account: Option<Rate>) -> RateLimits {
        RateLimits { user, account, buckets: Mutex::new(HashMap::new()) }
    }

    /// An end user's request: within its rate, or 429.
    pub fn user(&self, account_sid: &str, service_sid: &str, identity: &str) -> Result<(), ApiError> {
        match self.user {
            Some(rate) => self.take(format!("u {account_sid} {service_sid} {identity}"), rate),
            None => Ok(()),
        }
    }

    /// A request with account credentials (Auth Token or API key).
    pub fn account(&self, account_sid: &str) -> Result<(), ApiError> {
        match self.account {
            Some(rate) => self.take(format!("a {account_sid}"), rate),
            None => Ok(()),
        }
    }

    fn take(&self, key: String, rate: Rate) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets lock");
        if buckets.len() > PRUNE_ABOVE {
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate.per_sec < rate.burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: rate.burst, at: now });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate.per_sec).min(rate.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / rate.per_sec).ceil().max(1.0) as u32;
        Err(ApiError::TooMany {
            message: format!(
                "Too many requests: at most {} a second (bursts of {}) from one caller",
                rate.per_sec, rate.burst
            ),
            retry_after_secs: wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limits = RateLimits::new(Rate::new(1, 3), None);
        for _ in 0..3 {
            assert!(limits.user("AC", "IS", "alice").is_ok());
        }
        assert!(matches!(
            limits.user("AC", "IS", "alice"),
            Err(ApiError::TooMany { retry_after_secs: 1, .. })
        ));
        assert!(limits.user("AC", "IS", "bob").is_ok(), "each user has its own bucket");
        assert!(limits.account("AC").is_ok(), "no account limit configured");
        assert_eq!(Rate::new(0, 10), None);
    }
}
