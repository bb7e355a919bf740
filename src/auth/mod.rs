//! Who is calling. Credentials come in (Basic auth with an account's Auth
//! Token or an API key, or an access token); a [`Caller`] comes out
//! (`caller.rs`): the identity, plus what must be re-checked on each
//! request. The [`Principal`] is that identity as the re-check found it;
//! `standing.rs` decides what it may do.

pub mod access_token;
pub mod accounts;
pub mod basic;
mod caller;
pub mod password;
pub mod rate;
pub mod scope;
pub mod standing;

use std::sync::Arc;

use crate::config::HashCost;
use crate::db::Db;
use crate::domain::Permissions;
use crate::error::ApiError;
use crate::keys::MasterKeys;
use crate::store::accounts::AccountRow;
use crate::store::participants::Membership;

use access_token::TokenVerifier;
use basic::Authenticator;
pub use caller::Caller;
pub use scope::ServiceScope;

/// What authentication needs, shared by every worker.
pub struct Auth {
    db: Db,
    keys: Arc<MasterKeys>,
    basic: Authenticator,
    tokens: TokenVerifier,
    public_url: String,
    rates: rate::RateLimits,
}

impl Auth {
    pub fn new(
        db: Db,
        keys: Arc<MasterKeys>,
        cache_ttl: std::time::Duration,
        cost: HashCost,
        public_url: String,
        rates: rate::RateLimits,
    ) -> Auth {
        Auth {
            db,
            keys,
            rates,
            basic: Authenticator::new(cache_ttl, cost),
            tokens: TokenVerifier::new(cache_ttl),
            public_url,
        }
    }
}

/// The authenticated caller of a request, as its credential reads now.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Basic auth with the account's Auth Token or one of its API keys:
    /// full access to the account's resources and nothing else.
    Account {
        account: Box<AccountRow>,
        api_key: Option<String>,
        /// The service the request's path names, and whether it is one of
        /// the account's (read with the credential).
        service: Option<(String, bool)>,
    },
    /// An access token: one identity in one service, held to its roles.
    User(Box<EndUser>),
}

/// The user an access token acts as, with its service role's permissions
/// as they are now.
#[derive(Debug, Clone)]
pub struct EndUser {
    pub account_sid: String,
    pub api_key: String,
    /// The User (`US…`) of `identity` in `service_sid`.
    pub user_sid: String,
    pub identity: String,
    pub service_sid: String,
    pub permissions: Permissions,
    /// The conversation the request named ([`Caller::in_conversation`]),
    /// read with the credential: its SID and the user's membership of it.
    pub prefetched: Option<(String, Option<Membership>)>,
}

impl Principal {
    /// The account row, for account credentials (an access token's request
    /// carries only what a user may use).
    pub fn account(&self) -> Option<&AccountRow> {
        match self {
            Principal::Account { account, .. } => Some(account.as_ref()),
            Principal::User(_) => None,
        }
    }

    pub fn account_sid(&self) -> &str {
        match self {
            Principal::Account { account, .. } => &account.sid,
            Principal::User(u) => &u.account_sid,
        }
    }

    /// Whether `service` is one of the account's, if that was read with the
    /// credential (`None`: not known yet).
    pub fn owns_service(&self, service: &str) -> Option<bool> {
        match self {
            Principal::Account { service: Some((sid, owned)), .. } if sid == service => Some(*owned),
            _ => None,
        }
    }

    /// The API key the caller authenticated with, if any.
    pub fn api_key(&self) -> Option<&str> {
        match self {
            Principal::Account { api_key, .. } => api_key.as_deref(),
            Principal::User(u) => Some(&u.api_key),
        }
    }

    pub fn end_user(&self) -> Option<&EndUser> {
        match self {
            Principal::Account { .. } => None,
            Principal::User(u) => Some(u),
        }
    }

    /// Account administration (services, configuration, roles, keys) takes
    /// account credentials: 403 for access tokens.
    pub fn require_account_credentials(&self) -> Result<(), ApiError> {
        match self {
            Principal::Account { .. } => Ok(()),
            Principal::User(_) => Err(account_credentials_only()),
        }
    }
}

fn account_credentials_only() -> ApiError {
    ApiError::forbidden(
        "This resource requires account credentials (Account SID or API key with Basic auth); access tokens cannot use it",
    )
}
