//! Participants (`MB…`): chat participants (an identity, each backed by a
//! User) and messaging-binding participants (SMS/WhatsApp addresses).

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::DbConnection;
use crate::db::schema::{conversations, participants, roles};
use crate::domain::{EventKind, Permissions};
use crate::keyset;
use crate::sid::SidKind;

use super::conversations::ConversationRow;
use super::page::PageQuery;
use super::roles::parse_permissions;
use super::{OptionalRow, StoreError, StoreResult, events, is_unique_violation, services, users};

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize)]
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

events::logged!(ParticipantRow, conversation: conversation_sid);

/// What changed between two versions of a participant (`update_reasons`).
pub(crate) fn changed_fields(old: &ParticipantRow, new: &ParticipantRow) -> Vec<&'static str> {
    events::changed!(old, new;
        identity => "identity",
        attributes => "attributes",
        role_sid => "roleSid",
        last_read_message_index => "lastReadMessageIndex",
        last_read_timestamp => "lastReadTimestamp",
        notification_level => "notificationLevel",
        binding_proxy_address | binding_projected_address => "bindings",
        date_created => "dateCreated",
        date_updated => "dateUpdated",
    )
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
    last_read_message_index: Option<i64>,
    last_read_timestamp: Option<i64>,
    date_created: i64,
    date_updated: i64,
}

/// What a new participant is given (already validated: an identity or a
/// binding address, not both).
#[derive(Debug, Default, Clone)]
pub struct ParticipantSpec {
    pub identity: Option<String>,
    pub binding_address: Option<String>,
    pub binding_proxy_address: Option<String>,
    pub binding_projected_address: Option<String>,
    pub attributes: Option<String>,
    /// A conversation role of the service (checked by the caller); `None`:
    /// the service's default.
    pub role_sid: Option<String>,
    /// A read horizon to start with (Chat's member create takes one).
    pub last_read_message_index: Option<i64>,
    pub last_read_timestamp: Option<i64>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

/// An update: `None` leaves a field alone, `Some(None)` clears it.
#[derive(AsChangeset, Default)]
#[diesel(table_name = participants)]
pub struct ParticipantChanges {
    pub identity: Option<Option<String>>,
    pub user_sid: Option<Option<String>>,
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
    pub binding_proxy_address: Option<Option<String>>,
    pub binding_projected_address: Option<Option<String>>,
    pub last_read_message_index: Option<Option<i64>>,
    pub last_read_timestamp: Option<Option<i64>>,
    pub notification_level: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
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

fn exists_error(identity: Option<&str>, address: Option<&str>, e: diesel::result::Error) -> StoreError {
    if !is_unique_violation(&e) {
        return e.into();
    }
    match (identity, address) {
        (Some(id), _) => StoreError::ParticipantExists(id.to_owned()),
        (None, Some(a)) => StoreError::ParticipantAddressExists(a.to_owned()),
        _ => e.into(),
    }
}

/// Adds a participant to `conversation`. Chat participants get a User,
/// created with the service's default role when new. Call inside a
/// transaction.
pub fn insert(
    conn: &mut DbConnection,
    conversation: &ConversationRow,
    spec: &ParticipantSpec,
    now: i64,
) -> StoreResult<ParticipantRow> {
    if conversation.is_closed() {
        return Err(StoreError::ConversationClosed);
    }
    let service = services::find(conn, &conversation.account_sid, &conversation.service_sid)?;
    // Concurrent adds to one conversation count one after the other, so
    // none passes its limit.
    super::conversations::lock(conn, &conversation.sid)?;
    // One already there is a conflict, whatever the limits say.
    if let Some(id) = spec.identity.as_deref().filter(|s| !s.is_empty())
        && find(conn, &conversation.sid, id).found()?.is_some()
    {
        return Err(StoreError::ParticipantExists(id.to_owned()));
    }
    let members: i64 = participants::table
        .filter(participants::conversation_sid.eq(&conversation.sid))
        .count()
        .get_result(conn)?;
    if members >= service.limit_channel_members {
        return Err(StoreError::MemberLimit(service.limit_channel_members));
    }
    let identity = spec.identity.as_deref().filter(|s| !s.is_empty());
    // An invited identity joins with its invite's role, unless told one.
    let invite = match identity {
        Some(id) => super::invites::take(conn, &conversation.sid, id)?,
        None => None,
    };
    let role_sid = match (&spec.role_sid, invite) {
        (Some(r), _) => r.clone(),
        (None, Some(invite)) => invite.role_sid,
        (None, None) => service
            .default_conversation_role_sid
            .clone()
            .ok_or(StoreError::Corrupt("service has no default conversation role"))?,
    };
    let user_sid = match identity {
        Some(id) => Some(users::ensure(conn, &service, id, now)?.sid),
        None => None,
    };
    // Not under the user's lock: adds of one user to several conversations
    // at once could pass the limit together, but a lock taken per user in
    // request order would deadlock two requests adding each other.
    if let Some(user_sid) = &user_sid {
        ensure_room_for(conn, &service, user_sid)?;
    }
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let address = non_empty(&spec.binding_address);
    let projected = non_empty(&spec.binding_projected_address);
    let kind = address.as_deref().or(projected.as_deref()).map(binding_type);
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
            binding_address: address.as_deref(),
            binding_proxy_address: non_empty(&spec.binding_proxy_address).as_deref(),
            binding_projected_address: projected.as_deref(),
            last_read_message_index: spec.last_read_message_index,
            last_read_timestamp: spec.last_read_timestamp,
            date_created,
            date_updated: spec.date_updated.unwrap_or(date_created),
        })
        .execute(conn)
        .map_err(|e| exists_error(identity, address.as_deref(), e))?;
    let row = find_by_sid(conn, &sid)?;
    events::record(conn, EventKind::ParticipantJoined, &row, &[])?;
    Ok(row)
}

