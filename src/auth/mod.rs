//! Who is calling: credentials in, a [`Principal`] out, and the one place a
//! request's database work starts ([`Caller`]).

pub mod accounts;
pub mod api_keys;
pub mod basic;
pub mod password;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};

use crate::api::ServiceScope;
use crate::app::AppState;
use crate::db::{DbConnection, write_tx};
use crate::error::ApiError;
use crate::sid::SidKind;

pub use accounts::AccountRow;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Basic auth with the account's Auth Token or one of its API keys:
    /// full access to the account's resources and nothing else.
    Account { account: AccountRow, api_key: Option<String> },
}

impl Principal {
    pub fn account(&self) -> &AccountRow {
        match self {
            Principal::Account { account, .. } => account,
        }
    }

    pub fn account_sid(&self) -> &str {
        &self.account().sid
    }

    /// The API key the caller authenticated with, if any.
    pub fn api_key(&self) -> Option<&str> {
        match self {
            Principal::Account { api_key, .. } => api_key.as_deref(),
        }
    }
}

/// An authenticated request, ready to do its database work.
///
/// Extracting it costs no I/O when the credentials were verified recently
/// (the common case): the account's current hash is then re-read as the
/// first step of the request's own database work, in the same blocking
/// round (and transaction), so a request costs one hop to the blocking pool,
/// not two. Credentials not verified recently are checked in full before
/// the handler runs, so they answer 401 before any parameter is looked at.
/// (A token rotated while a success is still remembered is refused by the
/// re-read instead, after the handler's parameter checks.)
pub struct Caller {
    state: web::Data<AppState>,
    cache_key: [u8; 32],
    /// The Basic username: the account SID, or an API key SID.
    credential: String,
    account_sid: String,
    /// The stored hash the credentials were verified against.
    phc: String,
    /// `{service}` from `/v1/Services/{service}/…`, if the route has one.
    service: Option<String>,
}

/// How a request's database work runs.
#[derive(Clone, Copy)]
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
        let credentials =
            req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(basic::parse_basic);
        let service = req.match_info().get("service").map(str::to_owned);
        // Path segments (aliases) never hold NUL: such a path names nothing.
        let nul_in_path = req.match_info().iter().any(|(_, v)| v.contains('\0'));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AppState missing"))?;
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
            if nul_in_path {
                return Err(ApiError::NotFound);
            }
            Ok(Caller { state, cache_key, credential: user, account_sid, phc, service })
        })
    }
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
        &self.account_sid
    }

    /// The account, re-read with the credential: 401 if the token was
    /// rotated or the API key revoked since verification.
    fn principal(&self, conn: &mut DbConnection) -> Result<Principal, ApiError> {
        let current = if SidKind::ApiKey.matches(&self.credential) {
            api_keys::find_with_account(conn, &self.credential)?
                .filter(|(key, account)| key.secret_hash == self.phc && account.sid == self.account_sid)
                .map(|(key, account)| Principal::Account { account, api_key: Some(key.sid) })
        } else {
            accounts::find(conn, &self.account_sid)?
                .filter(|account| account.auth_token_hash == self.phc)
                .map(|account| Principal::Account { account, api_key: None })
        };
        current.ok_or_else(|| {
            self.state.auth.forget(&self.cache_key);
            ApiError::Unauthenticated
        })
    }

    async fn run<T, F>(&self, mode: Mode, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, Principal) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let me = Caller {
            state: self.state.clone(),
            cache_key: self.cache_key,
            credential: self.credential.clone(),
            account_sid: self.account_sid.clone(),
            phc: self.phc.clone(),
            service: self.service.clone(),
        };
        // The credential re-check runs inside the write transaction, so a
        // rotation that commits first is seen.
        let checked = move |conn: &mut DbConnection| {
            let principal = me.principal(conn)?;
            f(conn, principal)
        };
        let work = move |conn: &mut DbConnection| match mode {
            Mode::Write => write_tx(conn, checked),
            Mode::Writer if conn.is_sqlite() => write_tx(conn, checked),
            Mode::Read | Mode::Writer => checked(conn),
        };
        match mode {
            Mode::Read => self.state.db.run(work).await,
            Mode::Write | Mode::Writer => self.state.db.run_writer(work).await,
        }
    }

    /// Account-level work (`/v1/Services`, `/v1/Configuration`).
    pub async fn read_account<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Principal) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(Mode::Read, move |conn, p| f(conn, &p)).await
    }

    pub async fn write_account<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Principal) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(Mode::Write, move |conn, p| f(conn, &p)).await
    }

    async fn run_scoped<T, F>(&self, mode: Mode, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let service = self.service.clone();
        let v1 = self.v1();
        self.run(mode, move |conn, principal| {
            let scope = ServiceScope::resolve(conn, principal, service.as_deref(), v1)?;
            let out = f(conn, &scope)?;
            Ok((scope, out))
        })
        .await
    }

    /// Service-scoped reads (both path families).
    pub async fn read<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Read, f).await
    }

    /// Service-scoped writes, in one write transaction.
    pub async fn write<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Write, f).await
    }

    /// Service-scoped writes that are one statement on PostgreSQL and run
    /// in a write transaction on SQLite (see [`Mode::Writer`]).
    pub async fn write_atomic<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_scoped(Mode::Writer, f).await
    }
}
