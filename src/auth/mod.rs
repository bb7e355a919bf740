//! Who is calling: credentials in, a [`Principal`] out, and the one place a
//! request's database work starts ([`Caller`]).

pub mod access_token;
pub mod accounts;
pub mod api_keys;
pub mod basic;
pub mod end_users;
pub mod password;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};

use crate::api::ServiceScope;
use crate::app::AppState;
use crate::conversations::{services, users};
use crate::db::{DbConnection, write_tx};
use crate::error::ApiError;
use crate::roles;
use crate::sid::SidKind;

pub use accounts::AccountRow;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Basic auth with the account's Auth Token or one of its API keys:
    /// full access to the account's resources and nothing else.
    Account { account: AccountRow, api_key: Option<String> },
    /// An access token: one identity in one service, held to its roles.
    User(Box<EndUser>),
}

/// The user an access token acts as, with its service role's permissions
/// as they are now (read in the request's own database work, so a role
/// change applies to the very next request).
#[derive(Debug, Clone)]
pub struct EndUser {
    pub account_sid: String,
    pub api_key: String,
    /// The User (`US…`) of `identity` in `service_sid`.
    pub user_sid: String,
    pub identity: String,
    pub service_sid: String,
    pub service_permissions: Vec<String>,
}

impl Principal {
    /// The account row, for account credentials (an access token's request
    /// carries only what a user may use).
    pub fn account(&self) -> Option<&AccountRow> {
        match self {
            Principal::Account { account, .. } => Some(account),
            Principal::User(_) => None,
        }
    }

    pub fn account_sid(&self) -> &str {
        match self {
            Principal::Account { account, .. } => &account.sid,
            Principal::User(u) => &u.account_sid,
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
            Principal::User(_) => Err(ApiError::forbidden(
                "This resource requires account credentials (Account SID or API key with Basic auth); access tokens cannot use it",
            )),
        }
    }
}

/// An authenticated request, ready to do its database work.
///
/// Extracting it costs no I/O when the credentials were verified recently
/// (the common case): the credential's current hash is then re-read as the
/// first step of the request's own database work, in the same blocking
/// round (on PostgreSQL in the same transaction; on SQLite writes, on a
/// reader connection just before the write lock is taken), so a request
/// costs one hop to the blocking pool, not two. Credentials not verified recently are checked in full before
/// the handler runs, so they answer 401 before any parameter is looked at.
/// (A token rotated while a success is still remembered is refused by the
/// re-read instead, after the handler's parameter checks.)
#[derive(Clone)]
pub struct Caller {
    state: web::Data<AppState>,
    credential: Credential,
    /// `{service}` from `/v1/Services/{service}/…`, if the route has one.
    service: Option<String>,
}

#[derive(Clone)]
enum Credential {
    Basic {
        cache_key: [u8; 32],
        /// The Basic username: the account SID, or an API key SID.
        user: String,
        account_sid: String,
        /// The stored hash the secret was verified against.
        phc: String,
    },
    Token {
        cache_key: [u8; 32],
        verified: access_token::Verified,
    },
}

/// How a request's database work runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    /// In a write transaction.
    Write,
    /// Work that is a single statement on PostgreSQL (so it needs no
    /// transaction there) and a write transaction on SQLite.
    Writer,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = access_token::from_headers(req.headers());
        let credentials =
            req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(basic::parse_basic);
        let service = req.match_info().get("service").map(str::to_owned);
        // Path segments (aliases) never hold NUL: such a path names nothing.
        let nul_in_path = req.match_info().iter().any(|(_, v)| v.contains('\0'));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AppState missing"))?;
            let credential = match token {
                Some(token) => verify_token(&state, token).await?,
                None => verify_basic(&state, credentials).await?,
            };
            if nul_in_path {
                return Err(ApiError::NotFound);
            }
            Ok(Caller { state, credential, service })
        })
    }
}

async fn verify_basic(
    state: &web::Data<AppState>,
    credentials: Option<(String, String)>,
) -> Result<Credential, ApiError> {
    let (user, secret) = credentials.ok_or(ApiError::Unauthenticated)?;
    let cache_key = basic::Authenticator::cache_key(&user, &secret);
    let (account_sid, phc) = match state.auth.remembered(&cache_key) {
        Some(hit) => hit,
        None => {
            let name = user.clone();
            let lookup = state.clone();
            let found = state.db.run(move |conn| lookup.auth.lookup(conn, &name)).await?;
            let (account, phc) = state.auth.check(&user, &secret, found).await?;
            (account.sid, phc)
        }
    };
    Ok(Credential::Basic { cache_key, user, account_sid, phc })
}