pub fn find_by_sid(conn: &mut DbConnection, sid: &str) -> StoreResult<ParticipantRow> {
    Ok(participants::table
        .filter(participants::sid.eq(sid))
        .select(ParticipantRow::as_select())
        .get_result(conn)?)
}

/// A participant of the conversation by SID or identity.
pub fn find(conn: &mut DbConnection, conversation_sid: &str, key: &str) -> StoreResult<ParticipantRow> {
    let query = participants::table
        .filter(participants::conversation_sid.eq(conversation_sid))
        .select(ParticipantRow::as_select())
        .into_boxed();
    let query = if SidKind::Participant.matches(key) {
        query.filter(participants::sid.eq(key))
    } else {
        query.filter(participants::identity.eq(key))
    };
    Ok(query.get_result(conn)?)
}

/// The participant of a user in a conversation.
pub fn find_of_user(
    conn: &mut DbConnection,
    conversation_sid: &str,
    user_sid: &str,
) -> StoreResult<ParticipantRow> {
    Ok(participants::table
        .filter(participants::conversation_sid.eq(conversation_sid))
        .filter(participants::user_sid.eq(user_sid))
        .select(ParticipantRow::as_select())
        .get_result(conn)?)
}

/// Is the participant `sid` (still) in the conversation?
pub fn is_in(conn: &mut DbConnection, conversation_sid: &str, sid: &str) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        participants::table
            .filter(participants::sid.eq(sid))
            .filter(participants::conversation_sid.eq(conversation_sid)),
    ))
    .get_result(conn)?)
}

/// The chat participant with this identity, if any (a message's author).
pub fn sid_for_identity(
    conn: &mut DbConnection,
    conversation_sid: &str,
    identity: &str,
) -> StoreResult<Option<String>> {
    participants::table
        .filter(participants::conversation_sid.eq(conversation_sid))
        .filter(participants::identity.eq(identity))
        .select(participants::sid)
        .get_result(conn)
        .found()
}

/// An identity's participant in a conversation, with its role's permissions.
#[derive(Debug, Clone)]
pub struct Membership {
    pub conversation_sid: String,
    pub participant_sid: String,
    pub permissions: Permissions,
}

/// The identity's membership of the conversation `conversation_sid`.
pub fn membership(
    conn: &mut DbConnection,
    conversation_sid: &str,
    identity: &str,
) -> StoreResult<Option<Membership>> {
    let found: Option<(String, String)> = participants::table
        .inner_join(roles::table.on(roles::sid.eq(participants::role_sid)))
        .filter(participants::conversation_sid.eq(conversation_sid))
        .filter(participants::identity.eq(identity))
        .select((participants::sid, roles::permissions))
        .get_result(conn)
        .found()?;
    found
        .map(|(participant_sid, perms)| {
            Ok(Membership {
                conversation_sid: conversation_sid.to_owned(),
                participant_sid,
                permissions: parse_permissions(&perms)?,
            })
        })
        .transpose()
}

/// The conversation `key` (SID or unique name) of the service with the
/// identity's membership of it, in one query: a user's hot path (sending),
/// where finding the conversation first would cost a second round trip.
/// `None` when the conversation is missing or the identity is not in it.
pub fn membership_by_key(
    conn: &mut DbConnection,
    service_sid: &str,
    key: &str,
    identity: &str,
) -> StoreResult<Option<Membership>> {
    let memberships = conversations::table
        .inner_join(participants::table.on(participants::conversation_sid.eq(conversations::sid)))
        .inner_join(roles::table.on(roles::sid.eq(participants::role_sid)))
        .filter(conversations::service_sid.eq(service_sid))
        .filter(participants::identity.eq(identity))
        .select((conversations::sid, participants::sid, roles::permissions));
    // Two fixed statements (by SID, by unique name), each prepared once.
    let found: Option<(String, String, String)> = if SidKind::Conversation.matches(key) {
        memberships.filter(conversations::sid.eq(key)).get_result(conn).found()?
    } else {
        memberships.filter(conversations::unique_name.eq(key)).get_result(conn).found()?
    };
    found
        .map(|(conversation_sid, participant_sid, perms)| {
            Ok(Membership { conversation_sid, participant_sid, permissions: parse_permissions(&perms)? })
        })
        .transpose()
}

