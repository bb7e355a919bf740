//! Push registrations (`BS…`), one resource on Conversations'
//! `/v1/Services/{IS}/Bindings` and Chat's `/v2/Services/{IS}/Bindings`
//! (and a user's `/v2/Services/{IS}/Users/{US}/Bindings`). Twilio's SDKs
//! registered a device through a private endpoint; Confab's is `POST` on the
//! same list: an end user registers their own device (the access token's
//! chat grant `endpoint_id` and `push_credential_sid` are the defaults),
//! account credentials anyone's. An end user lists, fetches and deletes only
//! their own bindings. (Confab keeps registrations; it sends no push
//! notifications yet.)

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::{Caller, ServiceScope};
use crate::db::DbConnection;
use crate::error::{ApiError, ApiResult, Code};
use crate::sid::SidKind;
use crate::store::bindings::{BindingFilter, BindingRow, NewBinding};
use crate::store::page::PageQuery;
use crate::store::{self, StoreError};
use crate::time;
use crate::views::bindings::ServiceBinding;

/// The kinds of push registration.
pub(crate) const TYPES: [&str; 3] = ["apn", "gcm", "fcm"];
/// What a binding may be notified of (all, unless `MessageTypes` says).
const MESSAGE_TYPES: [&str; 4] =
    ["new_message", "added_to_channel", "removed_from_channel", "invited_to_channel"];
/// The longest device token and endpoint accepted (APNs and FCM tokens are
/// a few hundred characters; the address is indexed).
const ADDRESS_CHARS: usize = 512;
const ENDPOINT_CHARS: usize = 256;

#[derive(Deserialize)]
pub struct BindingPath {
    binding: String,
}

/// A registration as the request asks for it.
pub(crate) struct Registration {
    binding_type: String,
    address: String,
    endpoint: Option<String>,
    credential_sid: Option<String>,
    message_types: String,
    identity: Option<String>,
}

impl Registration {
    pub(crate) fn from_params(p: &Params) -> Result<Registration, ApiError> {
        let binding_type = p
            .choice("BindingType", &TYPES)?
            .ok_or_else(|| ApiError::missing_param("BindingType"))?
            .to_owned();
        let address = p
            .text("Address", ADDRESS_CHARS)?
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::missing_param("Address"))?;
        let mut types: Vec<&str> = Vec::new();
        for value in p.all("MessageTypes") {
            for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !MESSAGE_TYPES.contains(&t) {
                    return Err(ApiError::invalid_param(
                        "MessageTypes",
                        format!("{t:?} is not one of {}", MESSAGE_TYPES.join(", ")),
                    ));
                }
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
        if types.is_empty() {
            types = MESSAGE_TYPES.to_vec();
        }
        Ok(Registration {
            binding_type,
            address,
            endpoint: p.text("Endpoint", ENDPOINT_CHARS)?.filter(|e| !e.is_empty()),
            credential_sid: p.sid("CredentialSid", SidKind::Credential)?,
            message_types: serde_json::to_string(&types).expect("a list of names serializes"),
            identity: p.text("Identity", limits::IDENTITY_CHARS)?.filter(|i| !i.is_empty()),
        })
    }
}

/// Registers a device in the caller's service: the binding and whether it
/// is new (a device registered again is updated in place).
pub(crate) async fn register(
    caller: &Caller,
    reg: Registration,
) -> Result<(ServiceScope, (BindingRow, bool)), ApiError> {
    let (grant_endpoint, grant_credential) = caller.push_grant();
    let endpoint = reg
        .endpoint
        .clone()
        .or(grant_endpoint.map(str::to_owned))
        .ok_or_else(|| ApiError::missing_param("Endpoint (or the token's endpoint_id)"))?;
    if endpoint.chars().count() > ENDPOINT_CHARS {
        return Err(ApiError::invalid_param(
            "Endpoint",
            format!("the token's endpoint_id is over {ENDPOINT_CHARS} characters"),
        ));
    }
    let credential_sid = reg
        .credential_sid
        .clone()
        .or(grant_credential.map(str::to_owned))
        .ok_or_else(|| ApiError::missing_param("CredentialSid (or the token's push_credential_sid)"))?;
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let (user_sid, identity) = registrant(conn, scope, reg.identity.as_deref())?;
            let credential = match store::push_credentials::find(conn, scope.account_sid(), &credential_sid) {
                Ok(c) => c,
                Err(StoreError::NotFound) => {
                    return Err(ApiError::invalid_param(
                        "CredentialSid",
                        format!("no push credential {credential_sid} in this account"),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            let fits = match reg.binding_type.as_str() {
                "apn" => credential.credential_type == "apn",
                _ => credential.credential_type != "apn",
            };
            if !fits {
                return Err(ApiError::invalid_param(
                    "CredentialSid",
                    format!(
                        "{credential_sid} is a {} credential; a {} binding needs {}",
                        credential.credential_type,
                        reg.binding_type,
                        if reg.binding_type == "apn" { "an apn one" } else { "a gcm or fcm one" }
                    ),
                ));
            }
            let now = time::now();
            let new = NewBinding {
                sid: &SidKind::Binding.generate(),
                account_sid: scope.account_sid(),
                service_sid: &scope.service_sid,
                user_sid: &user_sid,
                identity: &identity,
                credential_sid: &credential.sid,
                binding_type: &reg.binding_type,
                endpoint: &endpoint,
                address: &reg.address,
                message_types: &reg.message_types,
                date_created: now,
                date_updated: now,
            };
            Ok(store::bindings::register(conn, &new)?)
        })
        .await
}

/// Whose device is registered: an end user's own (an `Identity` naming
/// someone else is refused), or for account credentials the user `Identity`
/// names.
fn registrant(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    identity: Option<&str>,
) -> Result<(String, String), ApiError> {
    if let Some(user) = scope.end_user() {
        if identity.is_some_and(|i| i != user.identity) {
            return Err(ApiError::forbidden("A user registers only their own devices"));
        }
        return Ok((user.user_sid.clone(), user.identity.clone()));
    }
    let identity = identity.ok_or_else(|| ApiError::missing_param("Identity"))?;
    match store::users::find_by_identity(conn, &scope.service_sid, identity)? {
        Some(user) => Ok((user.sid, user.identity)),
        None => Err(ApiError::NotFoundAs(Code::UserNotFound)),
    }
}

/// The binding `sid` of the service, as the caller may see it (an end
/// user: their own only; `user`: that user's only).
pub(crate) async fn fetch(
    caller: &Caller,
    sid: String,
    user: Option<String>,
) -> Result<(ServiceScope, BindingRow), ApiError> {
    caller
        .read(move |conn, scope| {
            let row = store::bindings::find(conn, &scope.service_sid, &sid)?;
            visible(conn, scope, &row, user.as_deref())?;
            Ok(row)
        })
        .await
}

pub(crate) async fn delete(caller: &Caller, sid: String, user: Option<String>) -> Result<(), ApiError> {
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let row = store::bindings::find(conn, &scope.service_sid, &sid)?;
            visible(conn, scope, &row, user.as_deref())?;
            Ok(store::bindings::delete(conn, &row.sid)?)
        })
        .await?;
    Ok(())
}

