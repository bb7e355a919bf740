//! Where webhooks are configured: a service's pre- and post-event URLs
//! (`service_webhooks`, one row per service that has any) and the
//! conversation-scoped webhooks (`conversation_webhooks`, `WH…`, at most
//! [`MAX_PER_CONVERSATION`] per conversation). Filters and triggers are
//! JSON lists of names.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{conversation_webhooks, service_webhooks, services};
use crate::domain::Vocabulary;
use crate::domain::event_names::translate_filters;
use crate::keyset;

use super::page::PageQuery;
use super::{OptionalRow, StoreError, StoreResult};

/// Twilio's limit on conversation-scoped webhooks.
pub const MAX_PER_CONVERSATION: i64 = 5;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = service_webhooks, treat_none_as_null = true)]
pub struct ServiceWebhooksRow {
    pub service_sid: String,
    pub account_sid: String,
    pub pre_webhook_url: Option<String>,
    pub post_webhook_url: Option<String>,
    /// `GET` or `POST`.
    pub method: String,
    /// JSON list of event names.
    pub filters: String,
    /// `webhook` (or `flex`, accepted on the account's configuration).
    pub target: String,
    pub date_updated: i64,
    /// The API whose names the filters are in and whose shape requests
    /// take: `conversations` or `chat` (the one it was last written through).
    pub api: String,
    /// Chat's `PreWebhookRetryCount` and `PostWebhookRetryCount`.
    pub pre_retry_count: i32,
    pub post_retry_count: i32,
}

impl ServiceWebhooksRow {
    /// What a service without a row has: nothing configured.
    pub fn unset(account_sid: &str, service_sid: &str) -> ServiceWebhooksRow {
        ServiceWebhooksRow {
            service_sid: service_sid.to_owned(),
            account_sid: account_sid.to_owned(),
            pre_webhook_url: None,
            post_webhook_url: None,
            method: "POST".to_owned(),
            filters: "[]".to_owned(),
            target: "webhook".to_owned(),
            date_updated: 0,
            api: Vocabulary::Conversations.as_str().to_owned(),
            pre_retry_count: 0,
            post_retry_count: 0,
        }
    }

    /// The filters, in the names of the API the configuration speaks.
    pub fn filter_names(&self) -> Vec<String> {
        names(&self.filters)
    }

    pub fn api(&self) -> Vocabulary {
        Vocabulary::parse(&self.api)
    }

    /// The filters in `api`'s names, whichever the configuration speaks.
    pub fn filters_in(&self, api: Vocabulary) -> Vec<String> {
        translate_filters(&self.filter_names(), self.api(), api)
    }

    /// Makes the configuration speak `api`, its filters renamed.
    pub fn speak(&mut self, api: Vocabulary) {
        let filters = self.filters_in(api);
        self.filters = serde_json::to_string(&filters).expect("a list of names serializes");
        self.api = api.as_str().to_owned();
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conversation_webhooks)]
pub struct ConversationWebhookRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    /// `webhook`, `trigger` or `studio`.
    pub target: String,
    pub url: Option<String>,
    pub method: String,
    pub filters: String,
    pub triggers: String,
    pub flow_sid: Option<String>,
    pub replay_after: Option<i64>,
    pub replayed_through: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
    /// `conversations` or `chat`: the API it was created through.
    pub api: String,
    /// Chat's `Configuration.RetryCount`.
    pub retry_count: i32,
}

impl ConversationWebhookRow {
    /// The filters, in the names of the API the webhook speaks.
    pub fn filter_names(&self) -> Vec<String> {
        names(&self.filters)
    }

    pub fn api(&self) -> Vocabulary {
        Vocabulary::parse(&self.api)
    }

    /// The filters in `api`'s names.
    pub fn filters_in(&self, api: Vocabulary) -> Vec<String> {
        translate_filters(&self.filter_names(), self.api(), api)
    }

    pub fn trigger_words(&self) -> Vec<String> {
        names(&self.triggers)
    }
}

#[derive(Insertable)]
#[diesel(table_name = conversation_webhooks)]
pub struct NewConversationWebhook<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub conversation_sid: &'a str,
    pub target: &'a str,
    pub url: Option<&'a str>,
    pub method: &'a str,
    pub filters: &'a str,
    pub triggers: &'a str,
    pub flow_sid: Option<&'a str>,
    pub replay_after: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
    pub api: &'a str,
    pub retry_count: i32,
}

/// `None` leaves a field alone.
#[derive(AsChangeset, Default)]
#[diesel(table_name = conversation_webhooks)]
pub struct ConversationWebhookChanges {
    pub url: Option<Option<String>>,
    pub method: Option<String>,
    pub filters: Option<String>,
    pub triggers: Option<String>,
    pub flow_sid: Option<Option<String>>,
    pub retry_count: Option<i32>,
    pub api: Option<String>,
    pub date_updated: Option<i64>,
}