/// Applies `changes`; an identity another participant has is
/// [`StoreError::ParticipantExists`].
pub fn update(
    conn: &mut DbConnection,
    sid: &str,
    changes: &ParticipantChanges,
) -> StoreResult<ParticipantRow> {
    let old = find_by_sid(conn, sid)?;
    diesel::update(participants::table.filter(participants::sid.eq(sid)))
        .set(changes)
        .execute(conn)
        .map_err(|e| match &changes.identity {
            Some(Some(id)) => exists_error(Some(id), None, e),
            _ => e.into(),
        })?;
    let row = find_by_sid(conn, sid)?;
    let reasons = changed_fields(&old, &row);
    if !reasons.is_empty() {
        events::record(conn, EventKind::ParticipantUpdated, &row, &reasons)?;
    }
    Ok(row)
}

/// Removes the participant, with its `participantLeft` event.
pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    let Some(row) = find_by_sid(conn, sid).found()? else {
        return Ok(());
    };
    diesel::delete(participants::table.filter(participants::sid.eq(sid))).execute(conn)?;
    events::record(conn, EventKind::ParticipantLeft, &row, &[])
}

/// The conversations an identity is a participant of in a service.
pub fn conversations_of(
    conn: &mut DbConnection,
    service_sid: &str,
    identity: &str,
) -> StoreResult<Vec<String>> {
    Ok(participants::table
        .filter(participants::service_sid.eq(service_sid))
        .filter(participants::identity.eq(identity))
        .select(participants::conversation_sid)
        .load(conn)?)
}

/// Removes every participation of a user (before the user goes), each
/// with its `participantLeft` event.
pub fn remove_all_of_user(conn: &mut DbConnection, user_sid: &str) -> StoreResult<()> {
    let left: Vec<ParticipantRow> = participants::table
        .filter(participants::user_sid.eq(user_sid))
        .select(ParticipantRow::as_select())
        .load(conn)?;
    diesel::delete(participants::table.filter(participants::user_sid.eq(user_sid))).execute(conn)?;
    for row in &left {
        events::record(conn, EventKind::ParticipantLeft, row, &[])?;
    }
    Ok(())
}

/// Chat's per-user limit (`limit_user_channels`): the user may be in one
/// more conversation of the service. Checked on an add and when a
/// participant takes another identity.
pub fn ensure_room_for(
    conn: &mut DbConnection,
    service: &super::services::ServiceRow,
    user_sid: &str,
) -> StoreResult<()> {
    if count_of_user(conn, user_sid)? >= service.limit_user_channels {
        return Err(StoreError::UserChannelLimit(service.limit_user_channels));
    }
    Ok(())
}

/// How many conversations a user is in.
pub fn count_of_user(conn: &mut DbConnection, user_sid: &str) -> StoreResult<i64> {
    Ok(participants::table.filter(participants::user_sid.eq(user_sid)).count().get_result(conn)?)
}

/// A conversation's participants; with `identities`, only those.
pub fn list(
    conn: &mut DbConnection,
    conversation_sid: &str,
    identities: &[String],
    page: &PageQuery,
) -> StoreResult<Vec<ParticipantRow>> {
    let mut query = participants::table
        .filter(participants::conversation_sid.eq(conversation_sid))
        .select(ParticipantRow::as_select())
        .into_boxed();
    if !identities.is_empty() {
        query = query.filter(participants::identity.eq_any(identities.to_vec()));
    }
    Ok(keyset!(query, participants::id, page).load(conn)?)
}

/// A user's participations with their conversations (`/Users/{US}/Conversations`).
pub fn list_of_user(
    conn: &mut DbConnection,
    user_sid: &str,
    page: &PageQuery,
) -> StoreResult<Vec<(ParticipantRow, ConversationRow)>> {
    let query = participants::table
        .inner_join(conversations::table.on(conversations::sid.eq(participants::conversation_sid)))
        .filter(participants::user_sid.eq(user_sid))
        .select((ParticipantRow::as_select(), ConversationRow::as_select()))
        .into_boxed();
    Ok(keyset!(query, participants::id, page).load(conn)?)
}

/// Participations in the service by identity and/or binding address
/// (`/ParticipantConversations`).
pub fn list_by_address(
    conn: &mut DbConnection,
    service_sid: &str,
    identity: Option<&str>,
    address: Option<&str>,
    page: &PageQuery,
) -> StoreResult<Vec<(ParticipantRow, ConversationRow)>> {
    let mut query = participants::table
        .inner_join(conversations::table.on(conversations::sid.eq(participants::conversation_sid)))
        .filter(participants::service_sid.eq(service_sid))
        .select((ParticipantRow::as_select(), ConversationRow::as_select()))
        .into_boxed();
    if let Some(id) = identity {
        query = query.filter(participants::identity.eq(id));
    }
    if let Some(a) = address {
        query = query.filter(participants::binding_address.eq(a));
    }
    Ok(keyset!(query, participants::id, page).load(conn)?)
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
}
