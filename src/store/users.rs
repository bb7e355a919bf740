//! Users (`US…`): a chat identity within a service, with its service role.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::DbConnection;
use crate::db::schema::users;
use crate::domain::EventKind;
use crate::keyset;
use crate::sid::SidKind;

use super::page::PageQuery;
use super::services::ServiceRow;
use super::{OptionalRow, StoreError, StoreResult, events, is_unique_violation};

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub role_sid: String,
    pub date_created: i64,
    pub date_updated: i64,
}

events::logged!(UserRow);

/// What changed between two versions of a user (`update_reasons`).
pub(crate) fn changed_fields(old: &UserRow, new: &UserRow) -> Vec<&'static str> {
    events::changed!(old, new;
        friendly_name => "friendlyName",
        attributes => "attributes",
        role_sid => "roleSid",
        date_updated => "dateUpdated",
    )
}

#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub identity: &'a str,
    pub friendly_name: Option<&'a str>,
    pub attributes: &'a str,
    pub role_sid: &'a str,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub friendly_name: Option<Option<String>>,
    pub attributes: Option<String>,
    pub role_sid: Option<String>,
    pub date_updated: Option<i64>,
}

/// Inserts a user; an identity the service already has is
/// [`StoreError::UserExists`].
pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> StoreResult<UserRow> {
    diesel::insert_into(users::table).values(user).execute(conn).map_err(|e| {
        if is_unique_violation(&e) { StoreError::UserExists(user.identity.to_owned()) } else { e.into() }
    })?;
    let row = find_by_sid(conn, user.sid)?;
    events::record(conn, EventKind::UserAdded, &row, &[])?;
    Ok(row)
}

fn find_by_sid(conn: &mut DbConnection, sid: &str) -> StoreResult<UserRow> {
    Ok(users::table.filter(users::sid.eq(sid)).select(UserRow::as_select()).get_result(conn)?)
}

pub fn find_by_identity(
    conn: &mut DbConnection,
    service_sid: &str,
    identity: &str,
) -> StoreResult<Option<UserRow>> {
    users::table
        .filter(users::service_sid.eq(service_sid))
        .filter(users::identity.eq(identity))
        .select(UserRow::as_select())
        .get_result(conn)
        .found()
}

/// A user of the service by SID or identity.
pub fn find(conn: &mut DbConnection, service_sid: &str, key: &str) -> StoreResult<UserRow> {
    let query =
        users::table.filter(users::service_sid.eq(service_sid)).select(UserRow::as_select()).into_boxed();
    let query = if SidKind::User.matches(key) {
        query.filter(users::sid.eq(key))
    } else {
        query.filter(users::identity.eq(key))
    };
    Ok(query.get_result(conn)?)
}

/// The user with this identity, created with the service's default role if
/// new. The insert runs in a savepoint, so losing a race to a concurrent
/// insert of the same identity does not abort the caller's transaction.
pub fn ensure(
    conn: &mut DbConnection,
    service: &ServiceRow,
    identity: &str,
    now: i64,
) -> StoreResult<UserRow> {
    if let Some(user) = find_by_identity(conn, &service.sid, identity)? {
        return Ok(user);
    }
    let role_sid = service
        .default_chat_service_role_sid
        .as_deref()
        .ok_or(StoreError::Corrupt("service has no default service role"))?;
    let sid = SidKind::User.generate();
    let user = NewUser {
        sid: &sid,
        account_sid: &service.account_sid,
        service_sid: &service.sid,
        identity,
        friendly_name: None,
        attributes: "{}",
        role_sid,
        date_created: now,
        date_updated: now,
    };
    let created = conn.transaction(|conn| {
        diesel::insert_into(users::table).values(&user).execute(conn)?;
        users::table.filter(users::sid.eq(&sid)).select(UserRow::as_select()).get_result(conn)
    });
    match created {
        Ok(user) => {
            events::record(conn, EventKind::UserAdded, &user, &[])?;
            Ok(user)
        }
        Err(e) if is_unique_violation(&e) => {
            find_by_identity(conn, &service.sid, identity)?.ok_or(StoreError::NotFound)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn update(conn: &mut DbConnection, sid: &str, changes: &UserChanges) -> StoreResult<UserRow> {
    let old = find_by_sid(conn, sid)?;
    diesel::update(users::table.filter(users::sid.eq(sid))).set(changes).execute(conn)?;
    let row = find_by_sid(conn, sid)?;
    let reasons = changed_fields(&old, &row);
    if !reasons.is_empty() {
        events::record(conn, EventKind::UserUpdated, &row, &reasons)?;
    }
    Ok(row)
}

/// Deletes the user. Remove its participations first
/// ([`super::participants::remove_all_of_user`]): the foreign key would
/// take them too, but without their `participantLeft` events.
pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    diesel::delete(users::table.filter(users::sid.eq(sid))).execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConnection, service_sid: &str, page: &PageQuery) -> StoreResult<Vec<UserRow>> {
    let query =
        users::table.filter(users::service_sid.eq(service_sid)).select(UserRow::as_select()).into_boxed();
    Ok(keyset!(query, users::id, page).load(conn)?)
}
