//! Conversations (`CH…`): create, fetch, update, list, delete.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::standing::{self, Standing};
use crate::auth::{Caller, ServiceScope};
use crate::db::DbConnection;
use crate::domain::{ConversationState, Permission};
use crate::error::{ApiError, ApiResult, Code};
use crate::handlers::{conversation_in_scope, ensure_open, hooked, hooked_json, pre_event};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::conversations::{ConversationRow, ConversationSpec, ConversationUpdate, ListFilter};
use crate::store::page::Key;
use crate::store::participants::ParticipantSpec;
use crate::store::{self};
use crate::time;
use crate::views::conversations::Conversation;
use crate::webhooks::params::{self as webhook_params, Params as HookParams, set};
use crate::webhooks::pre::Changes;

use super::configuration::{MIN_CLOSED_SECS, MIN_INACTIVE_SECS};

#[derive(Deserialize)]
pub struct ConversationPath {
    pub conversation: String,
}

fn unique_name_param(p: &Params) -> Result<Option<Option<String>>, ApiError> {
    match p.text("UniqueName", limits::NAME_CHARS)? {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(Some(None)),
        Some(v) if SidKind::Conversation.matches(&v) => Err(ApiError::client(
            Code::UniqueNameLooksLikeSid,
            "UniqueName cannot have the format of a Conversation SID",
        )),
        Some(v) => Ok(Some(Some(v))),
    }
}

fn state_param(p: &Params) -> Result<Option<ConversationState>, ApiError> {
    Ok(p.choice("State", &ConversationState::NAMES)?.and_then(ConversationState::parse))
}

/// What a create request asks for; shared with ConversationWithParticipants.
/// The parameters are an update's, but a new conversation cannot start closed.
pub fn spec_from_params(p: &Params) -> Result<ConversationSpec, ApiError> {
    if p.str("State") == Some(ConversationState::Closed.as_str()) {
        return Err(ApiError::client(Code::InitialStateClosed, "Initial state can't be 'closed'"));
    }
    let u = update_from_params(p)?;
    Ok(ConversationSpec {
        unique_name: u.unique_name.flatten(),
        friendly_name: u.friendly_name,
        attributes: u.attributes,
        messaging_service_sid: u.messaging_service_sid,
        state: u.state,
        timer_inactive: u.timer_inactive,
        timer_closed: u.timer_closed,
        email_address: u.email_address,
        email_name: u.email_name,
        date_created: u.date_created,
        date_updated: u.date_updated,
        channel_type: None,
        created_by: None,
        invite_only: false,
    })
}

/// 403 for the first parameter a user's create sets that only account
/// credentials may (an end user names, describes and joins; delivery,
/// lifecycle and history belong to the backend).
pub fn refuse_admin_only(standing: &Standing, spec: &ConversationSpec) -> Result<(), ApiError> {
    standing.refuse_admin_only([
        ("MessagingServiceSid", spec.messaging_service_sid.is_some()),
        ("State", spec.state.is_some()),
        ("Timers", spec.timer_inactive.is_some() || spec.timer_closed.is_some()),
        ("Bindings", spec.email_address.is_some() || spec.email_name.is_some()),
        ("DateCreated", spec.date_created.is_some()),
        ("DateUpdated", spec.date_updated.is_some()),
        ("CreatedBy", spec.created_by.is_some()),
    ])
}

/// Creates a conversation as the caller: account credentials as `system`;
/// a user (holding `createConversation`) as itself, joining it with the
/// service's conversation-creator role.
pub fn create_as(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    standing: &Standing,
    spec: ConversationSpec,
) -> Result<ConversationRow, ApiError> {
    let now = time::now();
    let Some(identity) = standing.identity() else {
        return Ok(store::conversations::insert(
            conn,
            scope.account_sid(),
            &scope.service_sid,
            spec,
            "system",
            now,
        )?);
    };
    standing.require(Permission::CreateConversation)?;
    refuse_admin_only(standing, &spec)?;
    let row =
        store::conversations::insert(conn, scope.account_sid(), &scope.service_sid, spec, identity, now)?;
    let service = store::services::find(conn, &row.account_sid, &row.service_sid)?;
    let creator = ParticipantSpec {
        identity: Some(identity.to_owned()),
        role_sid: service.default_conversation_creator_role_sid.clone(),
        ..Default::default()
    };
    store::participants::insert(conn, &row, &creator, now)?;
    Ok(row)
}

/// What a pre-event webhook's answer changes in a conversation: its names
/// and attributes (a unique name that looks like a SID, or anything too
/// long or not JSON, is ignored and logged).
struct HookedNames {
    friendly_name: Option<String>,
    unique_name: Option<String>,
    attributes: Option<String>,
}

