//! What every authenticated request re-reads about its credential, in one
//! small query, so a revoked key, a rotated token or a changed role applies
//! to the very next request on every instance.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Nullable, Text};

use crate::db::DbConnection;
use crate::domain::Permissions;

use super::participants::Membership;
use super::{OptionalRow, StoreResult, roles::parse_permissions};

/// An access token's key as it is now and, if the User of the identity
/// exists yet, its SID and service role permissions.
pub struct TokenKey {
    pub key_hash: String,
    pub account_sid: String,
    pub user: Option<(String, Permissions)>,
    /// With a conversation asked for: the identity's membership of it
    /// (`None`: the conversation is missing or the identity is not in it).
    pub membership: Option<Membership>,
}

/// The token's key and user and, when `conversation_sid` is given, the
/// identity's membership of that conversation of the service: all in one
/// query, so a user's send costs the round trips of an account's.
pub fn token_key(
    conn: &mut DbConnection,
    key_sid: &str,
    service_sid: &str,
    identity: &str,
    conversation_sid: Option<&str>,
) -> StoreResult<Option<TokenKey>> {
    let row: Option<TokenCheckRow> =
        TokenCheck { key_sid, service_sid, identity, conversation_sid }.get_result(conn).found()?;
    let Some((key_hash, account_sid, user_sid, user_permissions, participant_sid, participant_permissions)) =
        row
    else {
        return Ok(None);
    };
    let user = match user_sid {
        // A user's role always exists (foreign key): its permissions too.
        Some(sid) => Some((sid, parse_permissions(user_permissions.as_deref().unwrap_or("[]"))?)),
        None => None,
    };
    let membership = match (conversation_sid, participant_sid, participant_permissions) {
        (Some(conversation_sid), Some(participant_sid), Some(perms)) => Some(Membership {
            conversation_sid: conversation_sid.to_owned(),
            participant_sid,
            permissions: parse_permissions(&perms)?,
        }),
        _ => None,
    };
    Ok(Some(TokenKey { key_hash, account_sid, user, membership }))
}

/// Key hash, account, user SID and role permissions, participant SID and
/// role permissions.
type TokenCheckRow = (String, String, Option<String>, Option<String>, Option<String>, Option<String>);

/// The query of [`token_key`], written out: every token request runs it,
/// so it is one fixed statement, prepared once per connection (its cache
/// key is its text) and never rebuilt from a query tree. Only the columns
/// the check needs; the account exists while its key does (the key
/// cascades with it). Without a conversation the participant joins match
/// nothing (`= NULL`).
struct TokenCheck<'a> {
    key_sid: &'a str,
    service_sid: &'a str,
    identity: &'a str,
    conversation_sid: Option<&'a str>,
}

impl QueryId for TokenCheck<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for TokenCheck<'_> {
    type SqlType = (Text, Text, Nullable<Text>, Nullable<Text>, Nullable<Text>, Nullable<Text>);
}

impl<DB> QueryFragment<DB> for TokenCheck<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Nullable<Text>>,
    str: ToSql<Text, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "SELECT k.secret_hash, k.account_sid, u.sid, ur.permissions, p.sid, pr.permissions \
             FROM api_keys k \
             LEFT JOIN users u ON u.account_sid = k.account_sid AND u.service_sid = ",
        );
        out.push_bind_param::<Text, str>(self.service_sid)?;
        out.push_sql(" AND u.identity = ");
        out.push_bind_param::<Text, str>(self.identity)?;
        out.push_sql(
            " LEFT JOIN roles ur ON ur.sid = u.role_sid \
             LEFT JOIN participants p ON p.conversation_sid = ",
        );
        out.push_bind_param::<Nullable<Text>, Option<&str>>(&self.conversation_sid)?;
        out.push_sql(" AND p.service_sid = ");
        out.push_bind_param::<Text, str>(self.service_sid)?;
        out.push_sql(" AND p.identity = ");
        out.push_bind_param::<Text, str>(self.identity)?;
        out.push_sql(" LEFT JOIN roles pr ON pr.sid = p.role_sid WHERE k.sid = ");
        out.push_bind_param::<Text, str>(self.key_sid)?;
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for TokenCheck<'_> {}
