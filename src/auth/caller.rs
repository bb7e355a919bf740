//! The [`Caller`] of a request.
//!
//! Extracting a `Caller` costs no I/O when the credentials were verified
//! recently (the common case): the credential's current hash is then
//! re-read as the first step of the request's own database work, in the
//! same hop to the blocking pool ([`Caller::read`], [`Caller::write`]), so
//! a rotated token, a revoked key or a changed role applies to the next
//! request on every instance. Credentials not verified recently are checked
//! in full before the handler runs, so they answer 401 before any parameter
//! is looked at.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};

use crate::db::{DbConnection, Tx};
use crate::domain::{Actor, Origin};
use crate::error::{ApiError, Code};
use crate::sid::SidKind;
use crate::store::{self, events};
use crate::time;
use crate::webhooks::pre::Actor as HookActor;

use super::access_token::{self, TokenVerifier};
use super::basic::{self, Authenticator};
use super::{Auth, EndUser, Principal, ServiceScope, account_credentials_only};

/// An authenticated request, ready to do its database work.
#[derive(Clone)]
pub struct Caller {
    auth: web::Data<Auth>,
    credential: Credential,
    /// `{service}` from `/v1/Services/{service}/…`, if the route has one.
    service: Option<String>,
    /// A conversation whose membership is read with the credential.
    conversation: Option<String>,
    /// `X-Twilio-Webhook-Enabled: true`: this REST call's changes fire
    /// post-event webhooks (an end user's always do).
    webhooks_enabled: bool,
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

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Auth>>().cloned();
        let token = access_token::from_headers(req.headers());
        let credentials =
            req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(basic::parse_basic);
        let service = req.match_info().get("service").map(str::to_owned);
        let webhooks_enabled = req
            .headers()
            .get("x-twilio-webhook-enabled")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        // Path segments (aliases) never hold NUL: such a path names nothing.
        let nul_in_path = req.match_info().iter().any(|(_, v)| v.contains('\0'));
        Box::pin(async move {
            let auth = auth.ok_or_else(|| ApiError::internal("Auth missing from the app data"))?;
            let credential = match token {
                Some(token) => verify_token(&auth, token).await?,
                None => verify_basic(&auth, credentials).await?,
            };
            if nul_in_path {
                return Err(ApiError::NotFound);
            }
            match &credential {
                Credential::Token { verified, .. } => {
                    auth.rates.user(&verified.account_sid, &verified.service_sid, &verified.identity)?
                }
                Credential::Basic { account_sid, .. } => auth.rates.account(account_sid)?,
            }
            Ok(Caller { auth, credential, service, conversation: None, webhooks_enabled })
        })
    }
}

async fn verify_basic(auth: &Auth, credentials: Option<(String, String)>) -> Result<Credential, ApiError> {
    let (user, secret) = credentials.ok_or(ApiError::Unauthenticated)?;
    let cache_key = Authenticator::cache_key(&user, &secret);
    let (account_sid, phc) = match auth.basic.remembered(&cache_key) {
        Some(hit) => hit,
        None => {
            let name = user.clone();
            let found = auth.db.read(move |conn| basic::lookup(conn, &name)).await?;
            let (account, phc) = auth.basic.check(&user, &secret, found).await?;
            if account.auth_token_key_id.is_none() && user == account.sid {
                seal_auth_token(auth, &account.sid, &secret).await;
            }
            (account.sid, phc)
        }
    };
    Ok(Credential::Basic { cache_key, user, account_sid, phc })
}

/// An account created before Auth Tokens were sealed gets its token
/// sealed the first time it is used, so webhooks can be signed with it.
/// Failing only delays that: the request goes on.
async fn seal_auth_token(auth: &Auth, account_sid: &str, token: &str) {
    auth.keys.refresh().await;
    let keyring = auth.keys.keyring();
    let (sid, token) = (account_sid.to_owned(), token.to_owned());
    let sealed = auth
        .db
        .write(
            |_| Ok::<_, ApiError>(()),
            move |tx, ()| Ok(super::accounts::seal(tx.conn()?, &keyring, &sid, &token)?),
        )
        .await;
    if let Err(e) = sealed {
        tracing::warn!(account_sid, error = %e, "could not seal the Auth Token");
    }
}

