//! Messages (`IM…`): send (with media attached by `MediaSid`), fetch, edit,
//! delete, list. A send is one store call, `store::messages::append`,
//! whatever the caller and the dialect.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::standing::{self, Standing};
use crate::auth::{Caller, ServiceScope};
use crate::db::{DbConnection, Tx};
use crate::domain::Permission;
use crate::error::{ApiError, ApiResult};
use crate::handlers::media::media_sids_param;
use crate::handlers::{conversation_in_scope, ensure_open, hooked, hooked_json, pre_event};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::messages::{Attachments, Author, MessageChanges, MessageRow, NewMessage};
use crate::store::{self};
use crate::time;
use crate::views::messages::Message;
use crate::webhooks::params::Params;

use super::conversations::ConversationPath;

#[derive(Deserialize)]
pub struct MessagePath {
    conversation: String,
    message: String,
}

/// Where a send goes, as its check phase found it.
struct Target {
    conversation_sid: String,
    author: Author,
}

/// A send's parameters, checked before any database work.
#[derive(Default)]
pub(crate) struct Draft {
    pub author: Option<String>,
    /// An author a pre-event webhook set for an end user's message.
    pub hooked_author: Option<String>,
    pub body: Option<String>,
    pub attributes: Option<String>,
    pub content_sid: Option<String>,
    pub subject: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
    /// Chat's `LastUpdatedBy` on create (account credentials only).
    pub last_updated_by: Option<String>,
}

impl Draft {
    fn from_params(p: &api::Params) -> Result<Draft, ApiError> {
        Ok(Draft {
            author: p.text("Author", limits::IDENTITY_CHARS)?,
            hooked_author: None,
            last_updated_by: None,
            body: p.text("Body", limits::MESSAGE_BODY_CHARS)?,
            attributes: p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?,
            content_sid: p.sid("ContentSid", SidKind::Content)?,
            subject: p.text("Subject", limits::NAME_CHARS)?,
            date_created: p.date("DateCreated")?,
            date_updated: p.date("DateUpdated")?,
        })
    }

    /// The message to append: account credentials write as `Author` (or
    /// `system`), a user as its identity.
    fn into_message(self, scope: &ServiceScope, now: i64) -> NewMessage {
        let author = match (scope.end_user(), self.hooked_author) {
            (Some(_), Some(hooked)) => hooked,
            (Some(user), None) => user.identity.clone(),
            (None, _) => self.author.filter(|a| !a.is_empty()).unwrap_or_else(|| "system".into()),
        };
        let date_created = self.date_created.unwrap_or(now);
        NewMessage {
            sid: SidKind::Message.generate(),
            account_sid: scope.account_sid().to_owned(),
            service_sid: scope.service_sid.clone(),
            author,
            body: self.body,
            attributes: self.attributes.unwrap_or_else(|| "{}".to_owned()),
            content_sid: self.content_sid,
            subject: self.subject,
            date_created,
            date_updated: self.date_updated.unwrap_or(date_created),
        }
    }
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let media_sids = media_sids_param(p.all("MediaSid"), state.config.media.max_per_message)?;
    let draft = Draft::from_params(&p)?;
    if draft.body.is_none() && draft.content_sid.is_none() && media_sids.is_empty() {
        return Err(ApiError::missing_param("Body (or MediaSid, or ContentSid)"));
    }
    let (scope, row) =
        send_message(&caller, &state, path.into_inner().conversation, draft, media_sids).await?;
    Ok(api::created(Message::new(row, &scope.urls)))
}