impl HookedNames {
    fn from(changes: &Changes) -> HookedNames {
        HookedNames {
            friendly_name: hooked(
                changes,
                &["FriendlyName", "friendly_name", "friendlyName"],
                limits::NAME_CHARS,
            ),
            unique_name: hooked(changes, &["UniqueName", "unique_name", "uniqueName"], limits::NAME_CHARS)
                .filter(|u| !SidKind::Conversation.matches(u)),
            attributes: hooked_json(changes, limits::CONVERSATION_ATTRIBUTES),
        }
    }
}

/// The proposed conversation as a pre-event webhook gets it.
fn proposed_names(
    params: &mut HookParams,
    friendly: Option<&str>,
    unique: Option<&str>,
    attributes: Option<&str>,
) {
    for (name, value) in [("FriendlyName", friendly), ("UniqueName", unique), ("Attributes", attributes)] {
        if value.is_some() {
            set(params, name, value);
        }
    }
}

pub async fn create(caller: Caller, state: web::Data<AppState>, Form(p): Form) -> ApiResult<HttpResponse> {
    let spec = spec_from_params(&p)?;
    let (scope, row) = create_conversation(&caller, &state, spec).await?;
    Ok(api::created(Conversation::new(row, &scope.urls.prefix)))
}

/// Creates a conversation as the caller, after its pre-event webhook (an
/// end user's); shared with Chat's channel create.
pub(crate) async fn create_conversation(
    caller: &Caller,
    state: &AppState,
    mut spec: ConversationSpec,
) -> Result<(ServiceScope, ConversationRow), ApiError> {
    let proposed = {
        let spec = spec.clone();
        move |_: &mut DbConnection, scope: &ServiceScope| {
            let standing = standing::in_service(scope);
            standing.require(Permission::CreateConversation)?;
            refuse_admin_only(&standing, &spec)?;
            let now = webhook_params::date(time::now());
            let mut params: HookParams = vec![("State".into(), "active".into()), ("DateCreated".into(), now)];
            let attributes = spec.attributes.as_deref().unwrap_or("{}");
            proposed_names(
                &mut params,
                spec.friendly_name.as_deref(),
                spec.unique_name.as_deref(),
                Some(attributes),
            );
            Ok(params)
        }
    };
    let changes =
        HookedNames::from(&pre_event(&state.webhooks, caller, "onConversationAdd", proposed).await?);
    spec.friendly_name = changes.friendly_name.or(spec.friendly_name);
    spec.unique_name = changes.unique_name.or(spec.unique_name);
    spec.attributes = changes.attributes.or(spec.attributes);
    caller.write(move |tx, scope| create_as(tx.conn()?, scope, &standing::in_service(scope), spec)).await
}

pub async fn fetch(caller: Caller, path: web::Path<ConversationPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().conversation;
    let (scope, (row, _)) = caller.read(move |conn, scope| conversation_in_scope(conn, scope, &key)).await?;
    Ok(api::ok(Conversation::new(row, &scope.urls.prefix)))
}

pub(crate) fn update_from_params(p: &Params) -> Result<ConversationUpdate, ApiError> {
    Ok(ConversationUpdate {
        unique_name: unique_name_param(p)?,
        friendly_name: p.text("FriendlyName", limits::NAME_CHARS)?,
        attributes: p.json_text("Attributes", limits::CONVERSATION_ATTRIBUTES)?,
        messaging_service_sid: p.sid("MessagingServiceSid", SidKind::MessagingService)?,
        state: state_param(p)?,
        timer_inactive: p.duration("Timers.Inactive", MIN_INACTIVE_SECS)?,
        timer_closed: p.duration("Timers.Closed", MIN_CLOSED_SECS)?,
        email_address: p.text("Bindings.Email.Address", limits::NAME_CHARS)?,
        email_name: p.text("Bindings.Email.Name", limits::NAME_CHARS)?,
        date_created: p.date("DateCreated")?,
        date_updated: p.date("DateUpdated")?,
        channel_type: None,
        created_by: None,
        invite_only: None,
    })
}

/// A user renames and describes (with the permissions for each); delivery,
/// lifecycle and history belong to the backend.
fn authorize_update(standing: &Standing, update: &ConversationUpdate) -> Result<(), ApiError> {
    if standing.is_admin() {
        return Ok(());
    }
    if update.unique_name.is_some() || update.friendly_name.is_some() {
        standing.require(Permission::EditConversationName)?;
    }
    if update.attributes.is_some() {
        standing.require(Permission::EditConversationAttributes)?;
    }
    standing.refuse_admin_only([
        ("MessagingServiceSid", update.messaging_service_sid.is_some()),
        ("Type", update.channel_type.is_some()),
        ("State", update.state.is_some()),
        ("Timers", update.timer_inactive.is_some() || update.timer_closed.is_some()),
        ("Bindings", update.email_address.is_some() || update.email_name.is_some()),
        ("DateCreated", update.date_created.is_some()),
        ("DateUpdated", update.date_updated.is_some()),
        ("CreatedBy", update.created_by.is_some()),
    ])
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let update = update_from_params(&p)?;
    let key = path.into_inner().conversation;
    let (scope, row) = update_conversation(&caller, &state, key, update).await?;
    Ok(api::ok(Conversation::new(row, &scope.urls.prefix)))
}

