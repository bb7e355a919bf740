//! Loading the user an access token acts as, with its service role's
//! permissions, in one query.

use diesel::prelude::*;

use crate::conversations::users::UserRow;
use crate::db::DbConnection;
use crate::db::schema::{roles, users};
use crate::error::ApiError;

/// The user of `identity` in the service and its service role's permissions.
pub fn find(
    conn: &mut DbConnection,
    service_sid: &str,
    identity: &str,
) -> Result<Option<(UserRow, Vec<String>)>, ApiError> {
    let row: Option<(UserRow, String)> = users::table
        .inner_join(roles::table.on(roles::sid.eq(users::role_sid)))
        .filter(users::service_sid.eq(service_sid))
        .filter(users::identity.eq(identity))
        .select((UserRow::as_select(), roles::permissions))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user, perms)| (user, serde_json::from_str(&perms).unwrap_or_default())))
}