async fn verify_token(auth: &Auth, token: String) -> Result<Credential, ApiError> {
    let cache_key = TokenVerifier::cache_key(&token);
    let verified = match auth.tokens.remembered(&cache_key) {
        Some(hit) => hit,
        None => {
            let issuer = TokenVerifier::issuer(&token)?;
            let key = auth
                .db
                .read(move |conn| Ok::<_, ApiError>(store::api_keys::find_with_account(conn, &issuer)?))
                .await?
                .map(|(key, _)| key);
            let keyring = match &key {
                Some(key) => auth.keys.keyring_for(&key.key_id).await,
                None => auth.keys.keyring(),
            };
            auth.tokens.verify(&token, key.as_ref(), &keyring)?
        }
    };
    Ok(Credential::Token { cache_key, verified })
}

/// A request's check phase found the token's user missing: it must be
/// created (a write) before the request runs.
struct NeedsUser;

impl Caller {
    /// A caller whose access token came outside the headers (`?token=` on
    /// a WebSocket request: browsers cannot set headers there).
    pub async fn with_token(auth: web::Data<Auth>, token: String) -> Result<Caller, ApiError> {
        let credential = verify_token(&auth, token).await?;
        Ok(Caller { auth, credential, service: None, conversation: None, webhooks_enabled: false })
    }

    /// When an access token expires (seconds since the epoch); `None` for
    /// account credentials.
    pub fn token_expires(&self) -> Option<i64> {
        match &self.credential {
            Credential::Basic { .. } => None,
            Credential::Token { verified, .. } => Some(verified.expires),
        }
    }

    pub fn public_url(&self) -> &str {
        &self.auth.public_url
    }

    /// `{public}/v1`
    pub fn v1(&self) -> String {
        format!("{}/v1", self.auth.public_url)
    }

    pub fn account_sid(&self) -> &str {
        match &self.credential {
            Credential::Basic { account_sid, .. } => account_sid,
            Credential::Token { verified, .. } => &verified.account_sid,
        }
    }

    /// Reads the user's membership of the conversation `key` together with
    /// the credential, in the same query (for a SID; a unique name is
    /// looked up as usual): a user's send then costs the round trips of an
    /// account's. The membership is used by `standing::member_of`.
    pub fn in_conversation(mut self, key: &str) -> Caller {
        if SidKind::Conversation.matches(key) {
            self.conversation = Some(key.to_owned());
        }
        self
    }