/// Sends a message to the conversation `key` as the caller, after its
/// pre-event webhook (an end user's); shared with Chat's message create.
pub(crate) async fn send_message(
    caller: &Caller,
    state: &AppState,
    key: String,
    mut draft: Draft,
    media_sids: Vec<String>,
) -> Result<(ServiceScope, MessageRow), ApiError> {
    let max_total = state.config.media.max_bytes;
    let dated = draft.date_created.is_some() || draft.date_updated.is_some();
    if caller.identity().is_some() && (dated || draft.last_updated_by.is_some()) {
        return Err(ApiError::forbidden(
            "DateCreated, DateUpdated and LastUpdatedBy can only be set with account credentials",
        ));
    }
    let with_media = !media_sids.is_empty();
    let proposed = {
        let (key, body, attributes, media) =
            (key.clone(), draft.body.clone(), draft.attributes.clone(), media_sids.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let target = target(conn, scope, &key, with_media)?;
            let mut params = vec![("ConversationSid".to_owned(), target.conversation_sid.clone())];
            let author = scope.end_user().map(|u| u.identity.clone()).unwrap_or_default();
            let participant = match &target.author {
                Author::Participant(sid) => Some(sid.clone()),
                Author::Resolve => None,
            };
            params.extend(hook_message_params(body, author, participant, attributes, time::now()));
            if !media.is_empty() {
                let sids: Vec<_> = media.iter().map(|sid| serde_json::json!({ "Sid": sid })).collect();
                params.push(("Media".to_owned(), serde_json::Value::Array(sids).to_string()));
            }
            Ok(params)
        }
    };
    let changes = pre_event(&state.webhooks, caller, "onMessageAdd", proposed).await?;
    if let Some(body) = hooked(&changes, &["Body", "body"], limits::MESSAGE_BODY_CHARS) {
        draft.body = Some(body);
    }
    if let Some(attributes) = hooked_json(&changes, limits::MESSAGE_ATTRIBUTES) {
        draft.attributes = Some(attributes);
    }
    draft.hooked_author =
        hooked(&changes, changes.author_names(), limits::IDENTITY_CHARS).filter(|a| !a.is_empty());
    caller
        .clone()
        .in_conversation(&key)
        .write_checked(
            move |conn, scope| target(conn, scope, &key, with_media),
            move |tx, scope, target| send(tx, scope, target, draft, &media_sids, max_total),
        )
        .await
}

/// A message's fields as a pre-event webhook gets them.
fn hook_message_params(
    body: Option<String>,
    author: String,
    participant: Option<String>,
    attributes: Option<String>,
    date_created: i64,
) -> Params {
    let mut params = vec![
        ("Body".to_owned(), body.unwrap_or_default()),
        ("Author".to_owned(), author),
        ("Attributes".to_owned(), attributes.unwrap_or_else(|| "{}".to_owned())),
        ("DateCreated".to_owned(), crate::webhooks::params::date(date_created)),
    ];
    if let Some(participant) = participant {
        params.push(("ParticipantSid".to_owned(), participant));
    }
    params
}

/// A send's check: where it goes, and as whom. An access token's user
/// sends as itself, within its roles, to a conversation it is in.
fn target(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
    with_media: bool,
) -> Result<Target, ApiError> {
    if scope.end_user().is_none() {
        let conversation_sid = store::conversations::sid_for_key(conn, &scope.service_sid, key)?;
        return Ok(Target { conversation_sid, author: Author::Resolve });
    }
    let (conversation_sid, standing) = standing::member_of(conn, scope, key)?;
    standing.require(Permission::SendMessage)?;
    if with_media {
        standing.require(Permission::SendMediaMessage)?;
    }
    let participant = standing.participant_sid().unwrap_or_default().to_owned();
    Ok(Target { conversation_sid, author: Author::Participant(participant) })
}

/// A send's write: the message, and its media if it names any.
fn send(
    tx: &mut Tx<'_>,
    scope: &ServiceScope,
    target: Target,
    draft: Draft,
    media_sids: &[String],
    max_total: u64,
) -> Result<MessageRow, ApiError> {
    let now = time::now();
    let last_updated_by = draft.last_updated_by.clone();
    if last_updated_by.is_some() {
        // A second statement follows the send: begin the transaction now.
        tx.conn()?;
    }
    let message = draft.into_message(scope, now);
    let (sid, author) = (&target.conversation_sid, target.author);
    let mut row = if media_sids.is_empty() {
        store::messages::append(tx, sid, message, author, now)?
    } else {
        let uploaded_by = scope.end_user().map(|u| u.identity.as_str());
        let media = Attachments { sids: media_sids, uploaded_by, max_total };
        store::messages::append_with_media(tx, sid, message, author, media, now)?
    };
    if let Some(who) = last_updated_by {
        store::messages::set_last_updated_by(tx.conn()?, &row.sid, &who)?;
        row.last_updated_by = Some(who);
    }
    Ok(row)
}