async fn verify_token(state: &web::Data<AppState>, token: String) -> Result<Credential, ApiError> {
    let cache_key = access_token::TokenVerifier::cache_key(&token);
    let verified = match state.tokens.remembered(&cache_key) {
        Some(hit) => hit,
        None => {
            let issuer = access_token::TokenVerifier::issuer(&token)?;
            let key = state.db.run(move |conn| access_token::load_key(conn, &issuer)).await?;
            let keyring = match &key {
                Some(key) => state.media.keyring_for(&key.key_id).await,
                None => state.media.keyring(),
            };
            state.tokens.verify(&token, key.as_ref(), &keyring)?
        }
    };
    Ok(Credential::Token { cache_key, verified })
}

impl Caller {
    pub fn app(&self) -> &web::Data<AppState> {
        &self.state
    }

    pub fn public_url(&self) -> &str {
        &self.state.config.public_url
    }

    /// `{public}/v1`
    pub fn v1(&self) -> String {
        format!("{}/v1", self.state.config.public_url)
    }

    pub fn account_sid(&self) -> &str {
        match &self.credential {
            Credential::Basic { account_sid, .. } => account_sid,
            Credential::Token { verified, .. } => &verified.account_sid,
        }
    }

    /// The identity of an access token's user (`None` for account credentials).
    pub fn identity(&self) -> Option<&str> {
        match &self.credential {
            Credential::Basic { .. } => None,
            Credential::Token { verified, .. } => Some(&verified.identity),
        }
    }

    /// The principal, re-read with its credential: 401 if the token was
    /// rotated or the API key revoked since verification.
    fn principal(&self, conn: &mut DbConnection) -> Result<Principal, ApiError> {
        match &self.credential {
            Credential::Basic { cache_key, user, account_sid, phc } => {
                let current = if SidKind::ApiKey.matches(user) {
                    api_keys::find_with_account(conn, user)?
                        .filter(|(key, account)| key.secret_hash == *phc && account.sid == *account_sid)
                        .map(|(key, account)| Principal::Account { account, api_key: Some(key.sid) })
                } else {
                    accounts::find(conn, account_sid)?
                        .filter(|account| account.auth_token_hash == *phc)
                        .map(|account| Principal::Account { account, api_key: None })
                };
                current.ok_or_else(|| {
                    self.state.auth.forget(cache_key);
                    ApiError::Unauthenticated
                })
            }
            Credential::Token { cache_key, verified } => {
                let refused = || {
                    self.state.tokens.forget(cache_key);
                    ApiError::InvalidToken
                };
                let found = end_users::find_with_key(
                    conn,
                    &verified.key_sid,
                    &verified.service_sid,
                    &verified.identity,
                )?
                .filter(|f| f.key_hash == verified.key_hash && f.account_sid == verified.account_sid)
                .ok_or_else(refused)?;
                let (user_sid, service_permissions) = match found.user {
                    Some(user) => user,
                    // First request of this identity (or its User was
                    // deleted): the token's service must exist in the account.
                    None => {
                        let service = services::find(conn, &found.account_sid, &verified.service_sid)
                            .map_err(|e| match e {
                                ApiError::NotFound => refused(),
                                other => other,
                            })?;
                        let user = users::ensure(conn, &service, &verified.identity)?;
                        let role = roles::find(conn, &service.sid, &user.role_sid)?;
                        (user.sid, role.permission_list())
                    }
                };
                Ok(Principal::User(Box::new(EndUser {
                    account_sid: found.account_sid,
                    api_key: verified.key_sid.clone(),
                    user_sid,
                    identity: verified.identity.clone(),
                    service_sid: verified.service_sid.clone(),
                    service_permissions,
                })))
            }
        }
    }

