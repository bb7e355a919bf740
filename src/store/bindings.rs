//! Push registrations (`bindings`, `BS…`): a user's device and the push
//! credential to reach it with. Registering the same device again (same
//! identity, type and endpoint) replaces its address and message types.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::bindings;
use crate::keyset;
use crate::sid::SidKind;

use super::page::PageQuery;
use super::{OptionalRow, StoreError, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bindings)]
pub struct BindingRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub user_sid: String,
    pub identity: String,
    pub credential_sid: String,
    /// `apn`, `gcm` or `fcm`.
    pub binding_type: String,
    pub endpoint: String,
    /// JSON list of message types.
    pub message_types: String,
    pub date_created: i64,
    pub date_updated: i64,
}

impl BindingRow {
    pub fn message_type_names(&self) -> Vec<String> {
        serde_json::from_str(&self.message_types).unwrap_or_default()
    }
}

#[derive(Insertable)]
#[diesel(table_name = bindings)]
pub struct NewBinding<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub user_sid: &'a str,
    pub identity: &'a str,
    pub credential_sid: &'a str,
    pub binding_type: &'a str,
    pub endpoint: &'a str,
    pub address: &'a str,
    pub message_types: &'a str,
    pub date_created: i64,
    pub date_updated: i64,
}

/// Which bindings a list shows: none of a field's values means any.
#[derive(Debug, Default)]
pub struct BindingFilter {
    pub user_sid: Option<String>,
    pub identities: Vec<String>,
    pub binding_types: Vec<String>,
}

/// How many devices one user keeps: registering another forgets the one
/// registered longest ago.
pub const MAX_PER_USER: i64 = 20;

/// Registers a device: a new binding (`true`), or the one already there for
/// the same identity, type and endpoint with its address, credential and
/// message types replaced (`false`). A device token belongs to one user: a
/// binding of another identity with the same address is removed (the phone
/// changed hands, or its user signed in as someone else).
pub fn register(conn: &mut DbConnection, new: &NewBinding<'_>) -> StoreResult<(BindingRow, bool)> {
    diesel::delete(
        bindings::table
            .filter(bindings::service_sid.eq(new.service_sid))
            .filter(bindings::binding_type.eq(new.binding_type))
            .filter(bindings::address.eq(new.address))
            .filter(bindings::identity.ne(new.identity)),
    )
    .execute(conn)?;
    // One statement, so two registrations of one device at once both land
    // (each dialect's own upsert: the multi-backend connection has none).
    macro_rules! upsert {
        ($conn:expr) => {
            diesel::insert_into(bindings::table)
                .values(new)
                .on_conflict((
                    bindings::service_sid,
                    bindings::identity,
                    bindings::binding_type,
                    bindings::endpoint,
                ))
                .do_update()
                .set((
                    bindings::user_sid.eq(new.user_sid),
                    bindings::credential_sid.eq(new.credential_sid),
                    bindings::address.eq(new.address),
                    bindings::message_types.eq(new.message_types),
                    bindings::date_updated.eq(new.date_updated),
                ))
                .execute($conn)?
        };
    }
    match conn {
        DbConnection::Postgresql(pg) => upsert!(pg),
        DbConnection::Sqlite(sqlite) => upsert!(sqlite),
    };
    let row = bindings::table
        .filter(bindings::service_sid.eq(new.service_sid))
        .filter(bindings::identity.eq(new.identity))
        .filter(bindings::binding_type.eq(new.binding_type))
        .filter(bindings::endpoint.eq(new.endpoint))
        .select(BindingRow::as_select())
        .get_result(conn)?;
    let created = row.sid == new.sid;
    if created {
        forget_beyond(conn, &row.user_sid)?;
    }
    Ok((row, created))
}

/// Keeps a user's newest [`MAX_PER_USER`] bindings.
fn forget_beyond(conn: &mut DbConnection, user_sid: &str) -> StoreResult<()> {
    let oldest_kept: Option<i64> = bindings::table
        .filter(bindings::user_sid.eq(user_sid))
        .order(bindings::id.desc())
        .offset(MAX_PER_USER - 1)
        .select(bindings::id)
        .get_result(conn)
        .found()?;
    if let Some(id) = oldest_kept {
        diesel::delete(bindings::table.filter(bindings::user_sid.eq(user_sid)).filter(bindings::id.lt(id)))
            .execute(conn)?;
    }
    Ok(())
}

/// The service's binding by SID.
pub fn find(conn: &mut DbConnection, service_sid: &str, sid: &str) -> StoreResult<BindingRow> {
    if !SidKind::Binding.matches(sid) {
        return Err(StoreError::NotFound);
    }
    bindings::table
        .filter(bindings::service_sid.eq(service_sid))
        .filter(bindings::sid.eq(sid))
        .select(BindingRow::as_select())
        .get_result(conn)
        .found()?
        .ok_or(StoreError::NotFound)
}

pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    diesel::delete(bindings::table.filter(bindings::sid.eq(sid))).execute(conn)?;
    Ok(())
}

/// A page of the service's bindings (`bindings_service`, or `bindings_user`
/// for one user's).
pub fn list(
    conn: &mut DbConnection,
    service_sid: &str,
    filter: &BindingFilter,
    page: &PageQuery,
) -> StoreResult<Vec<BindingRow>> {
    let mut query = bindings::table
        .filter(bindings::service_sid.eq(service_sid))
        .select(BindingRow::as_select())
        .into_boxed();
    if let Some(user) = &filter.user_sid {
        query = query.filter(bindings::user_sid.eq(user.clone()));
    }
    if !filter.identities.is_empty() {
        query = query.filter(bindings::identity.eq_any(filter.identities.clone()));
    }
    if !filter.binding_types.is_empty() {
        query = query.filter(bindings::binding_type.eq_any(filter.binding_types.clone()));
    }
    Ok(keyset!(query, bindings::id, page).load(conn)?)
}