/// 404 unless the caller may see `row` (and it is `user`'s, if named).
fn visible(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    row: &BindingRow,
    user: Option<&str>,
) -> Result<(), ApiError> {
    if scope.end_user().is_some_and(|u| u.user_sid != row.user_sid) {
        return Err(ApiError::NotFound);
    }
    if let Some(user) = user {
        let user = store::users::find(conn, &scope.service_sid, user)?;
        if user.sid != row.user_sid {
            return Err(ApiError::NotFound);
        }
    }
    Ok(())
}

/// A page of the service's bindings as the caller may see them: `filter`
/// narrows it (`user_sid` there is a SID or an identity); an end user sees
/// only their own.
pub(crate) async fn list(
    caller: &Caller,
    mut filter: BindingFilter,
    page: PageQuery,
) -> Result<(ServiceScope, (Option<String>, Vec<BindingRow>)), ApiError> {
    caller
        .read(move |conn, scope| {
            if let Some(key) = &filter.user_sid {
                filter.user_sid = Some(store::users::find(conn, &scope.service_sid, key)?.sid);
            }
            if let Some(me) = scope.end_user() {
                if filter.user_sid.as_ref().is_some_and(|u| *u != me.user_sid) {
                    return Err(ApiError::NotFound);
                }
                filter.user_sid = Some(me.user_sid.clone());
            }
            let rows = store::bindings::list(conn, &scope.service_sid, &filter, &page)?;
            Ok((filter.user_sid, rows))
        })
        .await
}

/// `BindingType` and `Identity` filters (each repeatable).
pub(crate) fn filter_params(q: &Params, with_identity: bool) -> Result<BindingFilter, ApiError> {
    let mut filter = BindingFilter::default();
    for t in q.all("BindingType") {
        if !TYPES.contains(&t) {
            return Err(ApiError::invalid_param(
                "BindingType",
                format!("expected one of {}", TYPES.join(", ")),
            ));
        }
        filter.binding_types.push(t.to_owned());
    }
    if with_identity {
        filter.identities = q.all("Identity").into_iter().map(str::to_owned).collect();
    }
    Ok(filter)
}

pub(crate) fn filter_pairs(filter: &BindingFilter) -> Vec<(&str, &str)> {
    let types = filter.binding_types.iter().map(|t| ("BindingType", t.as_str()));
    types.chain(filter.identities.iter().map(|i| ("Identity", i.as_str()))).collect()
}

// Conversations' /v1/Services/{IS}/Bindings.

pub async fn create_v1(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let reg = Registration::from_params(&p)?;
    let (scope, (row, created)) = register(&caller, reg).await?;
    let view = ServiceBinding::new(row, &scope.urls);
    Ok(if created { api::created(view) } else { api::ok(view) })
}

pub async fn fetch_v1(caller: Caller, path: web::Path<BindingPath>) -> ApiResult<HttpResponse> {
    let (scope, row) = fetch(&caller, path.into_inner().binding, None).await?;
    Ok(api::ok(ServiceBinding::new(row, &scope.urls)))
}

pub async fn delete_v1(caller: Caller, path: web::Path<BindingPath>) -> ApiResult<HttpResponse> {
    delete(&caller, path.into_inner().binding, None).await?;
    Ok(api::no_content())
}

pub async fn list_v1(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let filter = filter_params(&q, true)?;
    let pairs: Vec<(String, String)> =
        filter_pairs(&filter).into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let page = PageRequest::from_params(&q, 100, "bindings")?;
    let seek = page.seek(false);
    let (scope, (_, rows)) = list(&caller, filter, seek.query).await?;
    let window = seek.finish(rows, |r| r.id).map(|r| ServiceBinding::new(r, &scope.urls));
    let url = format!("{}/Bindings", scope.urls.prefix);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(ListPage::new("bindings", &url, &pairs, &page, window).respond())
}
