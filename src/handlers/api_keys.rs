//! API keys (`SK…`) through Twilio's 2010 Keys API:
//! `/2010-04-01/Accounts/{AC}/Keys.json` and `…/Keys/{SK}.json`.
//!
//! A key's secret is shown once, at creation. It is stored as an argon2id
//! hash (Basic auth as `SK…:secret`) and sealed under the master key
//! (access tokens are HMAC-signed with it, so verifying one needs the
//! secret itself). Deleting a key revokes both uses at once: every request
//! re-reads the credential it was verified against.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::{Caller, Principal, password};
use crate::error::{ApiError, ApiResult};
use crate::keys::keyring::{Purpose, WrappedKey};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::{self, api_keys::NewApiKey};
use crate::time;
use crate::views::api_keys::{Key, KeyList};

#[derive(Deserialize)]
pub struct AccountPath {
    account: String,
}

#[derive(Deserialize)]
pub struct KeyPath {
    account: String,
    key: String,
}

/// Keys are managed with the account's own Auth Token: like Twilio's
/// standard keys, an API key cannot mint or revoke keys. The account in the
/// path must be the caller's (another account's answers 404).
fn admin(principal: &Principal, path_account: &str) -> Result<String, ApiError> {
    if principal.account_sid() != path_account {
        return Err(ApiError::NotFound);
    }
    if principal.api_key().is_some() {
        return Err(ApiError::forbidden("API keys cannot manage API keys; use the account's Auth Token"));
    }
    Ok(path_account.to_owned())
}

fn friendly_name(p: &Params) -> Result<Option<String>, ApiError> {
    p.text("FriendlyName", 64)?.map(|n| Ok(n.chars().take(limits::NAME_CHARS).collect())).transpose()
}

/// A new key's SID and secret, the secret's hash (Basic auth) and the
/// secret sealed under the master key (access tokens), made before the
/// write that stores them.
pub(crate) struct KeyMaterial {
    pub sid: String,
    pub secret: String,
    pub hash: String,
    pub sealed: WrappedKey,
}

impl KeyMaterial {
    pub async fn new(state: &AppState) -> ApiResult<KeyMaterial> {
        let sid = SidKind::ApiKey.generate();
        let secret = password::generate_secret();
        // Hashing is CPU work: done on the blocking pool, outside any write.
        let hash = {
            let (secret, cost) = (secret.clone(), state.config.hash_cost);
            web::block(move || password::hash(&secret, cost)).await.map_err(ApiError::internal)?
        };
        // A master key rotated since the last look seals new secrets from now on.
        state.keys.refresh().await;
        let sealed = state.keys.keyring().seal(Purpose::ApiKeySecret, &sid, secret.as_bytes());
        Ok(KeyMaterial { sid, secret, hash, sealed })
    }
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<AccountPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let name = friendly_name(&p)?;
    let path_account = path.into_inner().account;
    let KeyMaterial { sid, secret, hash, sealed } = KeyMaterial::new(&state).await?;
    let row = caller
        .write_account(move |tx, principal| {
            let account = admin(principal, &path_account)?;
            let now = time::now();
            let key = NewApiKey {
                sid: &sid,
                account_sid: &account,
                friendly_name: name.as_deref(),
                secret_hash: &hash,
                key_id: &sealed.key_id,
                secret_sealed: &sealed.bytes,
                date_created: now,
                date_updated: now,
            };
            Ok(store::api_keys::insert(tx.conn()?, &key)?)
        })
        .await?;
    Ok(HttpResponse::Created().json(Key::new(row, Some(secret))))
}

pub async fn fetch(caller: Caller, path: web::Path<KeyPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let row = caller
        .read_account(move |conn, principal| {
            let account = admin(principal, &path.account)?;
            Ok(store::api_keys::find(conn, &account, &path.key)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Key::new(row, None)))
}

pub async fn update(caller: Caller, path: web::Path<KeyPath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let name = friendly_name(&p)?;
    let path = path.into_inner();
    let row = caller
        .write_account(move |tx, principal| {
            let account = admin(principal, &path.account)?;
            let conn = tx.conn()?;
            let key = store::api_keys::find(conn, &account, &path.key)?;
            store::api_keys::rename(conn, &key.sid, name.as_deref(), time::now())?;
            Ok(store::api_keys::find(conn, &account, &key.sid)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Key::new(row, None)))
}

/// Revokes the key: Basic auth with it and tokens signed by it stop working
/// on the next request, on every instance.
pub async fn delete(caller: Caller, path: web::Path<KeyPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    caller
        .write_account(move |tx, principal| {
            let account = admin(principal, &path.account)?;
            let conn = tx.conn()?;
            let key = store::api_keys::find(conn, &account, &path.key)?;
            Ok(store::api_keys::delete(conn, &key.sid)?)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list(caller: Caller, path: web::Path<AccountPath>, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 1000, "keys")?;
    let seek = page.seek(false);
    let path_account = path.into_inner().account;
    let rows = caller
        .read_account(move |conn, principal| {
            let account = admin(principal, &path_account)?;
            Ok(store::api_keys::list(conn, &account, &seek.query)?)
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| Key::new(r, None));
    let list_uri = format!("/2010-04-01/Accounts/{}/Keys.json", caller.account_sid());
    Ok(HttpResponse::Ok().json(KeyList::new(ListPage::new("keys", &list_uri, &[], &page, window))))
}
