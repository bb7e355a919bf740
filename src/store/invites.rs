//! Chat's invites (`IN…`): an identity asked to join a channel, with the
//! role it will join with. An identity that joins takes its invite
//! ([`take`], from [`super::participants::insert`]).

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{conversations, invites};
use crate::keyset;
use crate::sid::SidKind;
use crate::store::conversations::ConversationRow;

use super::page::PageQuery;
use super::{OptionalRow, StoreError, StoreResult, is_unique_violation};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invites)]
pub struct InviteRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    pub identity: String,
    pub role_sid: String,
    pub created_by: String,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Insertable)]
#[diesel(table_name = invites)]
pub struct NewInvite<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub conversation_sid: &'a str,
    pub identity: &'a str,
    pub role_sid: &'a str,
    pub created_by: &'a str,
    pub date_created: i64,
    pub date_updated: i64,
}

/// Inserts an invite; one per identity and channel.
pub fn insert(conn: &mut DbConnection, invite: &NewInvite<'_>) -> StoreResult<InviteRow> {
    diesel::insert_into(invites::table).values(invite).execute(conn).map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyInvited(invite.identity.to_owned())
        } else {
            e.into()
        }
    })?;
    Ok(invites::table.filter(invites::sid.eq(invite.sid)).select(InviteRow::as_select()).get_result(conn)?)
}

/// An invite of the conversation by SID.
pub fn find(conn: &mut DbConnection, conversation_sid: &str, sid: &str) -> StoreResult<InviteRow> {
    if !SidKind::Invite.matches(sid) {
        return Err(StoreError::NotFound);
    }
    Ok(invites::table
        .filter(invites::sid.eq(sid))
        .filter(invites::conversation_sid.eq(conversation_sid))
        .select(InviteRow::as_select())
        .get_result(conn)?)
}

pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    diesel::delete(invites::table.filter(invites::sid.eq(sid))).execute(conn)?;
    Ok(())
}

/// The invite of `identity` to the conversation, removed: it joins now.
pub fn take(
    conn: &mut DbConnection,
    conversation_sid: &str,
    identity: &str,
) -> StoreResult<Option<InviteRow>> {
    let Some(invite) = invites::table
        .filter(invites::conversation_sid.eq(conversation_sid))
        .filter(invites::identity.eq(identity))
        .select(InviteRow::as_select())
        .get_result(conn)
        .found()?
    else {
        return Ok(None);
    };
    delete(conn, &invite.sid)?;
    Ok(Some(invite))
}

/// Whether `identity` holds an invite to the conversation.
pub fn exists(conn: &mut DbConnection, conversation_sid: &str, identity: &str) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        invites::table
            .filter(invites::conversation_sid.eq(conversation_sid))
            .filter(invites::identity.eq(identity)),
    ))
    .get_result(conn)?)
}

/// A conversation's invites; with `identities`, only those.
pub fn list(
    conn: &mut DbConnection,
    conversation_sid: &str,
    identities: &[String],
    page: &PageQuery,
) -> StoreResult<Vec<InviteRow>> {
    let mut query = invites::table
        .filter(invites::conversation_sid.eq(conversation_sid))
        .select(InviteRow::as_select())
        .into_boxed();
    if !identities.is_empty() {
        query = query.filter(invites::identity.eq_any(identities.to_vec()));
    }
    Ok(keyset!(query, invites::id, page).load(conn)?)
}

/// A page of the invites of `identity` in the service, with their
/// channels (`invites_identity`).
pub fn of_identity(
    conn: &mut DbConnection,
    service_sid: &str,
    identity: &str,
    page: &PageQuery,
) -> StoreResult<Vec<(InviteRow, ConversationRow)>> {
    let query = invites::table
        .inner_join(conversations::table.on(conversations::sid.eq(invites::conversation_sid)))
        .filter(invites::service_sid.eq(service_sid))
        .filter(invites::identity.eq(identity))
        .select((InviteRow::as_select(), ConversationRow::as_select()))
        .into_boxed();
    Ok(keyset!(query, invites::id, page).load(conn)?)
}

/// Whether a role is named by an invite (a role in use cannot be deleted).
pub fn hold_role(conn: &mut DbConnection, role_sid: &str) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(invites::table.filter(invites::role_sid.eq(role_sid))))
        .get_result(conn)?)
}
