//! Conversation Services (`IS…`) and their configuration.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{conversations, services};
use crate::domain::permission::DEFAULT_ROLES;
use crate::keyset;
use crate::sid::SidKind;

use super::page::PageQuery;
use super::roles::{self, NewRole};
use super::{OptionalRow, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
pub struct ServiceRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub default_conversation_creator_role_sid: Option<String>,
    pub default_conversation_role_sid: Option<String>,
    pub default_chat_service_role_sid: Option<String>,
    pub reachability_enabled: bool,
    /// The body of a message sent with media and no `Body`.
    pub media_compatibility_message: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
    pub read_status_enabled: bool,
    pub typing_indicator_timeout: i64,
    pub consumption_report_interval: i64,
    /// Members a conversation may have (both APIs).
    pub limit_channel_members: i64,
    /// Conversations a user may be in (both APIs).
    pub limit_user_channels: i64,
    /// Chat's `notifications` object, as JSON.
    pub notifications: String,
}

#[derive(Insertable)]
#[diesel(table_name = services, treat_none_as_default_value = false)]
struct NewService<'a> {
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: &'a str,
    reachability_enabled: bool,
    date_created: i64,
    date_updated: i64,
}

/// A service's configuration: `None` leaves a field alone, `Some(None)`
/// clears it.
#[derive(AsChangeset, Default)]
#[diesel(table_name = services)]
pub struct ConfigurationChanges {
    pub default_conversation_creator_role_sid: Option<String>,
    pub default_conversation_role_sid: Option<String>,
    pub default_chat_service_role_sid: Option<String>,
    pub reachability_enabled: Option<bool>,
    pub media_compatibility_message: Option<Option<String>>,
    pub date_updated: Option<i64>,
}

/// The settings only Programmable Chat's Service resource shows.
#[derive(AsChangeset, Default)]
#[diesel(table_name = services)]
pub struct ChatChanges {
    pub friendly_name: Option<String>,
    pub read_status_enabled: Option<bool>,
    pub typing_indicator_timeout: Option<i64>,
    pub consumption_report_interval: Option<i64>,
    pub limit_channel_members: Option<i64>,
    pub limit_user_channels: Option<i64>,
    pub notifications: Option<String>,
}

pub fn exists(conn: &mut DbConnection, account_sid: &str, sid: &str) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        services::table.filter(services::sid.eq(sid)).filter(services::account_sid.eq(account_sid)),
    ))
    .get_result(conn)?)
}

/// The service by SID within an account (another account's is not found).
pub fn find(conn: &mut DbConnection, account_sid: &str, sid: &str) -> StoreResult<ServiceRow> {
    Ok(services::table
        .filter(services::sid.eq(sid))
        .filter(services::account_sid.eq(account_sid))
        .select(ServiceRow::as_select())
        .get_result(conn)?)
}

/// The body given to a message with media and no `Body`, if configured.
pub fn media_compatibility_message(conn: &mut DbConnection, sid: &str) -> StoreResult<Option<String>> {
    Ok(services::table
        .filter(services::sid.eq(sid))
        .select(services::media_compatibility_message)
        .get_result::<Option<String>>(conn)
        .found()?
        .flatten())
}

/// Creates a service with its four default roles and points its
/// configuration at them. Call inside a transaction.
pub fn create_with_defaults(
    conn: &mut DbConnection,
    account_sid: &str,
    friendly_name: &str,
    now: i64,
) -> StoreResult<ServiceRow> {
    let sid = SidKind::Service.generate();
    diesel::insert_into(services::table)
        .values(NewService {
            sid: &sid,
            account_sid,
            friendly_name,
            reachability_enabled: false,
            date_created: now,
            date_updated: now,
        })
        .execute(conn)?;
    let mut created = Vec::with_capacity(DEFAULT_ROLES.len());
    for role in DEFAULT_ROLES {
        let permissions = role.permissions.iter().copied().collect();
        let new = NewRole {
            account_sid,
            service_sid: &sid,
            friendly_name: role.friendly_name,
            role_type: role.role_type,
            permissions: &permissions,
            now,
        };
        created.push(roles::insert(conn, &new)?.sid);
    }
    let [_service_admin, service_user, channel_admin, channel_user] = &created[..] else {
        unreachable!("four default roles");
    };
    diesel::update(services::table.filter(services::sid.eq(&sid)))
        .set((
            services::default_chat_service_role_sid.eq(service_user),
            services::default_conversation_role_sid.eq(channel_user),
            services::default_conversation_creator_role_sid.eq(channel_admin),
        ))
        .execute(conn)?;
    find(conn, account_sid, &sid)
}

pub fn list(conn: &mut DbConnection, account_sid: &str, page: &PageQuery) -> StoreResult<Vec<ServiceRow>> {
    let query = services::table
        .filter(services::account_sid.eq(account_sid))
        .select(ServiceRow::as_select())
        .into_boxed();
    Ok(keyset!(query, services::id, page).load(conn)?)
}

pub fn update_configuration(
    conn: &mut DbConnection,
    sid: &str,
    changes: &ConfigurationChanges,
) -> StoreResult<()> {
    diesel::update(services::table.filter(services::sid.eq(sid))).set(changes).execute(conn)?;
    Ok(())
}

/// Applies a Chat Service update: its own settings, and the configuration
/// it shares with Conversations.
pub fn update_chat(
    conn: &mut DbConnection,
    sid: &str,
    chat: &ChatChanges,
    shared: &ConfigurationChanges,
) -> StoreResult<()> {
    update_configuration(conn, sid, shared)?;
    // An empty changeset is an error to diesel, not a no-op.
    let any = chat.friendly_name.is_some()
        || chat.read_status_enabled.is_some()
        || chat.typing_indicator_timeout.is_some()
        || chat.consumption_report_interval.is_some()
        || chat.limit_channel_members.is_some()
        || chat.limit_user_channels.is_some()
        || chat.notifications.is_some();
    if any {
        diesel::update(services::table.filter(services::sid.eq(sid))).set(chat).execute(conn)?;
    }
    Ok(())
}

/// Deletes the service and everything in it: conversations first (their
/// participants, messages and media cascade), then the service with its
/// users, roles and unattached media.
pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    diesel::delete(conversations::table.filter(conversations::service_sid.eq(sid))).execute(conn)?;
    diesel::delete(services::table.filter(services::sid.eq(sid))).execute(conn)?;
    Ok(())
}
