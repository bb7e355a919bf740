//! `POST /console/token`: the console's "chat as". With the account's Auth
//! Token, an identity (and a service, else the default one) in; a
//! short-lived access token for that user out, exactly as a backend would
//! mint one with the helper libraries.
//!
//! The token is signed with an API key Confab keeps for the console, one
//! per account (`accounts.console_key_sid`, friendly name "Confab
//! console"): an ordinary key, listed with the others. Revoking it stops
//! every console token at once; the next request makes a new one.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::{Form, limits};
use crate::auth::Caller;
use crate::auth::access_token::{self, RESERVED_IDENTITY};
use crate::domain::permission::RoleType;
use crate::error::{ApiError, ApiResult};
use crate::handlers::api_keys::KeyMaterial;
use crate::keys::keyring::Purpose;
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store;
use crate::store::api_keys::{ApiKeyRow, NewApiKey};
use crate::time;

/// Lifetime of a console token unless `Ttl` says otherwise (seconds).
const DEFAULT_TTL_SECS: i64 = 3600;
const KEY_NAME: &str = "Confab console";

pub async fn token(caller: Caller, state: web::Data<AppState>, Form(p): Form) -> ApiResult<HttpResponse> {
    let identity = p
        .text("Identity", limits::IDENTITY_CHARS)?
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| ApiError::missing_param("Identity"))?;
    if identity.contains('\0') {
        return Err(ApiError::invalid_param("Identity", "must not contain NUL characters"));
    }
    if identity == RESERVED_IDENTITY {
        return Err(ApiError::invalid_param("Identity", format!("{RESERVED_IDENTITY:?} is reserved")));
    }
    let service = p.sid("ServiceSid", SidKind::Service)?;
    let ttl = p.int("Ttl", 60, access_token::MAX_LIFETIME_SECS)?.unwrap_or(DEFAULT_TTL_SECS);

    let (account, service, key) = caller
        .read_account(move |conn, principal| {
            refuse_api_keys(principal)?;
            let account = principal.account_sid().to_owned();
            let service = match service {
                Some(sid) => store::services::find(conn, &account, &sid)?.sid,
                None => store::accounts::find(conn, &account)?
                    .and_then(|a| a.default_service_sid)
                    .ok_or_else(|| ApiError::missing_param("ServiceSid"))?,
            };
            let key = store::api_keys::console_key(conn, &account)?;
            Ok((account, service, key))
        })
        .await?;
    let key = match key {
        Some(key) => key,
        None => console_key(&caller, &state).await?,
    };
    let keyring = state.keys.keyring_for(&key.key_id).await;
    let secret = keyring
        .open(Purpose::ApiKeySecret, &key.sid, &key.key_id, &key.secret_sealed)
        .map_err(ApiError::internal)?;
    let (token, expires) = access_token::mint(&key.sid, &secret, &account, &identity, &service, ttl)?;
    Ok(HttpResponse::Ok().json(json!({
        "token": token,
        "identity": identity,
        "account_sid": account,
        "service_sid": service,
        "key_sid": key.sid,
        "date_expires": time::format(expires),
    })))
}

/// What the console needs to know of this server before it acts: the
/// media limits (an upload over them is refused before it starts) and the
/// permissions each role type may hold (the role editor's checkboxes).
/// The same for every caller, so it takes no credentials.
pub async fn config(state: web::Data<AppState>) -> HttpResponse {
    let names = |t: RoleType| t.catalogue().iter().map(|p| p.name()).collect::<Vec<_>>();
    HttpResponse::Ok().json(json!({
        "max_media_bytes": state.config.media.max_bytes,
        "max_media_per_message": state.config.media.max_per_message,
        "permissions": {
            "service": names(RoleType::Service),
            "conversation": names(RoleType::Conversation),
        },
    }))
}

/// Like managing keys, minting console tokens takes the Auth Token.
fn refuse_api_keys(principal: &crate::auth::Principal) -> Result<(), ApiError> {
    match principal.api_key() {
        Some(_) => Err(ApiError::forbidden(
            "Console tokens are minted with the account's Auth Token, not an API key",
        )),
        None => Ok(()),
    }
}

/// Makes the account's console key. Two first requests at once: the
/// second waits for the first's write (the account row is locked) and
/// uses its key.
async fn console_key(caller: &Caller, state: &web::Data<AppState>) -> ApiResult<ApiKeyRow> {
    // The secret itself is not kept: tokens are signed with it as opened from its seal.
    let KeyMaterial { sid, hash, sealed, .. } = KeyMaterial::new(state).await?;
    caller
        .write_account(move |tx, principal| {
            refuse_api_keys(principal)?;
            let account = principal.account_sid().to_owned();
            let conn = tx.conn()?;
            store::api_keys::lock_console_key(conn, &account)?;
            if let Some(existing) = store::api_keys::console_key(conn, &account)? {
                return Ok(existing);
            }
            let now = time::now();
            let key = NewApiKey {
                sid: &sid,
                account_sid: &account,
                friendly_name: Some(KEY_NAME),
                secret_hash: &hash,
                key_id: &sealed.key_id,
                secret_sealed: &sealed.bytes,
                date_created: now,
                date_updated: now,
            };
            let row = store::api_keys::insert(conn, &key)?;
            store::api_keys::set_console_key(conn, &account, &row.sid)?;
            Ok::<_, ApiError>(row)
        })
        .await
}