    /// A request's database work in two phases: `check` (the credential
    /// re-check, then the caller's reads that decide whether it may act)
    /// and `work` with what `check` found.
    async fn run<C, T, K, F>(&self, mode: Mode, check: K, work: F) -> Result<T, ApiError>
    where
        K: FnOnce(&mut DbConnection, Principal) -> Result<C, ApiError> + Send + 'static,
        F: FnOnce(&mut DbConnection, C) -> Result<T, ApiError> + Send + 'static,
        C: Send + 'static,
        T: Send + 'static,
    {
        let me = self.clone();
        let db = &self.state.db;
        let check = move |conn: &mut DbConnection| {
            let principal = me.principal(conn)?;
            check(conn, principal)
        };
        if mode != Mode::Read && !db.is_postgres() {
            // SQLite has one writer at a time: the checks (reads) run on a
            // reader connection first, in the same blocking hop, so the
            // write lock is held for the writes alone. A revocation or role
            // change committing in between orders after this request.
            return db.read_then_write(check, move |conn, c| write_tx(conn, |conn| work(conn, c))).await;
        }
        // On PostgreSQL the credential re-check runs inside the write
        // transaction, so a rotation that commits first is seen.
        let all = move |conn: &mut DbConnection| {
            let checked = check(conn)?;
            work(conn, checked)
        };
        match mode {
            Mode::Read => db.run(all).await,
            Mode::Write => db.run_writer(move |conn| write_tx(conn, all)).await,
            Mode::Writer => db.run_writer(all).await,
        }
    }

    /// Account administration (`/v1/Services`, `/v1/Configuration`, API
    /// keys): account credentials only, 403 for access tokens.
    pub async fn read_account<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Principal) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(Mode::Read, admin_principal, move |conn, p| f(conn, &p)).await
    }

    pub async fn write_account<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Principal) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(Mode::Write, admin_principal, move |conn, p| f(conn, &p)).await
    }

    /// Service-scoped work: the scope (and `check`, given it) is resolved in
    /// the check phase, `f` runs with both.
    async fn run_scoped<C, T, K, F>(&self, mode: Mode, check: K, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        K: FnOnce(&mut DbConnection, &ServiceScope) -> Result<C, ApiError> + Send + 'static,
        F: FnOnce(&mut DbConnection, &ServiceScope, C) -> Result<T, ApiError> + Send + 'static,
        C: Send + 'static,
        T: Send + 'static,
    {
        let service = self.service.clone();
        let v1 = self.v1();
        self.run(
            mode,
            move |conn, principal| {
                let scope = ServiceScope::resolve(conn, principal, service.as_deref(), v1)?;
                let checked = check(conn, &scope)?;
                Ok((scope, checked))
            },
            move |conn, (scope, checked)| {
                let out = f(conn, &scope, checked)?;
                Ok((scope, out))
            },
        )
        .await
    }

    /// Service-scoped reads (both path families).
    pub async fn read<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Read, no_check, move |conn, scope, ()| f(conn, scope)).await
    }

    /// Service-scoped writes, in one write transaction.
    pub async fn write<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Write, no_check, move |conn, scope, ()| f(conn, scope)).await
    }

    /// Service-scoped administration (roles): account credentials only.
    pub async fn read_admin<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Read, admin_scope, move |conn, scope, ()| f(conn, scope)).await
    }

    pub async fn write_admin<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Write, admin_scope, move |conn, scope, ()| f(conn, scope)).await
    }

    /// Service-scoped writes that are one statement on PostgreSQL and run
    /// in a write transaction on SQLite (see [`Mode::Writer`]).
    pub async fn write_atomic<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Writer, no_check, move |conn, scope, ()| f(conn, scope)).await
    }

    /// [`Caller::write_atomic`] whose permission reads (`check`) run before
    /// the write: on SQLite outside the one writer's lock.
    pub async fn write_atomic_checked<C, T, K, F>(
        &self,
        check: K,
        f: F,
    ) -> Result<(ServiceScope, T), ApiError>
    where
        K: FnOnce(&mut DbConnection, &ServiceScope) -> Result<C, ApiError> + Send + 'static,
        F: FnOnce(&mut DbConnection, &ServiceScope, C) -> Result<T, ApiError> + Send + 'static,
        C: Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Writer, check, f).await
    }
}

fn no_check(_: &mut DbConnection, _: &ServiceScope) -> Result<(), ApiError> {
    Ok(())
}

fn admin_scope(_: &mut DbConnection, scope: &ServiceScope) -> Result<(), ApiError> {
    scope.principal.require_account_credentials()
}

fn admin_principal(_: &mut DbConnection, principal: Principal) -> Result<Principal, ApiError> {
    principal.require_account_credentials()?;
    Ok(principal)
}
