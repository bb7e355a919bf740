//! From the event log to deliveries: each round locks `webhook_cursor`,
//! reads the events after it (below the log's read horizon, so in commit
//! order, as a stream reads them), writes a delivery row for every webhook
//! each event fires, and moves the cursor, all in one transaction. An event
//! is thus fanned out exactly once, by whichever instance holds the cursor;
//! the others skip the round (`SKIP LOCKED`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::WebhookConfig;
use crate::db::{Db, DbConnection};
use crate::domain::EventKind;
use crate::error::ApiError;
use crate::store::conversations::ConversationRow;
use crate::store::deliveries::{self, NewDelivery};
use crate::store::events::{self, EventRow};
use crate::store::webhooks::{self as hooks, ConversationWebhookRow, ServiceWebhooksRow};
use crate::store::{StoreError, StoreResult};
use crate::time;

use super::Webhooks;
use super::params::{self, Params};

/// Events read per round.
const BATCH: i64 = 500;
/// The shortest time between rounds: under a stream of commits, each round
/// takes what the last 20 ms brought, instead of one transaction of its own
/// per commit (which cost sends a third of their rate on PostgreSQL).
const PACE: Duration = Duration::from_millis(20);

/// How often the log is looked at when no commit of this instance woke the
/// fan-out: the delay before another instance's changes are delivered.
const POLL: Duration = Duration::from_secs(1);
/// Messages `ReplayAfter` re-delivers at most.
pub const MAX_REPLAY: i64 = 10_000;

