//! API keys (`SK…`) and Twilio's 2010 Keys API:
//! `/2010-04-01/Accounts/{AC}/Keys.json` and `…/Keys/{SK}.json`.
//!
//! A key's secret is shown once, at creation. It is stored as an argon2id
//! hash (Basic auth as `SK…:secret`) and sealed under the master key
//! (access tokens are HMAC-signed with it, so verifying one needs the
//! secret itself). Deleting a key revokes both uses at once: every request
//! re-reads the credential it was verified against.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::paging::ListPage;
use crate::api::{Form, PageRequest, Query, limits, time};
use crate::app::AppState;
use crate::db::DbConnection;
use crate::db::schema::{accounts, api_keys};
use crate::error::{ApiError, ApiResult, codes};
use crate::keyset;
use crate::media::crypto::{Keyring, Purpose};
use crate::sid::SidKind;

use super::{AccountRow, Caller, Principal, password};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: Option<String>,
    pub secret_hash: String,
    pub key_id: String,
    pub secret_sealed: Vec<u8>,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
struct NewApiKey<'a> {
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: Option<&'a str>,
    secret_hash: &'a str,
    key_id: &'a str,
    secret_sealed: &'a [u8],
    date_created: i64,
    date_updated: i64,
}

/// The key with its account, for authentication.
pub fn find_with_account(conn: &mut DbConnection, sid: &str) -> QueryResult<Option<(ApiKeyRow, AccountRow)>> {
    api_keys::table
        .inner_join(accounts::table.on(accounts::sid.eq(api_keys::account_sid)))
        .filter(api_keys::sid.eq(sid))
        .select((ApiKeyRow::as_select(), AccountRow::as_select()))
        .get_result(conn)
        .optional()
}

