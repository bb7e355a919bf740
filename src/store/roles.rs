//! Roles (`RL…`): a named set of permissions for users (service roles) or
//! participants (conversation roles).

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{participants, roles, services, users};
use crate::domain::{Permissions, RoleType};
use crate::keyset;
use crate::sid::SidKind;

use super::page::PageQuery;
use super::{StoreError, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub friendly_name: String,
    #[diesel(deserialize_as = String)]
    pub role_type: RoleType,
    #[diesel(deserialize_as = String)]
    pub permissions: Permissions,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A stored permission list, parsed as rows are: an unknown name fails.
pub fn parse_permissions(text: &str) -> StoreResult<Permissions> {
    Permissions::from_json(text)
        .map_err(|e| StoreError::from(diesel::result::Error::DeserializationError(e.into())))
}

pub struct NewRole<'a> {
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub friendly_name: &'a str,
    pub role_type: RoleType,
    pub permissions: &'a Permissions,
    pub now: i64,
}

pub fn insert(conn: &mut DbConnection, role: &NewRole<'_>) -> StoreResult<RoleRow> {
    let sid = SidKind::Role.generate();
    diesel::insert_into(roles::table)
        .values((
            roles::sid.eq(&sid),
            roles::account_sid.eq(role.account_sid),
            roles::service_sid.eq(role.service_sid),
            roles::friendly_name.eq(role.friendly_name),
            roles::role_type.eq(role.role_type.as_str()),
            roles::permissions.eq(role.permissions.to_json()),
            roles::date_created.eq(role.now),
            roles::date_updated.eq(role.now),
        ))
        .execute(conn)?;
    find(conn, role.service_sid, &sid)
}

/// A role of the service.
pub fn find(conn: &mut DbConnection, service_sid: &str, sid: &str) -> StoreResult<RoleRow> {
    if !SidKind::Role.matches(sid) {
        return Err(StoreError::NotFound);
    }
    Ok(roles::table
        .filter(roles::sid.eq(sid))
        .filter(roles::service_sid.eq(service_sid))
        .select(RoleRow::as_select())
        .get_result(conn)?)
}

/// The role if the service has it.
pub fn get(conn: &mut DbConnection, service_sid: &str, sid: &str) -> StoreResult<Option<RoleRow>> {
    match find(conn, service_sid, sid) {
        Err(StoreError::NotFound) => Ok(None),
        other => other.map(Some),
    }
}

pub fn list(conn: &mut DbConnection, service_sid: &str, page: &PageQuery) -> StoreResult<Vec<RoleRow>> {
    let query =
        roles::table.filter(roles::service_sid.eq(service_sid)).select(RoleRow::as_select()).into_boxed();
    Ok(keyset!(query, roles::id, page).load(conn)?)
}

/// Replaces the whole permission set.
pub fn set_permissions(
    conn: &mut DbConnection,
    sid: &str,
    permissions: &Permissions,
    now: i64,
) -> StoreResult<()> {
    diesel::update(roles::table.filter(roles::sid.eq(sid)))
        .set((roles::permissions.eq(permissions.to_json()), roles::date_updated.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Deletes a role nobody holds and its service does not name as a default.
pub fn delete_unused(conn: &mut DbConnection, service_sid: &str, sid: &str) -> StoreResult<()> {
    let held_by_user: bool =
        diesel::select(diesel::dsl::exists(users::table.filter(users::role_sid.eq(sid)))).get_result(conn)?;
    let held_by_participant: bool =
        diesel::select(diesel::dsl::exists(participants::table.filter(participants::role_sid.eq(sid))))
            .get_result(conn)?;
    let is_default: bool = diesel::select(diesel::dsl::exists(
        services::table.filter(services::sid.eq(service_sid)).filter(
            services::default_chat_service_role_sid
                .eq(sid)
                .or(services::default_conversation_role_sid.eq(sid))
                .or(services::default_conversation_creator_role_sid.eq(sid)),
        ),
    ))
    .get_result(conn)?;
    let held_by_invite = super::invites::hold_role(conn, sid)?;
    if held_by_user || held_by_participant || held_by_invite || is_default {
        return Err(StoreError::RoleInUse { role: sid.to_owned(), default: is_default });
    }
    diesel::delete(roles::table.filter(roles::sid.eq(sid))).execute(conn)?;
    Ok(())
}