/// Fans out until stopped: after each commit of this instance, and every
/// [`POLL`] for the others'. Wakes the deliverer when it wrote deliveries.
pub async fn run(hooks: Arc<Webhooks>) {
    let mut commits = hooks.db.commits();
    loop {
        let started = tokio::time::Instant::now();
        let configured = hooks.db.read(|conn| Ok::<_, ApiError>(deliveries::any_configured(conn)?)).await;
        let is_configured = matches!(configured, Ok(true));
        let outcome = match configured {
            Ok(true) => round(&hooks.db, &hooks.config).await,
            // Nothing to deliver: keep the cursor at the log's end, so a
            // webhook configured later hears nothing older.
            Ok(false) => catch_up(&hooks.db).await.map(|()| Round { written: 0, more: false }),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Round { written, more }) => {
                if written > 0 {
                    hooks.wake.notify_one();
                }
                if more {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhook fan-out failed; retrying"),
        }
        if !is_configured {
            // Nothing configured: this instance's commits need no round
            // (waking for each cost sends 5% of their rate); look again
            // within a second, or at once when a webhook is configured here.
            tokio::select! {
                () = hooks.reconfigured.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(POLL) => {}
        }
        tokio::time::sleep_until(started + PACE).await;
    }
}

/// Moves the cursor to the log's end (below the read horizon): what a
/// round does when no webhook could match.
async fn catch_up(db: &Db) -> Result<(), ApiError> {
    db.write_unlogged(|tx| {
        let conn = tx.conn()?;
        if let Some(cursor) = deliveries::lock_cursor(conn)? {
            let latest = events::latest(conn)?;
            // Checked again after reading the end: a webhook configured
            // since is seen here, and then every event up to `latest`
            // committed before it was.
            if latest > cursor && !deliveries::any_configured(conn)? {
                deliveries::move_cursor(conn, latest)?;
            }
        }
        Ok(())
    })
    .await
}

pub struct Round {
    /// Deliveries written.
    pub written: usize,
    /// A full batch was read: more may follow at once.
    pub more: bool,
}

/// One round: at most [`BATCH`] events.
pub async fn round(db: &Db, config: &WebhookConfig) -> Result<Round, ApiError> {
    let rest_always = config.rest_always;
    let horizon = config.retry_horizon;
    db.write_unlogged(move |tx| {
        let conn = tx.conn()?;
        let Some(cursor) = deliveries::lock_cursor(conn)? else {
            return Ok(Round { written: 0, more: false });
        };
        let batch = events::after(conn, cursor, BATCH)?;
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(Round { written: 0, more: false });
        };
        let firing: Vec<&EventRow> = batch
            .iter()
            .filter(|e| e.webhooks || (rest_always && e.source.as_deref() == Some("API")))
            .collect();
        let rows = plan(conn, &firing, horizon)?;
        deliveries::insert(conn, &rows)?;
        deliveries::move_cursor(conn, last)?;
        Ok(Round { written: rows.len(), more: batch.len() as i64 == BATCH })
    })
    .await
}

/// A service's post-event webhook, its filters read once per round.
struct ServiceHook {
    row: ServiceWebhooksRow,
    filters: Vec<String>,
}

/// A conversation-scoped webhook, its filters and keywords read once per round.
struct ScopedHook {
    row: ConversationWebhookRow,
    filters: Vec<String>,
    triggers: Vec<String>,
}

impl ScopedHook {
    fn fires(&self, event: &EventRow, event_type: &str) -> bool {
        after_creation(event, &self.row)
            && match self.row.target.as_str() {
                "webhook" => self.filters.iter().any(|f| f == event_type),
                "trigger" => event_type == "onMessageAdded" && triggered(event, &self.triggers),
                _ => false,
            }
    }
}

/// The deliveries `events` fire, in log order.
fn plan(conn: &mut DbConnection, events: &[&EventRow], horizon: Duration) -> StoreResult<Vec<NewDelivery>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut services: Vec<&str> = events.iter().map(|e| e.service_sid.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let services: HashMap<String, ServiceHook> = hooks::with_post_url(conn, &services)?
        .into_iter()
        .map(|row| (row.service_sid.clone(), ServiceHook { filters: row.filter_names(), row }))
        .collect();
    let mut conversations: Vec<&str> = events.iter().filter_map(|e| e.conversation_sid.as_deref()).collect();
    conversations.sort_unstable();
    conversations.dedup();
    let mut scoped: HashMap<String, Vec<ScopedHook>> = HashMap::new();
    for row in hooks::of_conversations(conn, &conversations)? {
        let hook = ScopedHook { filters: row.filter_names(), triggers: row.trigger_words(), row };
        scoped.entry(hook.row.conversation_sid.clone()).or_default().push(hook);
    }
    let now = now_ms();
    let expires = now + horizon.as_millis() as i64;
    let mut rows = Vec::new();
    for event in events {
        let scoped =
            event.conversation_sid.as_ref().and_then(|c| scoped.get(c)).map_or(&[][..], Vec::as_slice);
        for &event_type in super::post_events(event.kind, event.update_reasons.as_deref()) {
            let service = services
                .get(&event.service_sid)
                .filter(|s| s.filters.iter().any(|f| f == event_type))
                .and_then(|s| Some((&s.row.service_sid, s.row.post_webhook_url.as_ref()?, &s.row.method)));
            let firing: Vec<&ConversationWebhookRow> = scoped
                .iter()
                .filter(|h| h.row.url.is_some() && h.fires(event, event_type))
                .map(|h| &h.row)
                .collect();
            if service.is_none() && firing.is_empty() {
                continue;
            }
            let params = params::post_event(event, event_type)
                .map_err(|_| StoreError::Corrupt("an event that does not parse"))?;
            if let Some((sid, url, method)) = service {
                rows.push(delivery(event, event_type, sid, url, method, &params, now, expires));
            }
            for hook in firing {
                let mut params = params.clone();
                params.push(("WebhookSid".to_owned(), hook.sid.clone()));
                params.push(("WebhookType".to_owned(), hook.target.clone()));
                let url = hook.url.as_deref().unwrap_or_default();
                rows.push(delivery(event, event_type, &hook.sid, url, &hook.method, &params, now, expires));
            }
        }
    }
    Ok(rows)
}

/// Did `event` happen after `hook` was created? A webhook hears only what
/// happened once it existed: the fan-out may reach an older event after
/// the webhook is created, and what `ReplayAfter` delivered is not sent
/// twice.
fn after_creation(event: &EventRow, hook: &ConversationWebhookRow) -> bool {
    if event.date_created < hook.date_created {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Index {
        msg_index: i64,
    }
    match (event.kind, hook.replayed_through) {
        (EventKind::MessageAdded, Some(through)) => {
            serde_json::from_str::<Index>(&event.data).is_ok_and(|m| m.msg_index > through)
        }
        _ => true,
    }
}

/// Does the message's body hold one of the trigger keywords, as a word
/// (case does not matter)?
fn triggered(event: &EventRow, words: &[String]) -> bool {
    #[derive(serde::Deserialize)]
    struct Body {
        body: Option<String>,
    }
    let Ok(Body { body: Some(body) }) = serde_json::from_str::<Body>(&event.data) else {
        return false;
    };
    let body = body.to_lowercase();
    let tokens: Vec<&str> = body.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
    words.iter().any(|w| {
        let w = w.to_lowercase();
        let parts: Vec<&str> = w.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
        !parts.is_empty() && tokens.windows(parts.len()).any(|window| window == parts.as_slice())
    })
}

#[allow(clippy::too_many_arguments)]
fn delivery(
    event: &EventRow,
    event_type: &str,
    webhook: &str,
    url: &str,
    method: &str,
    params: &Params,
    now: i64,
    expires: i64,
) -> NewDelivery {
    let subject = event.conversation_sid.as_deref().unwrap_or(&event.resource_sid);
    NewDelivery {
        account_sid: event.account_sid.clone(),
        position: event.position,
        event_type: event_type.to_owned(),
        webhook: webhook.to_owned(),
        url: url.to_owned(),
        method: method.to_owned(),
        queue: format!("{url} {subject}"),
        params: form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish(),
        token: idempotency_token(),
        attempts: 0,
        due: now,
        expires,
        leased_until: 0,
        date_created: time::now(),
    }
}

/// `ReplayAfter`: `onMessageAdded` for the conversation's messages with
/// index ≥ `after` (at most [`MAX_REPLAY`]), to the new webhook only, in
/// the transaction that creates it.
pub fn replay(
    conn: &mut DbConnection,
    conversation: &ConversationRow,
    hook: &ConversationWebhookRow,
    after: i64,
    horizon: Duration,
) -> StoreResult<usize> {
    let Some(url) = &hook.url else { return Ok(0) };
    if hook.target != "webhook" || !hook.filter_names().iter().any(|f| f == "onMessageAdded") {
        return Ok(0);
    }
    let messages = crate::store::messages::from_index(conn, &conversation.sid, after, MAX_REPLAY)?;
    let last = messages.last().map(|m| m.msg_index);
    let now = now_ms();
    let expires = now + horizon.as_millis() as i64;
    let mut rows = Vec::with_capacity(messages.len());
    for message in messages {
        let event = EventRow {
            position: 0,
            account_sid: message.account_sid.clone(),
            service_sid: message.service_sid.clone(),
            conversation_sid: Some(message.conversation_sid.clone()),
            kind: EventKind::MessageAdded,
            resource_sid: message.sid.clone(),
            data: serde_json::to_string(&message)
                .map_err(|_| StoreError::Corrupt("a row that does not serialize"))?,
            update_reasons: None,
            date_created: message.date_created,
            source: Some("API".to_owned()),
            client_identity: None,
            webhooks: true,
        };
        let mut params = params::post_event(&event, "onMessageAdded")
            .map_err(|_| StoreError::Corrupt("a row that does not parse"))?;
        params.push(("WebhookSid".to_owned(), hook.sid.clone()));
        params.push(("WebhookType".to_owned(), hook.target.clone()));
        rows.push(delivery(&event, "onMessageAdded", &hook.sid, url, &hook.method, &params, now, expires));
    }
    deliveries::insert(conn, &rows)?;
    if let Some(last) = last {
        hooks::set_replayed_through(conn, &hook.sid, last)?;
    }
    Ok(rows.len())
}

/// A fresh `I-Twilio-Idempotency-Token`: 128 random bits.
pub fn idempotency_token() -> String {
    let bytes: [u8; 16] = crate::keys::keyring::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> EventRow {
        EventRow {
            position: 1,
            account_sid: "AC".into(),
            service_sid: "IS".into(),
            conversation_sid: Some("CH".into()),
            kind: EventKind::MessageAdded,
            resource_sid: "IM".into(),
            data: serde_json::json!({ "body": body }).to_string(),
            update_reasons: None,
            date_created: 0,
            source: None,
            client_identity: None,
            webhooks: true,
        }
    }

    #[test]
    fn triggers_match_whole_words_in_any_case() {
        let words = vec!["help".to_owned(), "talk to agent".to_owned()];
        assert!(triggered(&message("HELP me"), &words));
        assert!(triggered(&message("please, talk  to agent!"), &words));
        assert!(!triggered(&message("helpful"), &words));
        assert!(!triggered(&message("talk to an agent"), &words));
    }
}