pub async fn fetch(caller: Caller, path: web::Path<MessagePath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = caller
        .read(move |conn, scope| {
            let (conversation, _) = conversation_in_scope(conn, scope, &path.conversation)?;
            Ok(store::messages::find(conn, &conversation.sid, &path.message)?)
        })
        .await?;
    Ok(api::ok(Message::new(row, &scope.urls)))
}

/// A message edit: body, author, attributes, subject and dates can change;
/// media cannot.
#[derive(Clone, Default)]
pub(crate) struct Edit {
    pub author: Option<String>,
    pub body: Option<String>,
    pub attributes: Option<String>,
    pub subject: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
    /// Chat's `LastUpdatedBy` (account credentials only); else the end
    /// user, or `system`.
    pub last_updated_by: Option<String>,
}

impl Edit {
    fn from_params(p: &api::Params) -> Result<Edit, ApiError> {
        Ok(Edit {
            last_updated_by: None,
            author: p.text("Author", limits::IDENTITY_CHARS)?,
            body: p.text("Body", limits::MESSAGE_BODY_CHARS)?,
            attributes: p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?,
            subject: p.text("Subject", limits::NAME_CHARS)?,
            date_created: p.date("DateCreated")?,
            date_updated: p.date("DateUpdated")?,
        })
    }

    /// Whether the caller may make this edit to a message by `author`.
    fn authorize(&self, standing: &Standing, author: &str) -> Result<(), ApiError> {
        let author = Some(author);
        if self.body.is_some() || self.subject.is_some() {
            standing.require_own_or_any(author, Permission::EditOwnMessage, Permission::EditAnyMessage)?;
        }
        if self.attributes.is_some() {
            standing.require_own_or_any(
                author,
                Permission::EditOwnMessageAttributes,
                Permission::EditAnyMessageAttributes,
            )?;
        }
        for (name, set) in [
            ("Author", self.author.is_some()),
            ("LastUpdatedBy", self.last_updated_by.is_some()),
            ("DateCreated", self.date_created.is_some()),
            ("DateUpdated", self.date_updated.is_some()),
        ] {
            if set {
                standing.require_admin_for(name)?;
            }
        }
        Ok(())
    }

    /// A user's edit that changes nothing writes nothing (not even
    /// `date_updated`, which no permission would cover).
    fn is_empty_for(&self, standing: &Standing) -> bool {
        !standing.is_admin() && self.body.is_none() && self.subject.is_none() && self.attributes.is_none()
    }

    fn into_changes(
        self,
        conn: &mut DbConnection,
        scope: &ServiceScope,
        conversation_sid: &str,
    ) -> Result<MessageChanges, ApiError> {
        let editor = match (self.last_updated_by, scope.end_user()) {
            (Some(who), _) => who,
            (None, Some(user)) => user.identity.clone(),
            (None, None) => "system".to_owned(),
        };
        let mut changes = MessageChanges {
            last_updated_by: Some(Some(editor)),
            body: self.body.map(Some),
            attributes: self.attributes,
            subject: self.subject.map(Some),
            date_created: self.date_created,
            date_updated: Some(self.date_updated.unwrap_or_else(time::now)),
            ..Default::default()
        };
        if let Some(author) = self.author.filter(|a| !a.is_empty()) {
            changes.participant_sid =
                Some(store::participants::sid_for_identity(conn, conversation_sid, &author)?);
            changes.author = Some(author);
        }
        Ok(changes)
    }
}

/// A stored message as a pre-event webhook gets it (`onMessageUpdate`
/// with the proposed body and attributes, `onMessageRemove` as it is).
fn hook_stored_message(row: &MessageRow, body: Option<String>, attributes: Option<String>) -> Params {
    let mut params = vec![
        ("ConversationSid".to_owned(), row.conversation_sid.clone()),
        ("MessageSid".to_owned(), row.sid.clone()),
        ("Index".to_owned(), row.msg_index.to_string()),
    ];
    params.extend(hook_message_params(
        body.or_else(|| row.body.clone()),
        row.author.clone(),
        row.participant_sid.clone(),
        attributes.or_else(|| Some(row.attributes.clone())),
        row.date_created,
    ));
    params.push(("DateUpdated".to_owned(), crate::webhooks::params::date(row.date_updated)));
    params
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MessagePath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let edit = Edit::from_params(&p)?;
    let path = path.into_inner();
    let (scope, row) = edit_message(&caller, &state, path.conversation, path.message, edit).await?;
    Ok(api::ok(Message::new(row, &scope.urls)))
}

