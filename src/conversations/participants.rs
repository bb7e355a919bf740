//! Participants (`MB…`): chat participants (by identity, each backed by a
//! User) and messaging-binding participants (SMS/WhatsApp addresses).

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, ServiceScope, limits, time};
use crate::auth::Caller;
use crate::db::DbConnection;
use crate::db::schema::participants;
use crate::error::{ApiError, ApiResult, codes, is_unique_violation};
use crate::keyset;
use crate::roles::{self, RoleType, access};
use crate::sid::SidKind;

use super::conversations::{self as conversation_queries, ConversationPath, ConversationRow};
use super::services::{self as service_queries};
use super::users;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = participants)]
pub struct ParticipantRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    pub identity: Option<String>,
    pub user_sid: Option<String>,
    pub attributes: String,
    pub role_sid: String,
    pub binding_type: Option<String>,
    pub binding_address: Option<String>,
    pub binding_proxy_address: Option<String>,
    pub binding_projected_address: Option<String>,
    pub last_read_message_index: Option<i64>,
    pub last_read_timestamp: Option<i64>,
    pub notification_level: String,
    pub date_created: i64,
    pub date_updated: i64,
}

impl ParticipantRow {
    /// `null` for chat participants, else the binding's non-empty fields.
    pub fn messaging_binding(&self) -> Value {
        let Some(kind) = &self.binding_type else {
            return Value::Null;
        };
        let mut m = serde_json::Map::new();
        m.insert("type".into(), json!(kind));
        for (key, value) in [
            ("address", &self.binding_address),
            ("proxy_address", &self.binding_proxy_address),
            ("projected_address", &self.binding_projected_address),
        ] {
            if let Some(v) = value {
                m.insert(key.into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

#[derive(Insertable)]
#[diesel(table_name = participants, treat_none_as_default_value = false)]
struct NewParticipant<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    conversation_sid: &'a str,
    identity: Option<&'a str>,
    user_sid: Option<&'a str>,
    attributes: &'a str,
    role_sid: &'a str,
    binding_type: Option<&'a str>,
    binding_address: Option<&'a str>,
    binding_proxy_address: Option<&'a str>,
    binding_projected_address: Option<&'a str>,
    date_created: i64,
    date_updated: i64,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = participants)]
struct ParticipantChanges {
    identity: Option<Option<String>>,
    user_sid: Option<Option<String>>,
    attributes: Option<String>,
    role_sid: Option<String>,
    binding_proxy_address: Option<Option<String>>,
    binding_projected_address: Option<Option<String>>,
    last_read_message_index: Option<Option<i64>>,
    last_read_timestamp: Option<Option<i64>>,
    notification_level: Option<String>,
    date_created: Option<i64>,
    date_updated: Option<i64>,
}

/// What a request asks for, from form parameters or from one JSON
/// `Participant` entry of ConversationWithParticipants.
#[derive(Debug, Default, Deserialize)]
pub struct ParticipantSpec {
    pub identity: Option<String>,
    #[serde(default)]
    pub messaging_binding: BindingSpec,
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
    #[serde(skip)]
    pub date_created: Option<i64>,
    #[serde(skip)]
    pub date_updated: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BindingSpec {
    pub address: Option<String>,
    pub proxy_address: Option<String>,
    pub projected_address: Option<String>,
}

impl ParticipantSpec {
    pub fn from_params(p: &Params) -> Result<Self, ApiError> {
        Ok(ParticipantSpec {
            identity: p.text("Identity", limits::IDENTITY_CHARS)?,
            messaging_binding: BindingSpec {
                address: p.text("MessagingBinding.Address", limits::NAME_CHARS)?,
                proxy_address: p.text("MessagingBinding.ProxyAddress", limits::NAME_CHARS)?,
                projected_address: p.text("MessagingBinding.ProjectedAddress", limits::NAME_CHARS)?,
            },
            attributes: p.json_text("Attributes", limits::PARTICIPANT_ATTRIBUTES)?,
            role_sid: p.sid("RoleSid", SidKind::Role)?,
            date_created: p.date("DateCreated")?,
            date_updated: p.date("DateUpdated")?,
        })
    }

    /// Checks the combination and field formats; `param` names the source in errors.
    pub fn validate(&self, param: &str) -> Result<(), ApiError> {
        let b = &self.messaging_binding;
        let non_empty = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if non_empty(&self.identity) && non_empty(&b.address) {
            return Err(ApiError::invalid_param(
                param,
                "a participant has either an Identity (chat) or a MessagingBinding.Address, not both",
            ));
        }
        if !non_empty(&self.identity) && !non_empty(&b.address) {
            return Err(ApiError::invalid_param(
                param,
                "either Identity or MessagingBinding.Address is required",
            ));
        }
        if let Some(id) = &self.identity
            && id.chars().count() > limits::IDENTITY_CHARS
        {
            return Err(ApiError::invalid_param(param, "Identity is longer than 256 characters"));
        }
        if let Some(a) = &self.attributes {
            serde_json::from_str::<serde::de::IgnoredAny>(a)
                .map_err(|_| ApiError::invalid_param(param, "Attributes must be valid JSON"))?;
            if a.len() > limits::PARTICIPANT_ATTRIBUTES {
                return Err(ApiError::invalid_param(param, "Attributes is larger than 4 KiB"));
            }
        }
        if let Some(r) = &self.role_sid
            && !SidKind::Role.matches(r)
        {
            return Err(ApiError::invalid_param(param, format!("RoleSid {r:?} is not a role SID")));
        }
        Ok(())
    }
}

/// `whatsapp:+1…` → whatsapp; plain numbers → sms.
fn binding_type(address: &str) -> &'static str {
    for kind in ["whatsapp", "messenger", "gbm", "rcs", "email"] {
        if address.strip_prefix(kind).is_some_and(|r| r.starts_with(':')) {
            return kind;
        }
    }
    "sms"
}

/// Adds a participant to `conversation` (`spec` already validated). Chat
/// participants get a User, created with the service's default role when
/// new. Call inside a transaction.
pub fn insert(
    conn: &mut DbConnection,
    conversation: &ConversationRow,
    spec: &ParticipantSpec,
) -> Result<ParticipantRow, ApiError> {
    if conversation.state == "closed" {
        return Err(conversation_queries::closed_error());
    }
    let service = service_queries::find(conn, &conversation.account_sid, &conversation.service_sid)?;
    let role_sid = match &spec.role_sid {
        Some(r) => roles::find_for_param(conn, &service.sid, "RoleSid", r, RoleType::Conversation)?.sid,
        None => service
            .default_conversation_role_sid
            .clone()
            .ok_or_else(|| ApiError::internal("service has no default conversation role"))?,
    };
    let identity = spec.identity.as_deref().filter(|s| !s.is_empty());
    let user_sid = match identity {
        Some(id) => Some(users::ensure(conn, &service, id)?.sid),
        None => None,
    };
    let b = &spec.messaging_binding;
    let address = b.address.as_deref().filter(|s| !s.is_empty());
    let projected = b.projected_address.as_deref().filter(|s| !s.is_empty());
    let kind = address.or(projected).map(binding_type);
    let now = time::now();
    let date_created = spec.date_created.unwrap_or(now);
    let sid = SidKind::Participant.generate();
    diesel::insert_into(participants::table)
        .values(NewParticipant {
            sid: &sid,
            account_sid: &conversation.account_sid,
            service_sid: &conversation.service_sid,
            conversation_sid: &conversation.sid,
            identity,
            user_sid: user_sid.as_deref(),
            attributes: spec.attributes.as_deref().unwrap_or("{}"),
            role_sid: &role_sid,
            binding_type: kind,
            binding_address: address,
            binding_proxy_address: b.proxy_address.as_deref().filter(|s| !s.is_empty()),
            binding_projected_address: projected,
            date_created,
            date_updated: spec.date_updated.unwrap_or(date_created),
        })
        .execute(conn)
        .map_err(|e| {
            if !is_unique_violation(&e) {
                return e.into();
            }
            match (identity, address) {
                (Some(id), _) => ApiError::conflict(
                    codes::PARTICIPANT_EXISTS,
                    format!("A participant with identity {id:?} already exists in this conversation"),
                ),
                (None, Some(a)) => ApiError::conflict(
                    codes::PARTICIPANT_ADDRESS_EXISTS,
                    format!("A participant with address {a:?} already exists in this conversation"),
                ),
                _ => e.into(),
            }
        })?;
    find_by_sid(conn, &sid)
}

pub fn find_by_sid(conn: &mut DbConnection, sid: &str) -> Result<ParticipantRow, ApiError> {
    participants::table
        .filter(participants::sid.eq(sid))
        .select(ParticipantRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

/// A participant of the conversation by SID or identity.
pub fn find(conn: &mut DbConnection, conversation_sid: &str, key: &str) -> Result<ParticipantRow, ApiError> {
    let query = participants::table
        .filter(participants::conversation_sid.eq(conversation_sid))
        .select(ParticipantRow::as_select())
        .into_boxed();
    let query = if SidKind::Participant.matches(key) {
        query.filter(participants::sid.eq(key))
    } else {
        query.filter(participants::identity.eq(key))
    };
    query.get_result(conn).optional()?.ok_or(ApiError::NotFound)
}

/// The chat participant with this identity, if any (a message's author).
pub fn sid_for_identity(
    conn: &mut DbConnection,
    conversation_sid: &str,
    identity: &str,
) -> QueryResult<Option<String>> {
    participants::table
        .filter(participants::conversation_sid.eq(conversation_sid))
        .filter(participants::identity.eq(identity))
        .select(participants::sid)
        .get_result(conn)
        .optional()
}

#[derive(Serialize)]
pub struct ParticipantView {
    account_sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_service_sid: Option<String>,
    conversation_sid: String,
    sid: String,
    identity: Option<String>,
    attributes: String,
    messaging_binding: Value,
    role_sid: String,
    date_created: String,
    date_updated: String,
    url: String,
    last_read_message_index: Option<i64>,
    last_read_timestamp: Option<String>,
}

impl ParticipantView {
    pub fn new(row: ParticipantRow, scope: &ServiceScope) -> Self {
        ParticipantView {
            url: format!("{}/Conversations/{}/Participants/{}", scope.prefix, row.conversation_sid, row.sid),
            messaging_binding: row.messaging_binding(),
            account_sid: row.account_sid,
            chat_service_sid: scope.chat_service_sid().map(str::to_owned),
            conversation_sid: row.conversation_sid,
            sid: row.sid,
            identity: row.identity,
            attributes: row.attributes,
            role_sid: row.role_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            last_read_message_index: row.last_read_message_index,
            last_read_timestamp: time::format_opt(row.last_read_timestamp),
        }
    }
}

#[derive(Deserialize)]
pub struct ParticipantPath {
    conversation: String,
    participant: String,
}

pub async fn create(
    caller: Caller,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let spec = ParticipantSpec::from_params(&p)?;
    spec.validate("Identity")?;
    let key = path.into_inner().conversation;
    let (scope, row) = caller
        .write(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &key)?;
            let standing = access::towards_conversation(conn, scope, &conversation.sid)?;
            if !standing.is_admin() {
                if spec.role_sid.is_some() {
                    standing.require_admin_for("RoleSid")?;
                }
                if spec.date_created.is_some() || spec.date_updated.is_some() {
                    standing.require_admin_for("DateCreated and DateUpdated")?;
                }
                let joining = spec.identity.as_deref() == standing.identity() && !standing.is_participant();
                if joining {
                    standing.require("joinConversation")?;
                } else if !standing.is_participant() {
                    return Err(ApiError::NotFound);
                } else {
                    standing.require("addParticipant")?;
                }
            }
            insert(conn, &conversation, &spec)
        })
        .await?;
    Ok(api::created(ParticipantView::new(row, &scope)))
}

pub async fn fetch(caller: Caller, path: web::Path<ParticipantPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = caller
        .read(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &path.conversation)?;
            access::in_conversation(conn, scope, &conversation.sid)?;
            find(conn, &conversation.sid, &path.participant)
        })
        .await?;
    Ok(api::ok(ParticipantView::new(row, &scope)))
}

pub async fn update(
    caller: Caller,
    path: web::Path<ParticipantPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let identity = p.text("Identity", limits::IDENTITY_CHARS)?;
    let attributes = p.json_text("Attributes", limits::PARTICIPANT_ATTRIBUTES)?;
    let role = p.sid("RoleSid", SidKind::Role)?;
    let proxy = p.text("MessagingBinding.ProxyAddress", limits::NAME_CHARS)?;
    let projected = p.text("MessagingBinding.ProjectedAddress", limits::NAME_CHARS)?;
    let last_read_index = p.int("LastReadMessageIndex", 0, i64::MAX)?;
    let last_read_at = p.date("LastReadTimestamp")?;
    let date_created = p.date("DateCreated")?;
    let date_updated = p.date("DateUpdated")?;
    let path = path.into_inner();
    let (scope, row) = caller
        .write(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &path.conversation)?;
            let standing = access::in_conversation(conn, scope, &conversation.sid)?;
            if conversation.state == "closed" {
                return Err(conversation_queries::closed_error());
            }
            let current = find(conn, &conversation.sid, &path.participant)?;
            if !standing.is_admin() {
                // A user keeps its own read horizon and attributes; roles,
                // identities, bindings and other participants are the admin's.
                if standing.participant_sid() != Some(current.sid.as_str()) {
                    return Err(ApiError::forbidden(
                        "Only account credentials can update another participant",
                    ));
                }
                for (name, set) in [
                    ("RoleSid", role.is_some()),
                    ("Identity", identity.is_some()),
                    ("MessagingBinding", proxy.is_some() || projected.is_some()),
                    ("DateCreated", date_created.is_some()),
                    ("DateUpdated", date_updated.is_some()),
                ] {
                    if set {
                        standing.require_admin_for(name)?;
                    }
                }
            }
            let mut changes = ParticipantChanges {
                attributes,
                binding_proxy_address: proxy.map(|v| Some(v).filter(|s| !s.is_empty())),
                binding_projected_address: projected.map(|v| Some(v).filter(|s| !s.is_empty())),
                last_read_message_index: last_read_index.map(Some),
                last_read_timestamp: last_read_at.map(Some),
                date_created,
                date_updated: Some(date_updated.unwrap_or_else(time::now)),
                ..Default::default()
            };
            if let Some(r) = &role {
                changes.role_sid = Some(
                    roles::find_for_param(conn, &scope.service_sid, "RoleSid", r, RoleType::Conversation)?
                        .sid,
                );
            }
            if let Some(id) = identity.filter(|id| current.identity.as_deref() != Some(id.as_str())) {
                if current.binding_address.is_some() && !id.is_empty() {
                    return Err(ApiError::invalid_param(
                        "Identity",
                        "a participant with a MessagingBinding.Address cannot also have an Identity",
                    ));
                }
                if id.is_empty() && current.binding_address.is_none() {
                    return Err(ApiError::invalid_param(
                        "Identity",
                        "a chat participant keeps its Identity (remove the participant instead)",
                    ));
                }
                if id.is_empty() {
                    changes.identity = Some(None);
                    changes.user_sid = Some(None);
                } else {
                    let service = service_queries::find(conn, &conversation.account_sid, &scope.service_sid)?;
                    changes.user_sid = Some(Some(users::ensure(conn, &service, &id)?.sid));
                    changes.identity = Some(Some(id));
                }
            }
            diesel::update(participants::table.filter(participants::sid.eq(&current.sid)))
                .set(&changes)
                .execute(conn)
                .map_err(|e| match (&changes.identity, is_unique_violation(&e)) {
                    (Some(Some(id)), true) => ApiError::conflict(
                        codes::PARTICIPANT_EXISTS,
                        format!("A participant with identity {id:?} already exists in this conversation"),
                    ),
                    _ => e.into(),
                })?;
            find_by_sid(conn, &current.sid)
        })
        .await?;
    Ok(api::ok(ParticipantView::new(row, &scope)))
}