fn names(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// A service's webhook configuration (the unset one if it has none).
pub fn service(
    conn: &mut DbConnection,
    account_sid: &str,
    service_sid: &str,
) -> StoreResult<ServiceWebhooksRow> {
    Ok(service_webhooks::table
        .filter(service_webhooks::service_sid.eq(service_sid))
        .select(ServiceWebhooksRow::as_select())
        .get_result(conn)
        .found()?
        .unwrap_or_else(|| ServiceWebhooksRow::unset(account_sid, service_sid)))
}

/// A service's webhook configuration for a change: the service's row is
/// locked first, so writes through `/v1` and `/v2` at once apply one after
/// the other (the configuration's own row may not exist yet to lock).
pub fn service_for_update(
    conn: &mut DbConnection,
    account_sid: &str,
    service_sid: &str,
) -> StoreResult<ServiceWebhooksRow> {
    diesel::update(services::table.filter(services::sid.eq(service_sid)))
        .set(services::date_updated.eq(services::date_updated))
        .execute(conn)?;
    service(conn, account_sid, service_sid)
}

/// Stores a service's whole configuration (creating its row if need be).
pub fn save_service(conn: &mut DbConnection, row: &ServiceWebhooksRow) -> StoreResult<()> {
    let updated =
        diesel::update(service_webhooks::table.filter(service_webhooks::service_sid.eq(&row.service_sid)))
            .set(row)
            .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(service_webhooks::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// The services among `service_sids` with a post-event URL.
pub fn with_post_url(conn: &mut DbConnection, service_sids: &[&str]) -> StoreResult<Vec<ServiceWebhooksRow>> {
    Ok(service_webhooks::table
        .filter(service_webhooks::service_sid.eq_any(service_sids))
        .filter(service_webhooks::post_webhook_url.is_not_null())
        .select(ServiceWebhooksRow::as_select())
        .load(conn)?)
}

pub fn insert(
    conn: &mut DbConnection,
    new: &NewConversationWebhook<'_>,
) -> StoreResult<ConversationWebhookRow> {
    diesel::insert_into(conversation_webhooks::table).values(new).execute(conn)?;
    find(conn, new.conversation_sid, new.sid)
}

/// How many webhooks the conversation has.
pub fn count(conn: &mut DbConnection, conversation_sid: &str) -> StoreResult<i64> {
    Ok(conversation_webhooks::table
        .filter(conversation_webhooks::conversation_sid.eq(conversation_sid))
        .count()
        .get_result(conn)?)
}

pub fn find(
    conn: &mut DbConnection,
    conversation_sid: &str,
    sid: &str,
) -> StoreResult<ConversationWebhookRow> {
    conversation_webhooks::table
        .filter(conversation_webhooks::conversation_sid.eq(conversation_sid))
        .filter(conversation_webhooks::sid.eq(sid))
        .select(ConversationWebhookRow::as_select())
        .get_result(conn)
        .found()?
        .ok_or(StoreError::NotFound)
}

pub fn update(
    conn: &mut DbConnection,
    conversation_sid: &str,
    sid: &str,
    changes: &ConversationWebhookChanges,
) -> StoreResult<ConversationWebhookRow> {
    diesel::update(conversation_webhooks::table.filter(conversation_webhooks::sid.eq(sid)))
        .set(changes)
        .execute(conn)?;
    find(conn, conversation_sid, sid)
}

/// Records the highest message index a `ReplayAfter` delivered.
pub fn set_replayed_through(conn: &mut DbConnection, sid: &str, index: i64) -> StoreResult<()> {
    diesel::update(conversation_webhooks::table.filter(conversation_webhooks::sid.eq(sid)))
        .set(conversation_webhooks::replayed_through.eq(index))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, conversation_sid: &str, sid: &str) -> StoreResult<()> {
    let deleted = diesel::delete(
        conversation_webhooks::table
            .filter(conversation_webhooks::conversation_sid.eq(conversation_sid))
            .filter(conversation_webhooks::sid.eq(sid)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn list(
    conn: &mut DbConnection,
    conversation_sid: &str,
    page: &PageQuery,
) -> StoreResult<Vec<ConversationWebhookRow>> {
    let query = conversation_webhooks::table
        .filter(conversation_webhooks::conversation_sid.eq(conversation_sid))
        .select(ConversationWebhookRow::as_select())
        .into_boxed();
    Ok(keyset!(query, conversation_webhooks::id, page).load(conn)?)
}

/// The webhooks of the conversations among `conversation_sids`.
pub fn of_conversations(
    conn: &mut DbConnection,
    conversation_sids: &[&str],
) -> StoreResult<Vec<ConversationWebhookRow>> {
    Ok(conversation_webhooks::table
        .filter(conversation_webhooks::conversation_sid.eq_any(conversation_sids))
        .order(conversation_webhooks::id)
        .select(ConversationWebhookRow::as_select())
        .load(conn)?)
}
