//! Push credentials (`CR…`) on `/v1/Credentials` (Conversations) and
//! `/v2/Credentials` (Chat): one resource, account credentials only. The
//! certificate, private key and secrets are sealed under the master key as
//! they arrive and never shown again. (Confab sends no push notifications
//! yet; they are kept for when it does.)

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::keys::keyring::{Keyring, Purpose};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::push_credentials::{NewPushCredential, PushCredentialChanges, PushCredentialRow};
use crate::store::{self};
use crate::time;
use crate::views::push_credentials::PushCredential;

#[derive(Deserialize)]
pub struct CredentialPath {
    credential: String,
}

/// The most a certificate, key or secret may hold.
const SECRET_CHARS: usize = 16 * 1024;

const TYPES: [&str; 3] = ["apn", "gcm", "fcm"];

/// The sealed part of a credential.
#[derive(Default, Serialize, Deserialize)]
struct Secrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl Secrets {
    fn from_params(p: &Params) -> Result<Secrets, ApiError> {
        let text = |name| Ok::<_, ApiError>(p.text(name, SECRET_CHARS)?.filter(|v| !v.is_empty()));
        Ok(Secrets {
            certificate: text("Certificate")?,
            private_key: text("PrivateKey")?,
            api_key: text("ApiKey")?,
            secret: text("Secret")?,
        })
    }

    /// `self` with what `changes` sets.
    fn merge(self, changes: Secrets) -> Secrets {
        Secrets {
            certificate: changes.certificate.or(self.certificate),
            private_key: changes.private_key.or(self.private_key),
            api_key: changes.api_key.or(self.api_key),
            secret: changes.secret.or(self.secret),
        }
    }

    /// What a credential of `kind` cannot work without.
    fn check(&self, kind: &str) -> Result<(), ApiError> {
        let needed: &[(&str, bool)] = match kind {
            "apn" => {
                &[("Certificate", self.certificate.is_some()), ("PrivateKey", self.private_key.is_some())]
            }
            "gcm" => &[("ApiKey", self.api_key.is_some())],
            _ => &[("Secret", self.secret.is_some())],
        };
        match needed.iter().find(|(_, present)| !present) {
            Some((name, _)) => {
                Err(ApiError::invalid_param(name, format!("is required for a {kind} credential")))
            }
            None => Ok(()),
        }
    }

    fn seal(&self, keyring: &Keyring, sid: &str) -> (String, Vec<u8>) {
        let json = serde_json::to_vec(self).expect("strings serialize");
        let sealed = keyring.seal(Purpose::PushCredential, sid, &json);
        (sealed.key_id, sealed.bytes)
    }

    fn open(keyring: &Keyring, row: &PushCredentialRow) -> Result<Secrets, ApiError> {
        let json = keyring
            .open(Purpose::PushCredential, &row.sid, &row.key_id, &row.secrets_sealed)
            .map_err(|e| ApiError::internal(format!("push credential {}: {e}", row.sid)))?;
        serde_json::from_slice(&json)
            .map_err(|e| ApiError::internal(format!("push credential {}: {e}", row.sid)))
    }
}

/// `{public}/v1` or `{public}/v2`: the family the request came in on.
fn base(caller: &Caller, req: &HttpRequest) -> String {
    let version = if req.path().starts_with("/v2/") { "v2" } else { "v1" };
    format!("{}/{version}", caller.public_url())
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let kind = p.choice("Type", &TYPES)?.ok_or_else(|| ApiError::missing_param("Type"))?.to_owned();
    let secrets = Secrets::from_params(&p)?;
    secrets.check(&kind)?;
    let friendly_name = p.text("FriendlyName", limits::NAME_CHARS)?;
    let sandbox = p.bool("Sandbox")?;
    let sid = SidKind::Credential.generate();
    // A master key rotated since the last look seals new secrets from now on.
    state.keys.refresh().await;
    let (key_id, sealed) = secrets.seal(&state.keys.keyring(), &sid);
    let row = caller
        .write_account(move |tx, principal| {
            let now = time::now();
            let new = NewPushCredential {
                sid: &sid,
                account_sid: principal.account_sid(),
                friendly_name: friendly_name.as_deref(),
                credential_type: &kind,
                sandbox,
                key_id: &key_id,
                secrets_sealed: &sealed,
                date_created: now,
                date_updated: now,
            };
            Ok(store::push_credentials::insert(tx.conn()?, &new)?)
        })
        .await?;
    Ok(api::created(PushCredential::new(row, &base(&caller, &req))))
}