pub async fn delete(caller: Caller, path: web::Path<ParticipantPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    caller
        .write(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &path.conversation)?;
            let standing = access::in_conversation(conn, scope, &conversation.sid)?;
            let row = find(conn, &conversation.sid, &path.participant)?;
            if standing.participant_sid() == Some(row.sid.as_str()) {
                standing.require("leaveConversation")?;
            } else {
                standing.require("removeParticipant")?;
            }
            diesel::delete(participants::table.filter(participants::sid.eq(&row.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(api::no_content())
}

pub async fn list(
    caller: Caller,
    path: web::Path<ConversationPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 100, "participants")?;
    let seek = page.seek(false);
    let key = path.into_inner().conversation;
    let (scope, (conversation, rows)) = caller
        .read(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &key)?;
            access::in_conversation(conn, scope, &conversation.sid)?;
            let query = participants::table
                .filter(participants::conversation_sid.eq(&conversation.sid))
                .select(ParticipantRow::as_select())
                .into_boxed();
            let rows = keyset!(query, participants::id, seek).load(conn)?;
            Ok((conversation, rows))
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| ParticipantView::new(r, &scope));
    let url = format!("{}/Conversations/{}/Participants", scope.prefix, conversation.sid);
    Ok(ListPage::new("participants", &url, &[], &page, window).respond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_types_follow_the_address_prefix() {
        assert_eq!(binding_type("+15558675310"), "sms");
        assert_eq!(binding_type("whatsapp:+15558675310"), "whatsapp");
        assert_eq!(binding_type("rcs:+15558675310"), "rcs");
        assert_eq!(binding_type("whatsappish"), "sms");
    }

    #[test]
    fn spec_needs_exactly_one_of_identity_and_address() {
        let both = ParticipantSpec {
            identity: Some("alice".into()),
            messaging_binding: BindingSpec { address: Some("+1555".into()), ..Default::default() },
            ..Default::default()
        };
        assert!(both.validate("Identity").is_err());
        assert!(ParticipantSpec::default().validate("Identity").is_err());
        let chat = ParticipantSpec { identity: Some("alice".into()), ..Default::default() };
        assert!(chat.validate("Identity").is_ok());
    }
}
