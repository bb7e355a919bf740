//! Participants (`MB…`) of a conversation: chat participants by identity,
//! and messaging-binding participants by address.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::Caller;
use crate::auth::ServiceScope;
use crate::auth::standing::{self, Standing};
use crate::db::DbConnection;
use crate::domain::{Permission, RoleType};
use crate::error::{ApiError, ApiResult};
use crate::handlers::{conversation_in_scope, ensure_open, hooked, hooked_json, pre_event, role_param};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::conversations::{ConversationRow, PUBLIC};
use crate::store::participants::{ParticipantChanges, ParticipantRow, ParticipantSpec};
use crate::store::{self};
use crate::time;
use crate::views::participants::Participant;
use crate::webhooks::params::{self as webhook_params, Params as HookParams, set};
use crate::webhooks::pre::Changes;

use super::conversations::ConversationPath;

#[derive(Deserialize)]
pub struct ParticipantPath {
    conversation: String,
    participant: String,
}

/// What a request asks for, from form parameters or from one JSON
/// `Participant` entry of ConversationWithParticipants.
#[derive(Debug, Default, Deserialize)]
pub struct ParticipantParams {
    pub identity: Option<String>,
    #[serde(default)]
    pub messaging_binding: BindingParams,
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
    #[serde(skip)]
    pub date_created: Option<i64>,
    #[serde(skip)]
    pub date_updated: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BindingParams {
    pub address: Option<String>,
    pub proxy_address: Option<String>,
    pub projected_address: Option<String>,
}

impl ParticipantParams {
    pub fn from_params(p: &Params) -> Result<Self, ApiError> {
        Ok(ParticipantParams {
            identity: p.text("Identity", limits::IDENTITY_CHARS)?,
            messaging_binding: BindingParams {
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

    pub fn into_spec(self) -> ParticipantSpec {
        ParticipantSpec {
            identity: self.identity,
            binding_address: self.messaging_binding.address,
            binding_proxy_address: self.messaging_binding.proxy_address,
            binding_projected_address: self.messaging_binding.projected_address,
            attributes: self.attributes,
            role_sid: self.role_sid,
            last_read_message_index: None,
            last_read_timestamp: None,
            date_created: self.date_created,
            date_updated: self.date_updated,
        }
    }
}

/// Adds a participant after checking its role parameter, if any.
pub fn add(
    conn: &mut DbConnection,
    conversation: &ConversationRow,
    spec: &ParticipantSpec,
) -> Result<ParticipantRow, ApiError> {
    if let Some(role) = &spec.role_sid {
        ensure_open(conversation)?;
        role_param(conn, &conversation.service_sid, "RoleSid", role, RoleType::Conversation)?;
    }
    Ok(store::participants::insert(conn, conversation, spec, time::now())?)
}

/// A user may add this participant (or join as it)? An invite-only
/// channel (Chat's private ones) takes a user who joins by itself only
/// with an invite; to anyone else it does not exist.
fn authorize_add(
    conn: &mut DbConnection,
    key: &str,
    conversation: &ConversationRow,
    standing: &Standing,
    spec: &ParticipantSpec,
) -> Result<(), ApiError> {
    if standing.is_admin() {
        return Ok(());
    }
    if spec.role_sid.is_some() {
        standing.require_admin_for("RoleSid")?;
    }
    if spec.date_created.is_some() || spec.date_updated.is_some() {
        standing.require_admin_for("DateCreated and DateUpdated")?;
    }
    let joining = spec.identity.as_deref() == standing.identity() && !standing.is_participant();
    if joining {
        // A unique name can be guessed (`support-42`): a user joins a
        // conversation it is not in by its SID, which someone in it gave it,
        // unless it is a public channel, there for anyone to find.
        if key != conversation.sid && conversation.channel_type != PUBLIC {
            return Err(ApiError::NotFound);
        }
        let identity = standing.identity().unwrap_or_default();
        if conversation.invite_only && !store::invites::exists(conn, &conversation.sid, identity)? {
            return Err(ApiError::NotFound);
        }
        standing.require(Permission::JoinConversation)
    } else if !standing.is_participant() {
        Err(ApiError::NotFound)
    } else {
        standing.require(Permission::AddParticipant)
    }
}

/// What a pre-event webhook's answer changes in a participant.
struct HookedParticipant {
    attributes: Option<String>,
    role_sid: Option<String>,
}

impl HookedParticipant {
    fn from(changes: &Changes) -> HookedParticipant {
        HookedParticipant {
            attributes: hooked_json(changes, limits::PARTICIPANT_ATTRIBUTES),
            role_sid: hooked(changes, &["RoleSid", "role_sid", "roleSid"], 34)
                .filter(|r| SidKind::Role.matches(r)),
        }
    }
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let params = ParticipantParams::from_params(&p)?;
    params.validate("Identity")?;
    let spec = params.into_spec();
    let (scope, row) = add_participant(&caller, &state, path.into_inner().conversation, spec).await?;
    Ok(api::created(Participant::new(row, &scope.urls)))
}

/// Adds a participant to the conversation `key` as the caller (a user
/// joins, or adds another), after its pre-event webhook; shared with
/// Chat's member create.
pub(crate) async fn add_participant(
    caller: &Caller,
    state: &AppState,
    key: String,
    spec: ParticipantSpec,
) -> Result<(ServiceScope, ParticipantRow), ApiError> {
    let proposed = {
        let (key, spec) = (key.clone(), spec.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let conversation = store::conversations::find(conn, &scope.service_sid, &key)?;
            let standing = standing::towards_conversation(conn, scope, &conversation.sid)?;
            authorize_add(conn, &key, &conversation, &standing, &spec)?;
            let mut params: HookParams = vec![
                ("ConversationSid".into(), conversation.sid.clone()),
                ("Attributes".into(), spec.attributes.clone().unwrap_or_else(|| "{}".into())),
                ("DateCreated".into(), webhook_params::date(time::now())),
            ];
            set(&mut params, "Identity", spec.identity.as_deref());
            set(&mut params, "RoleSid", spec.role_sid.as_deref());
            set(&mut params, "MessagingBinding.Address", spec.binding_address.as_deref());
            set(&mut params, "MessagingBinding.ProxyAddress", spec.binding_proxy_address.as_deref());
            Ok(params)
        }
    };
    let hooked =
        HookedParticipant::from(&pre_event(&state.webhooks, caller, "onParticipantAdd", proposed).await?);
    caller
        .write(move |tx, scope| {
            let mut spec = spec;
            let conn = tx.conn()?;
            let conversation = store::conversations::find(conn, &scope.service_sid, &key)?;
            let standing = standing::towards_conversation(conn, scope, &conversation.sid)?;
            authorize_add(conn, &key, &conversation, &standing, &spec)?;
            // What the webhook set, after the caller's own checks.
            spec.attributes = hooked.attributes.or(spec.attributes);
            spec.role_sid = hooked.role_sid.or(spec.role_sid);
            add(conn, &conversation, &spec)
        })
        .await
}

pub async fn fetch(caller: Caller, path: web::Path<ParticipantPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = caller
        .read(move |conn, scope| {
            let (conversation, _) = conversation_in_scope(conn, scope, &path.conversation)?;
            Ok(store::participants::find(conn, &conversation.sid, &path.participant)?)
        })
        .await?;
    Ok(api::ok(Participant::new(row, &scope.urls)))
}

/// What a participant update asks for.
#[derive(Clone, Default)]
pub(crate) struct ParticipantUpdate {
    pub identity: Option<String>,
    pub attributes: Option<String>,
    pub role: Option<String>,
    pub proxy: Option<String>,
    pub projected: Option<String>,
    pub last_read_index: Option<i64>,
    pub last_read_at: Option<i64>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

impl ParticipantUpdate {
    fn from_params(p: &Params) -> Result<Self, ApiError> {
        Ok(ParticipantUpdate {
            identity: p.text("Identity", limits::IDENTITY_CHARS)?,
            attributes: p.json_text("Attributes", limits::PARTICIPANT_ATTRIBUTES)?,
            role: p.sid("RoleSid", SidKind::Role)?,
            proxy: p.text("MessagingBinding.ProxyAddress", limits::NAME_CHARS)?,
            projected: p.text("MessagingBinding.ProjectedAddress", limits::NAME_CHARS)?,
            last_read_index: p.int("LastReadMessageIndex", 0, i64::MAX)?,
            last_read_at: p.date("LastReadTimestamp")?,
            date_created: p.date("DateCreated")?,
            date_updated: p.date("DateUpdated")?,
        })
    }

    /// A user keeps its own read horizon and attributes (and, holding
    /// `editAnyMemberAttributes`, others' attributes); roles, identities,
    /// bindings and other participants are the admin's.
    fn authorize(&self, standing: &Standing, current: &ParticipantRow) -> Result<(), ApiError> {
        if standing.is_admin() {
            return Ok(());
        }
        if standing.participant_sid() != Some(current.sid.as_str()) {
            let only_attributes = ParticipantUpdate { attributes: None, ..self.clone() }.is_empty();
            if only_attributes && self.attributes.is_some() {
                return standing.require(Permission::EditAnyMemberAttributes);
            }
            return Err(ApiError::forbidden("Only account credentials can update another participant"));
        }
        standing.refuse_admin_only([
            ("RoleSid", self.role.is_some()),
            ("Identity", self.identity.is_some()),
            ("MessagingBinding", self.proxy.is_some() || self.projected.is_some()),
            ("DateCreated", self.date_created.is_some()),
            ("DateUpdated", self.date_updated.is_some()),
        ])
    }

    fn is_empty(&self) -> bool {
        self.identity.is_none()
            && self.attributes.is_none()
            && self.role.is_none()
            && self.proxy.is_none()
            && self.projected.is_none()
            && self.last_read_index.is_none()
            && self.last_read_at.is_none()
            && self.date_created.is_none()
            && self.date_updated.is_none()
    }

    /// The row changes: the role checked, a new identity's User ensured.
    fn into_changes(
        self,
        conn: &mut DbConnection,
        conversation: &ConversationRow,
        current: &ParticipantRow,
    ) -> Result<ParticipantChanges, ApiError> {
        let mut changes = ParticipantChanges {
            attributes: self.attributes,
            binding_proxy_address: self.proxy.map(|v| Some(v).filter(|s| !s.is_empty())),
            binding_projected_address: self.projected.map(|v| Some(v).filter(|s| !s.is_empty())),
            last_read_message_index: self.last_read_index.map(Some),
            last_read_timestamp: self.last_read_at.map(Some),
            date_created: self.date_created,
            date_updated: Some(self.date_updated.unwrap_or_else(time::now)),
            ..Default::default()
        };
        if let Some(r) = &self.role {
            changes.role_sid =
                Some(role_param(conn, &conversation.service_sid, "RoleSid", r, RoleType::Conversation)?.sid);
        }
        let Some(id) = self.identity.filter(|id| current.identity.as_deref() != Some(id.as_str())) else {
            return Ok(changes);
        };
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
            let service = store::services::find(conn, &conversation.account_sid, &conversation.service_sid)?;
            let user = store::users::ensure(conn, &service, &id, time::now())?;
            // The new identity is in one more conversation: its limit holds,
            // and its invite (with its role) is taken, as for an add.
            store::participants::ensure_room_for(conn, &service, &user.sid)?;
            if let Some(invite) = store::invites::take(conn, &conversation.sid, &id)?
                && changes.role_sid.is_none()
            {
                changes.role_sid = Some(invite.role_sid);
            }
            changes.user_sid = Some(Some(user.sid));
            changes.identity = Some(Some(id));
        }
        Ok(changes)
    }
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ParticipantPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let update = ParticipantUpdate::from_params(&p)?;
    let path = path.into_inner();
    let (scope, row) =
        update_participant(&caller, &state, path.conversation, path.participant, update).await?;
    Ok(api::ok(Participant::new(row, &scope.urls)))
}

/// Updates the participant `participant` (SID or identity) of the
/// conversation `conversation` as the caller, after its pre-event webhook;
/// shared with Chat's member update.
pub(crate) async fn update_participant(
    caller: &Caller,
    state: &AppState,
    conversation: String,
    participant: String,
    update: ParticipantUpdate,
) -> Result<(ServiceScope, ParticipantRow), ApiError> {
    let proposed = {
        let (conversation, participant, update) = (conversation.clone(), participant.clone(), update.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            ensure_open(&conversation)?;
            let current = store::participants::find(conn, &conversation.sid, &participant)?;
            update.authorize(&standing, &current)?;
            let mut params = webhook_params::participant(&current);
            if let Some(attributes) = &update.attributes {
                set(&mut params, "Attributes", Some(attributes));
            }
            if let Some(index) = update.last_read_index.or(current.last_read_message_index) {
                set(&mut params, "LastReadMessageIndex", Some(&index.to_string()));
            }
            set(&mut params, "DateUpdated", Some(&webhook_params::date(time::now())));
            Ok(params)
        }
    };
    let hooked =
        HookedParticipant::from(&pre_event(&state.webhooks, caller, "onParticipantUpdate", proposed).await?);
    caller
        .write(move |tx, scope| {
            let mut update = update;
            let conn = tx.conn()?;
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            ensure_open(&conversation)?;
            let current = store::participants::find(conn, &conversation.sid, &participant)?;
            update.authorize(&standing, &current)?;
            // What the webhook set, after the caller's own checks.
            update.attributes = hooked.attributes.or(update.attributes);
            update.role = hooked.role_sid.or(update.role);
            let changes = update.into_changes(conn, &conversation, &current)?;
            Ok(store::participants::update(conn, &current.sid, &changes)?)
        })
        .await
}

/// A user may remove this participant (leave, if it is themselves)?
fn authorize_remove(standing: &Standing, row: &ParticipantRow) -> Result<(), ApiError> {
    if standing.participant_sid() == Some(row.sid.as_str()) {
        standing.require(Permission::LeaveConversation)
    } else {
        standing.require(Permission::RemoveParticipant)
    }
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ParticipantPath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    remove_participant(&caller, &state, path.conversation, path.participant).await?;
    Ok(api::no_content())
}

/// Removes the participant (SID or identity) as the caller (a user leaves,
/// or removes another), after its pre-event webhook; shared with Chat.
pub(crate) async fn remove_participant(
    caller: &Caller,
    state: &AppState,
    conversation: String,
    participant: String,
) -> Result<(), ApiError> {
    let proposed = {
        let (conversation, participant) = (conversation.clone(), participant.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            let row = store::participants::find(conn, &conversation.sid, &participant)?;
            authorize_remove(&standing, &row)?;
            Ok(webhook_params::participant(&row))
        }
    };
    pre_event(&state.webhooks, caller, "onParticipantRemove", proposed).await?;
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            let row = store::participants::find(conn, &conversation.sid, &participant)?;
            authorize_remove(&standing, &row)?;
            Ok(store::participants::delete(conn, &row.sid)?)
        })
        .await?;
    Ok(())
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
            let (conversation, _) = conversation_in_scope(conn, scope, &key)?;
            let rows = store::participants::list(conn, &conversation.sid, &[], &seek.query)?;
            Ok((conversation, rows))
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| Participant::new(r, &scope.urls));
    let url = format!("{}/Conversations/{}/Participants", scope.urls.prefix, conversation.sid);
    Ok(ListPage::new("participants", &url, &[], &page, window).respond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_need_exactly_one_of_identity_and_address() {
        let both = ParticipantParams {
            identity: Some("alice".into()),
            messaging_binding: BindingParams { address: Some("+1555".into()), ..Default::default() },
            ..Default::default()
        };
        assert!(both.validate("Identity").is_err());
        assert!(ParticipantParams::default().validate("Identity").is_err());
        let chat = ParticipantParams { identity: Some("alice".into()), ..Default::default() };
        assert!(chat.validate("Identity").is_ok());
    }
}
