//! End-user access tokens in Twilio's format, as the official helper
//! libraries' `AccessToken` + `ChatGrant` mint them: an HS256 JWT signed
//! with an API key's secret, `iss` = the key SID, `sub` = the account SID,
//! `grants.identity` and `grants.chat.service_sid`.
//!
//! Verifying one needs the key's secret, which is stored sealed under the
//! master key. A verified token is remembered (keyed by a hash of the token)
//! until it expires or the cache's TTL passes, whichever is first, and like
//! Basic credentials it is tied to the key's stored hash: every request
//! re-reads the key inside its own database work, so revoking the key stops
//! the token at once, cache included.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::limits;
use crate::error::ApiError;
use crate::keys::keyring::{Keyring, Purpose};
use crate::sid::SidKind;
use crate::store::api_keys::ApiKeyRow;
use crate::time;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 60;
/// The longest validity a token may claim (Twilio's own limit).
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
const CACHE_CAPACITY: usize = 10_000;
/// The `cty` header of Twilio access tokens.
const CONTENT_TYPE: &str = "twilio-fpa;v=1";
/// The author of what account credentials send: no token may claim it.
pub const RESERVED_IDENTITY: &str = "system";

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    grants: Grants,
}

#[derive(Debug, Deserialize)]
struct Grants {
    identity: Option<String>,
    chat: Option<ChatGrant>,
}

#[derive(Debug, Deserialize)]
struct ChatGrant {
    service_sid: Option<String>,
    /// The app's identifier of the device: a push registration's endpoint.
    endpoint_id: Option<String>,
    /// The push credential (`CR…`) the app's registrations use.
    push_credential_sid: Option<String>,
}

/// What a verified token says, and what it was verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub account_sid: String,
    pub key_sid: String,
    /// The key's stored secret hash when the token was verified: the
    /// per-request re-check compares against it.
    pub key_hash: String,
    pub identity: String,
    pub service_sid: String,
    pub expires: i64,
    /// The chat grant's `endpoint_id` and `push_credential_sid`: what a
    /// push registration defaults to.
    pub endpoint_id: Option<String>,
    pub push_credential_sid: Option<String>,
}

#[derive(Clone)]
struct Remembered {
    verified: Verified,
    until: Instant,
}

pub struct TokenVerifier {
    ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], Remembered>>,
}

/// A token as the helper libraries mint one (`AccessToken` + `ChatGrant`),
/// for the console's "chat as": signed with `key_sid`'s `secret`, valid
/// for `ttl_secs` from now.
pub fn mint(
    key_sid: &str,
    secret: &[u8],
    account_sid: &str,
    identity: &str,
    service_sid: &str,
    ttl_secs: i64,
) -> Result<(String, i64), ApiError> {
    #[derive(Serialize)]
    struct Minted<'a> {
        jti: String,
        iss: &'a str,
        sub: &'a str,
        iat: i64,
        nbf: i64,
        exp: i64,
        grants: serde_json::Value,
    }
    let now = time::now();
    let exp = now + ttl_secs.clamp(1, MAX_LIFETIME_SECS);
    let claims = Minted {
        jti: format!("{key_sid}-{now}"),
        iss: key_sid,
        sub: account_sid,
        iat: now,
        nbf: now,
        exp,
        grants: serde_json::json!({"identity": identity, "chat": {"service_sid": service_sid}}),
    };
    let header = Header { cty: Some(CONTENT_TYPE.to_owned()), ..Header::new(Algorithm::HS256) };
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
        .map_err(ApiError::internal)?;
    Ok((token, exp))
}

/// The token of a request: `X-Twilio-Token: <jwt>` (the SDKs' header) or
/// `Authorization: Bearer <jwt>`.
pub fn from_headers(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-twilio-token") {
        return v.to_str().ok().map(|s| s.trim().to_owned());
    }
    let auth = headers.get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

fn invalid<E: std::fmt::Display>(why: E) -> ApiError {
    // The reason is for the log only: the caller learns nothing about which
    // check failed.
    tracing::debug!(reason = %why, "access token refused");
    ApiError::InvalidToken
}