fn find(conn: &mut DbConnection, account_sid: &str, sid: &str) -> Result<ApiKeyRow, ApiError> {
    api_keys::table
        .filter(api_keys::sid.eq(sid))
        .filter(api_keys::account_sid.eq(account_sid))
        .select(ApiKeyRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

/// The key's secret, opened from its seal (to verify access tokens).
pub fn secret(keyring: &Keyring, key: &ApiKeyRow) -> Option<Vec<u8>> {
    keyring.open(Purpose::ApiKeySecret, &key.sid, &key.key_id, &key.secret_sealed).ok()
}

/// Twilio's 2010 API dates: RFC 2822 (`Mon, 16 Aug 2010 03:45:01 +0000`).
fn rfc2822(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

#[derive(Serialize)]
struct KeyView {
    sid: String,
    friendly_name: Option<String>,
    date_created: String,
    date_updated: String,
    /// Only in the response that creates the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl KeyView {
    fn new(row: ApiKeyRow, secret: Option<String>) -> Self {
        KeyView {
            sid: row.sid,
            friendly_name: row.friendly_name,
            date_created: rfc2822(row.date_created),
            date_updated: rfc2822(row.date_updated),
            secret,
        }
    }
}

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
        return Err(ApiError::Client {
            status: actix_web::http::StatusCode::FORBIDDEN,
            code: codes::FORBIDDEN,
            message: "API keys cannot manage API keys; use the account's Auth Token".into(),
        });
    }
    Ok(path_account.to_owned())
}

fn friendly_name(p: &crate::api::Params) -> Result<Option<String>, ApiError> {
    p.text("FriendlyName", 64)?.map(|n| Ok(n.chars().take(limits::NAME_CHARS).collect())).transpose()
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<AccountPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let name = friendly_name(&p)?;
    let path_account = path.into_inner().account;
    let sid = SidKind::ApiKey.generate();
    let secret = password::generate_secret();
    // Hashing is CPU work: done here on the blocking pool before the write.
    let hash = {
        let (secret, cost) = (secret.clone(), state.config.hash_cost);
        web::block(move || password::hash(&secret, cost)).await?
    };
    // A master key rotated since the last look seals new secrets from now on.
    state.media.refresh_keys().await;
    let sealed = state.media.keyring().seal(Purpose::ApiKeySecret, &sid, secret.as_bytes());
    let row = caller
        .write_account(move |conn, principal| {
            let account = admin(principal, &path_account)?;
            let now = time::now();
            diesel::insert_into(api_keys::table)
                .values(NewApiKey {
                    sid: &sid,
                    account_sid: &account,
                    friendly_name: name.as_deref(),
                    secret_hash: &hash,
                    key_id: &sealed.key_id,
                    secret_sealed: &sealed.bytes,
                    date_created: now,
                    date_updated: now,
                })
                .execute(conn)?;
            find(conn, &account, &sid)
        })
        .await?;
    Ok(HttpResponse::Created().json(KeyView::new(row, Some(secret))))
}

pub async fn fetch(caller: Caller, path: web::Path<KeyPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let row = caller
        .read_account(move |conn, principal| {
            let account = admin(principal, &path.account)?;
            find(conn, &account, &path.key)
        })
        .await?;
    Ok(HttpResponse::Ok().json(KeyView::new(row, None)))
}

pub async fn update(caller: Caller, path: web::Path<KeyPath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let name = friendly_name(&p)?;
    let path = path.into_inner();
    let row = caller
        .write_account(move |conn, principal| {
            let account = admin(principal, &path.account)?;
            let key = find(conn, &account, &path.key)?;
            diesel::update(api_keys::table.filter(api_keys::sid.eq(&key.sid)))
                .set((api_keys::friendly_name.eq(name), api_keys::date_updated.eq(time::now())))
                .execute(conn)?;
            find(conn, &account, &key.sid)
        })
        .await?;
    Ok(HttpResponse::Ok().json(KeyView::new(row, None)))
}

/// Revokes the key: Basic auth with it and tokens signed by it stop working
/// on the next request, on every instance.
pub async fn delete(caller: Caller, path: web::Path<KeyPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    caller
        .write_account(move |conn, principal| {
            let account = admin(principal, &path.account)?;
            let key = find(conn, &account, &path.key)?;
            diesel::delete(api_keys::table.filter(api_keys::sid.eq(&key.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The 2010 API's list envelope: items under `keys`, paging fields beside
/// them, URIs relative to the API's host.
#[derive(Serialize)]
struct KeyList {
    keys: Vec<KeyView>,
    first_page_uri: String,
    next_page_uri: Option<String>,
    previous_page_uri: Option<String>,
    uri: String,
    page: i64,
    page_size: i64,
    start: i64,
    end: i64,
}

pub async fn list(caller: Caller, path: web::Path<AccountPath>, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 1000, "keys")?;
    let seek = page.seek(false);
    let path_account = path.into_inner().account;
    let rows = caller
        .read_account(move |conn, principal| {
            let account = admin(principal, &path_account)?;
            let query = api_keys::table
                .filter(api_keys::account_sid.eq(&account))
                .select(ApiKeyRow::as_select())
                .into_boxed();
            Ok(keyset!(query, api_keys::id, seek).load(conn)?)
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| KeyView::new(r, None));
    let list_uri = format!("/2010-04-01/Accounts/{}/Keys.json", caller.account_sid());
    // The v1 meta, rendered into the 2010 shape.
    let meta = ListPage::new("keys", &list_uri, &[], &page, window);
    let count = meta.items.len() as i64;
    let start = page.page * page.page_size;
    let body = KeyList {
        first_page_uri: meta.meta.first_page_url,
        next_page_uri: meta.meta.next_page_url,
        previous_page_uri: meta.meta.previous_page_url,
        uri: meta.meta.url,
        page: page.page,
        page_size: page.page_size,
        start,
        end: start + count.max(1) - 1,
        keys: meta.items,
    };
    Ok(HttpResponse::Ok().json(body))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/2010-04-01/Accounts/{account}/Keys.json").get(list).post(create)).service(
        web::resource("/2010-04-01/Accounts/{account}/Keys/{key}.json")
            .get(fetch)
            .post(update)
            .delete(delete),
    );
}