/// Edits the message `message` of the conversation `conversation` as the
/// caller, after its pre-event webhook; shared with Chat.
pub(crate) async fn edit_message(
    caller: &Caller,
    state: &AppState,
    conversation: String,
    message: String,
    edit: Edit,
) -> Result<(ServiceScope, MessageRow), ApiError> {
    let proposed = {
        let (conversation, message, edit) = (conversation.clone(), message.clone(), edit.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            ensure_open(&conversation)?;
            let current = store::messages::find(conn, &conversation.sid, &message)?;
            edit.authorize(&standing, &current.author)?;
            Ok(hook_stored_message(&current, edit.body, edit.attributes))
        }
    };
    let changes = pre_event(&state.webhooks, caller, "onMessageUpdate", proposed).await?;
    let hooked_body = hooked(&changes, &["Body", "body"], limits::MESSAGE_BODY_CHARS);
    let hooked_attributes = hooked_json(&changes, limits::MESSAGE_ATTRIBUTES);
    caller
        .write(move |tx, scope| {
            let mut edit = edit;
            let conn = tx.conn()?;
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            ensure_open(&conversation)?;
            let current = store::messages::find(conn, &conversation.sid, &message)?;
            edit.authorize(&standing, &current.author)?;
            if edit.is_empty_for(&standing) {
                return Ok(current);
            }
            // What the webhook set, after the caller's own checks: the
            // webhook is the backend's, and may change what the user may not.
            edit.body = hooked_body.or(edit.body);
            edit.attributes = hooked_attributes.or(edit.attributes);
            let changes = edit.into_changes(conn, scope, &conversation.sid)?;
            Ok(store::messages::update(conn, &conversation.sid, &current.sid, &changes)?)
        })
        .await
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MessagePath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    delete_message(&caller, &state, path.conversation, path.message).await?;
    Ok(api::no_content())
}

/// Deletes the message as the caller (its author, or a holder of
/// `deleteAnyMessage`), after its pre-event webhook; shared with Chat.
pub(crate) async fn delete_message(
    caller: &Caller,
    state: &AppState,
    conversation: String,
    message: String,
) -> Result<(), ApiError> {
    let proposed = {
        let (conversation, message) = (conversation.clone(), message.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            let row = store::messages::find(conn, &conversation.sid, &message)?;
            standing.require_own_or_any(
                Some(&row.author),
                Permission::DeleteOwnMessage,
                Permission::DeleteAnyMessage,
            )?;
            Ok(hook_stored_message(&row, None, None))
        }
    };
    pre_event(&state.webhooks, caller, "onMessageRemove", proposed).await?;
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let (conversation, standing) = conversation_in_scope(conn, scope, &conversation)?;
            let row = store::messages::find(conn, &conversation.sid, &message)?;
            standing.require_own_or_any(
                Some(&row.author),
                Permission::DeleteOwnMessage,
                Permission::DeleteAnyMessage,
            )?;
            Ok(store::messages::delete(conn, &row.sid)?)
        })
        .await?;
    // Objects of media deleted with it go now, not at the next collector pass.
    state.collector.notify_one();
    Ok(())
}

pub async fn list(
    caller: Caller,
    path: web::Path<ConversationPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let order = q.choice("Order", &["asc", "desc"])?.unwrap_or("asc").to_owned();
    let page = PageRequest::from_params(&q, 100, &format!("messages {order}"))?;
    let seek = page.seek(order == "desc");
    let key = path.into_inner().conversation;
    let (scope, (conversation, rows)) = caller
        .read(move |conn, scope| {
            let (conversation, _) = conversation_in_scope(conn, scope, &key)?;
            let rows = store::messages::list(conn, &conversation.sid, &seek.query)?;
            Ok((conversation, rows))
        })
        .await?;
    let window = seek.finish(rows, |r| r.msg_index).map(|r| Message::new(r, &scope.urls));
    let url = format!("{}/Conversations/{}/Messages", scope.urls.prefix, conversation.sid);
    let filters: Vec<(&str, &str)> = q.str("Order").map(|o| ("Order", o)).into_iter().collect();
    Ok(ListPage::new("messages", &url, &filters, &page, window).respond())
}