impl TokenVerifier {
    pub fn new(ttl: Duration) -> Self {
        TokenVerifier { ttl, cache: Mutex::new(HashMap::new()) }
    }

    pub fn cache_key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// An earlier verification of this token, while it is still valid.
    pub fn remembered(&self, key: &[u8; 32]) -> Option<Verified> {
        let cache = self.cache.lock().expect("token cache poisoned");
        let hit = cache.get(key).filter(|r| r.until > Instant::now())?;
        (hit.verified.expires + LEEWAY_SECS > time::now()).then(|| hit.verified.clone())
    }

    fn remember(&self, key: [u8; 32], verified: &Verified) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().expect("token cache poisoned");
        if cache.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            cache.retain(|_, r| r.until > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key, Remembered { verified: verified.clone(), until: Instant::now() + self.ttl });
    }

    pub fn forget(&self, key: &[u8; 32]) {
        self.cache.lock().expect("token cache poisoned").remove(key);
    }

    /// The key SID a token names as its issuer, read before the signature
    /// is checked (the signature needs that key's secret). Nothing else of
    /// an unverified token is trusted.
    pub fn issuer(token: &str) -> Result<String, ApiError> {
        let claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(token).map_err(invalid)?.claims;
        if !SidKind::ApiKey.matches(&claims.iss) {
            return Err(invalid("iss is not an API key SID"));
        }
        Ok(claims.iss)
    }

    /// Verifies a token in full against its key (as the caller loaded it),
    /// and remembers the success.
    pub fn verify(
        &self,
        token: &str,
        key: Option<&ApiKeyRow>,
        keyring: &Keyring,
    ) -> Result<Verified, ApiError> {
        let key = key.ok_or_else(|| invalid("unknown API key"))?;
        let secret = keyring
            .open(Purpose::ApiKeySecret, &key.sid, &key.key_id, &key.secret_sealed)
            .map_err(|_| invalid("key secret cannot be opened"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS as u64;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.set_issuer(&[&key.sid]);
        validation.sub = Some(key.account_sid.clone());
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&secret), &validation)
            .map_err(invalid)?;
        // Twilio's header, as every helper library writes it.
        if data.header.cty.as_deref() != Some(CONTENT_TYPE) {
            return Err(invalid("cty is not twilio-fpa;v=1"));
        }
        let claims = data.claims;
        let now = time::now();
        let start = claims.nbf.or(claims.iat).unwrap_or(now);
        if claims.exp - start > MAX_LIFETIME_SECS || claims.exp - now > MAX_LIFETIME_SECS + LEEWAY_SECS {
            return Err(invalid("lifetime over 24 h"));
        }
        let identity = claims.grants.identity.filter(|i| !i.is_empty() && !i.contains('\0'));
        let identity = identity.ok_or_else(|| invalid("no identity grant"))?;
        // `system` is the author of everything account credentials send and
        // upload; a user by that name would own all of it.
        if identity == RESERVED_IDENTITY {
            return Err(invalid("reserved identity"));
        }
        if identity.chars().count() > limits::IDENTITY_CHARS {
            return Err(invalid("identity too long"));
        }
        let chat = claims.grants.chat.ok_or_else(|| invalid("no chat grant with a service SID"))?;
        let service_sid = chat
            .service_sid
            .filter(|s| SidKind::Service.matches(s))
            .ok_or_else(|| invalid("no chat grant with a service SID"))?;
        let verified = Verified {
            account_sid: claims.sub,
            key_sid: key.sid.clone(),
            key_hash: key.secret_hash.clone(),
            identity,
            service_sid,
            expires: claims.exp,
            endpoint_id: chat.endpoint_id.filter(|e| !e.is_empty()),
            push_credential_sid: chat.push_credential_sid.filter(|c| !c.is_empty()),
        };
        self.remember(Self::cache_key(token), &verified);
        Ok(verified)
    }
}