    /// An access token's user as the actor of a pre-event webhook (`None`
    /// for account credentials, whose actions call none).
    pub fn end_user(&self) -> Option<HookActor<'_>> {
        match &self.credential {
            Credential::Basic { .. } => None,
            Credential::Token { verified, .. } => Some(HookActor {
                account_sid: &verified.account_sid,
                service_sid: &verified.service_sid,
                identity: &verified.identity,
            }),
        }
    }

    /// An access token's chat grant `endpoint_id` and `push_credential_sid`
    /// (`None`s for account credentials).
    pub fn push_grant(&self) -> (Option<&str>, Option<&str>) {
        match &self.credential {
            Credential::Basic { .. } => (None, None),
            Credential::Token { verified, .. } => {
                (verified.endpoint_id.as_deref(), verified.push_credential_sid.as_deref())
            }
        }
    }

    /// The identity of an access token's user (`None` for account credentials).
    pub fn identity(&self) -> Option<&str> {
        match &self.credential {
            Credential::Basic { .. } => None,
            Credential::Token { verified, .. } => Some(&verified.identity),
        }
    }

    /// Who the changes of this request are attributed to in the event log.
    pub fn origin(&self) -> Origin {
        match &self.credential {
            Credential::Basic { .. } => Origin { actor: Actor::Api, webhooks: self.webhooks_enabled },
            Credential::Token { verified, .. } => {
                Origin { actor: Actor::EndUser(verified.identity.clone()), webhooks: true }
            }
        }
    }

    /// The principal, re-read with its credential: 401 if the token was
    /// rotated or the API key revoked since verification.
    fn principal(&self, conn: &mut DbConnection) -> Result<Result<Principal, NeedsUser>, ApiError> {
        match &self.credential {
            Credential::Basic { cache_key, user, account_sid, phc } => {
                // A service named in the path is checked in the same query.
                let service = self.service.as_deref().filter(|s| SidKind::Service.matches(s));
                let checked = |owned: bool| service.map(|s| (s.to_owned(), owned));
                let current = if SidKind::ApiKey.matches(user) {
                    store::api_keys::find_with_account_and_service(conn, user, account_sid, service)?
                        .filter(|(key, account, _)| key.secret_hash == *phc && account.sid == *account_sid)
                        .map(|(key, account, owned)| Principal::Account {
                            account: Box::new(account),
                            api_key: Some(key.sid),
                            service: checked(owned),
                        })
                } else {
                    store::accounts::find_with_service(conn, account_sid, service)?
                        .filter(|(account, _)| account.auth_token_hash == *phc)
                        .map(|(account, owned)| Principal::Account {
                            account: Box::new(account),
                            api_key: None,
                            service: checked(owned),
                        })
                };
                current.map(Ok).ok_or_else(|| {
                    self.auth.basic.forget(cache_key);
                    ApiError::Unauthenticated
                })
            }
            Credential::Token { cache_key, verified } => {
                let conversation = self.conversation.as_deref();
                let found = store::credentials::token_key(
                    conn,
                    &verified.key_sid,
                    &verified.service_sid,
                    &verified.identity,
                    conversation,
                )?
                .filter(|f| f.key_hash == verified.key_hash && f.account_sid == verified.account_sid);
                let Some(found) = found else {
                    self.auth.tokens.forget(cache_key);
                    return Err(ApiError::InvalidToken);
                };
                let Some((user_sid, permissions)) = found.user else {
                    return Ok(Err(NeedsUser));
                };
                Ok(Ok(Principal::User(Box::new(EndUser {
                    account_sid: found.account_sid,
                    api_key: verified.key_sid.clone(),
                    user_sid,
                    identity: verified.identity.clone(),
                    service_sid: verified.service_sid.clone(),
                    permissions,
                    prefetched: conversation.map(|sid| (sid.to_owned(), found.membership)),
                }))))
            }
        }
    }

    /// The first request of a token's identity (or the first since its User
    /// was deleted) creates the User with the service's default role. The
    /// token's service must exist in the account.
    async fn create_user(&self) -> Result<(), ApiError> {
        let Credential::Token { cache_key, verified } = &self.credential else {
            return Err(ApiError::internal("create_user without a token"));
        };
        let (account, service, identity) =
            (verified.account_sid.clone(), verified.service_sid.clone(), verified.identity.clone());
        let origin = self.origin();
        let created = self
            .auth
            .db
            .write(
                |_| Ok::<_, ApiError>(()),
                move |tx, ()| {
                    events::as_origin(&origin, || {
                        let conn = tx.conn()?;
                        let service = store::services::find(conn, &account, &service)?;
                        store::users::ensure(conn, &service, &identity, time::now())?;
                        Ok(())
                    })
                },
            )
            .await;
        match created {
            Err(ApiError::NotFound) => {
                self.auth.tokens.forget(cache_key);
                Err(ApiError::InvalidToken)
            }
            other => other,
        }
    }

    fn scope(&self, conn: &mut DbConnection, principal: Principal) -> Result<ServiceScope, ApiError> {
        ServiceScope::resolve(conn, principal, self.service.as_deref(), self.v1())
    }

    /// Service-scoped reads (both path families): `f` runs with the scope
    /// after the credential re-check, on a reader connection.
    pub async fn read<T, F>(&self, f: F) -> Result<(ServiceScope, T), ApiError>
    where
        F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let mut f = f;
        for _ in 0..2 {
            let me = self.clone();
            let outcome = self
                .auth
                .db
                .read(move |conn| match me.principal(conn)? {
                    Ok(principal) => {
                        let scope = me.scope(conn, principal)?;
                        let out = f(conn, &scope)?;
                        Ok::<_, ApiError>(Ok((scope, out)))
                    }
                    Err(NeedsUser) => Ok(Err(f)),
                })
                .await?;
            match outcome {
                Ok(done) => return Ok(done),
                Err(back) => f = back,
            }
            self.create_user().await?;
        }
        Err(user_vanished())
    }

    /// Service-scoped writes: `work` runs in one write transaction with the
    /// scope, after the credential re-check.
    pub async fn write<T, W>(&self, work: W) -> Result<(ServiceScope, T), ApiError>
    where
        W: FnOnce(&mut Tx<'_>, &ServiceScope) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_checked(|_, _| Ok(()), move |tx, scope, ()| work(tx, scope)).await
    }

    /// [`Caller::write`] with the reads that decide whether the caller may
    /// act (`check`) apart from the writes: the database runs them first
    /// (on SQLite outside the one writer's lock, see `crate::db`), and
    /// `work` gets what they found.
    pub async fn write_checked<C, T, K, W>(&self, check: K, work: W) -> Result<(ServiceScope, T), ApiError>
    where
        K: FnOnce(&mut DbConnection, &ServiceScope) -> Result<C, ApiError> + Send + 'static,
        W: FnOnce(&mut Tx<'_>, &ServiceScope, C) -> Result<T, ApiError> + Send + 'static,
        C: Send + 'static,
        T: Send + 'static,
    {
        let mut pending = (check, work);
        for _ in 0..2 {
            let me = self.clone();
            let origin = self.origin();
            let (check, work) = pending;
            let outcome = self
                .auth
                .db
                .write(
                    move |conn| match me.principal(conn)? {
                        Ok(principal) => {
                            let scope = me.scope(conn, principal)?;
                            let checked = check(conn, &scope)?;
                            Ok::<_, ApiError>(Ok((scope, checked, work)))
                        }
                        Err(NeedsUser) => Ok(Err((check, work))),
                    },
                    move |tx, found| match found {
                        Ok((scope, checked, work)) => {
                            let out = events::as_origin(&origin, || work(tx, &scope, checked))?;
                            Ok(Ok((scope, out)))
                        }
                        Err(back) => Ok(Err(back)),
                    },
                )
                .await?;
            match outcome {
                Ok(done) => return Ok(done),
                Err(back) => pending = back,
            }
            self.create_user().await?;
        }
        Err(user_vanished())
    }

    /// Account administration (`/v1/Services`, `/v1/Configuration`, API
    /// keys): account credentials only, 403 for access tokens.
    pub async fn read_account<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Principal) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let me = self.clone();
        self.auth
            .db
            .read(move |conn| {
                let principal = me.account_principal(conn)?;
                f(conn, &principal)
            })
            .await
    }

    pub async fn write_account<T, W>(&self, work: W) -> Result<T, ApiError>
    where
        W: FnOnce(&mut Tx<'_>, &Principal) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let me = self.clone();
        self.auth
            .db
            .write(move |conn| me.account_principal(conn), move |tx, principal| work(tx, &principal))
            .await
    }

    fn account_principal(&self, conn: &mut DbConnection) -> Result<Principal, ApiError> {
        let principal = self.principal(conn)?.map_err(|NeedsUser| account_credentials_only())?;
        principal.require_account_credentials()?;
        Ok(principal)
    }
}

/// The User created for this request's first use was deleted again before
/// the request could run.
fn user_vanished() -> ApiError {
    ApiError::client(Code::Conflict, "The user was deleted while this request started; retry the request")
}