/// Updates the conversation `key` as the caller, after its pre-event
/// webhook (an end user's); shared with Chat's channel update.
pub(crate) async fn update_conversation(
    caller: &Caller,
    state: &AppState,
    key: String,
    update: ConversationUpdate,
) -> Result<(ServiceScope, ConversationRow), ApiError> {
    let proposed = {
        let (key, update) = (key.clone(), update.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let (current, standing) = conversation_in_scope(conn, scope, &key)?;
            authorize_update(&standing, &update)?;
            ensure_open(&current)?;
            let mut params = webhook_params::conversation(&current);
            let unique = update.unique_name.as_ref().map(|u| u.as_deref().unwrap_or(""));
            proposed_names(
                &mut params,
                update.friendly_name.as_deref(),
                unique,
                update.attributes.as_deref(),
            );
            Ok(params)
        }
    };
    let hooked =
        HookedNames::from(&pre_event(&state.webhooks, caller, "onConversationUpdate", proposed).await?);
    caller
        .write(move |tx, scope| {
            let mut update = update;
            let conn = tx.conn()?;
            let (current, standing) = conversation_in_scope(conn, scope, &key)?;
            authorize_update(&standing, &update)?;
            ensure_open(&current)?;
            // A user's request that changes nothing writes nothing (not
            // even date_updated, which no permission would cover).
            let names = update.unique_name.is_some() || update.friendly_name.is_some();
            if !standing.is_admin() && !names && update.attributes.is_none() {
                return Ok(current);
            }
            // What the webhook set, after the caller's own checks.
            update.friendly_name = hooked.friendly_name.or(update.friendly_name);
            update.unique_name = hooked.unique_name.map(Some).or(update.unique_name);
            update.attributes = hooked.attributes.or(update.attributes);
            Ok(store::conversations::update(conn, &current, update, time::now())?)
        })
        .await
}

/// Deletes the conversation; its participants, messages and media go with it.
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ConversationPath>,
) -> ApiResult<HttpResponse> {
    delete_conversation(&caller, &state, path.into_inner().conversation).await?;
    Ok(api::no_content())
}

/// Deletes the conversation `key` as the caller, after its pre-event
/// webhook (an end user's); shared with Chat's channel delete.
pub(crate) async fn delete_conversation(
    caller: &Caller,
    state: &AppState,
    key: String,
) -> Result<(), ApiError> {
    let proposed = {
        let key = key.clone();
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let (row, standing) = conversation_in_scope(conn, scope, &key)?;
            standing.require(Permission::DeleteConversation)?;
            Ok(webhook_params::conversation(&row))
        }
    };
    pre_event(&state.webhooks, caller, "onConversationRemove", proposed).await?;
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let (row, standing) = conversation_in_scope(conn, scope, &key)?;
            standing.require(Permission::DeleteConversation)?;
            Ok(store::conversations::delete(conn, &row.sid)?)
        })
        .await?;
    // Objects of media deleted with it go now, not at the next collector pass.
    state.collector.notify_one();
    Ok(())
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let created_from = q.date("StartDate")?;
    // A bare date as EndDate includes that whole day.
    let created_to = match q.str("EndDate") {
        Some(v) if v.len() == 10 => q.date("EndDate")?.map(|t| t + 86_399),
        _ => q.date("EndDate")?,
    };
    // With a date filter Twilio lists newest first; otherwise in creation order.
    let by_date = created_from.is_some() || created_to.is_some();
    let mut filter =
        ListFilter { state: state_param(&q)?, created_from, created_to, by_date, ..Default::default() };
    let page = PageRequest::from_params(
        &q,
        100,
        if by_date { "conversations by date desc" } else { "conversations" },
    )?;
    let seek = page.seek(by_date);
    let (scope, rows) = caller
        .read(move |conn, scope| {
            // A user lists the conversations it is in.
            filter.member = scope.end_user().map(|u| u.identity.clone());
            Ok(store::conversations::list(conn, &scope.service_sid, &filter, &seek.query)?)
        })
        .await?;
    let mut filters: Vec<(&str, &str)> = Vec::new();
    for name in ["StartDate", "EndDate", "State"] {
        if let Some(v) = q.str(name) {
            filters.push((name, v));
        }
    }
    let window = seek
        .finish(rows, |r| if by_date { Key(r.date_created, r.id) } else { Key::from(r.id) })
        .map(|r| Conversation::new(r, &scope.urls.prefix));
    Ok(ListPage::new(
        "conversations",
        &format!("{}/Conversations", scope.urls.prefix),
        &filters,
        &page,
        window,
    )
    .respond())
}