pub async fn fetch(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<CredentialPath>,
) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().credential;
    let row = caller
        .read_account(move |conn, principal| {
            Ok(store::push_credentials::find(conn, principal.account_sid(), &sid)?)
        })
        .await?;
    Ok(api::ok(PushCredential::new(row, &base(&caller, &req))))
}

/// Changes the name, the sandbox flag and any secret given; the others stay.
pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<CredentialPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let changes = Secrets::from_params(&p)?;
    let friendly_name = p.text("FriendlyName", limits::NAME_CHARS)?;
    let sandbox = p.bool("Sandbox")?;
    let sid = path.into_inner().credential;
    let resealing = changes.certificate.is_some()
        || changes.private_key.is_some()
        || changes.api_key.is_some()
        || changes.secret.is_some();
    // Opening the stored secrets may need a master key this process has
    // not loaded yet (a rotation by another process): look before the write.
    let keyring = if resealing {
        let sid = sid.clone();
        let key_id = caller
            .read_account(move |conn, principal| {
                Ok(store::push_credentials::find(conn, principal.account_sid(), &sid)?.key_id)
            })
            .await?;
        state.keys.refresh().await;
        state.keys.keyring_for(&key_id).await
    } else {
        state.keys.keyring()
    };
    let row = caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let current = store::push_credentials::find(conn, principal.account_sid(), &sid)?;
            let resealed = if resealing {
                let secrets = Secrets::open(&keyring, &current)?.merge(changes);
                secrets.check(&current.credential_type)?;
                Some(secrets.seal(&keyring, &current.sid))
            } else {
                None
            };
            let (key_id, secrets_sealed) = resealed.unzip();
            let update = PushCredentialChanges {
                friendly_name: friendly_name.map(|n| Some(n).filter(|n| !n.is_empty())),
                sandbox: sandbox.map(Some),
                key_id,
                secrets_sealed,
                date_updated: time::now(),
            };
            Ok(store::push_credentials::update(conn, principal.account_sid(), &current.sid, &update)?)
        })
        .await?;
    Ok(api::ok(PushCredential::new(row, &base(&caller, &req))))
}

pub async fn delete(caller: Caller, path: web::Path<CredentialPath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().credential;
    caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let row = store::push_credentials::find(conn, principal.account_sid(), &sid)?;
            Ok(store::push_credentials::delete(conn, &row.sid)?)
        })
        .await?;
    Ok(api::no_content())
}

pub async fn list(caller: Caller, req: HttpRequest, Query(q): Query) -> ApiResult<HttpResponse> {
    // Chat's list pages up to 1,000; Conversations' up to 100.
    let max = if req.path().starts_with("/v2/") { 1000 } else { 100 };
    let page = PageRequest::from_params(&q, max, "credentials")?;
    let seek = page.seek(false);
    let rows = caller
        .read_account(move |conn, principal| {
            Ok(store::push_credentials::list(conn, principal.account_sid(), &seek.query)?)
        })
        .await?;
    let base = base(&caller, &req);
    let window = seek.finish(rows, |r| r.id).map(|r| PushCredential::new(r, &base));
    Ok(ListPage::new("credentials", &format!("{base}/Credentials"), &[], &page, window).respond())
}
