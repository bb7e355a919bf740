//! From the event log to deliveries. The instance that leases
//! `webhook_cursor` (at most one at a time; the others skip the round)
//! reads the events after it (below the log's read horizon, so in commit
//! order, as a stream reads them) and plans a delivery for every webhook
//! each event fires; the first attempts are made at once ([`super::direct`]);
//! then one transaction writes what they left unsettled and moves the
//! cursor. An event is thus fanned out once; an instance that dies
//! mid-round leaves the cursor where it was, and the round is done again
//! (at least once, with the same idempotency tokens) by whichever instance
//! leases the cursor next.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::db::{Db, DbConnection};
use crate::domain::event_names;
use crate::domain::{EventKind, Vocabulary};
use crate::error::ApiError;
use crate::store::conversations::ConversationRow;
use crate::store::deliveries::{self, NewDelivery};
use crate::store::events::{self, EventRow};
use crate::store::webhooks::{self as hooks, ConversationWebhookRow, ServiceWebhooksRow};
use crate::store::{StoreError, StoreResult};
use crate::time::{self, now_ms};

use super::Webhooks;
use super::params::{self, Params};

/// Events read per round.
const BATCH: i64 = 500;
/// The shortest time between rounds: under a stream of commits, each round
/// takes what the last 50 ms brought, instead of one transaction of its own
/// per commit (which cost sends a third of their rate on PostgreSQL). A
/// commit after a quiet spell is still fanned out at once; under load this
/// adds about 20 ms to a delivery (p50 ~42 ms at 1,800 sends/s) and, against
/// 20 ms, took about 6 points off what a webhook costs PostgreSQL sends
/// (BENCHMARKS.md).
const PACE: Duration = Duration::from_millis(50);

/// How often the log is looked at when no commit of this instance woke the
/// fan-out: the delay before another instance's changes are delivered.
const POLL: Duration = Duration::from_secs(1);
/// Messages `ReplayAfter` re-delivers at most.
pub const MAX_REPLAY: i64 = 10_000;

/// How long the cursor's lease lasts, by the database's clock. Renewed
/// by the leaseholder's rounds, it runs out only when its instance stopped:
/// another then takes the fan-out over within this (and [`POLL`]).
const CURSOR_LEASE_MS: i64 = 5_000;
/// How often the leaseholder looks at the log when none of its own
/// commits woke it: the longest an event committed through another
/// instance waits for its first attempt (besides [`PACE`]).
const POLL_HELD: Duration = Duration::from_millis(100);
/// A failed write of a round's outcome is tried again once after this
/// before the round is given up (and done again, first attempts included).
const RECORD_RETRY: Duration = Duration::from_millis(100);

/// Fans out until stopped. The leaseholder runs a round after each commit
/// of its instance (at most one per [`PACE`]) and every [`POLL_HELD`] for
/// the others'; every other instance looks every [`POLL`], to take over a
/// lease that ran out. Wakes the deliverer when it wrote deliveries.
pub async fn run(hooks: Arc<Webhooks>) {
    let mut commits = hooks.db.commits();
    loop {
        let started = tokio::time::Instant::now();
        let mut held = false;
        match round(&hooks).await {
            Ok(round) => {
                if round.written > 0 {
                    hooks.wake.notify_one();
                }
                if round.more {
                    continue;
                }
                held = round.held;
            }
            Err(e) => tracing::warn!(error = %e, "webhook fan-out failed; retrying"),
        }
        if !held {
            // Nothing configured, or another instance fans out: this
            // instance's commits need no round (waking for each cost sends
            // 5% of their rate); look again within a second, or at once
            // when a webhook is configured here.
            tokio::select! {
                () = hooks.reconfigured.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(POLL_HELD) => {}
        }
        tokio::time::sleep_until(started + PACE).await;
    }
}

/// Moves the cursor to the log's end (below the read horizon): what a
/// round does when no webhook could match.
async fn catch_up(db: &Db) -> Result<(), ApiError> {
    let owner = db.instance() as i64;
    db.write_unlogged(move |tx| {
        let conn = tx.conn()?;
        if let Some(cursor) = deliveries::lease_cursor(conn, owner, CURSOR_LEASE_MS)? {
            let latest = events::latest(conn)?;
            // Checked again after reading the end: a webhook configured
            // since is seen here, and then every event up to `latest`
            // committed before it was.
            if latest > cursor && !deliveries::any_configured(conn)? {
                deliveries::move_cursor(conn, owner, cursor, latest, CURSOR_LEASE_MS)?;
            }
        }
        Ok(())
    })
    .await
}

pub struct Round {
    /// Deliveries written for the deliverer to claim.
    pub written: usize,
    /// A full batch was read: more may follow at once.
    pub more: bool,
    /// A webhook is configured and this instance holds the cursor's lease.
    pub held: bool,
}

impl Round {
    const NOT_HELD: Round = Round { written: 0, more: false, held: false };
    const NOTHING_NEW: Round = Round { written: 0, more: false, held: true };
}

/// What a round's first read found.
enum Look {
    /// No webhook is configured anywhere.
    Unconfigured,
    /// Another instance holds the cursor's lease.
    Elsewhere,
    /// This instance must take or renew the lease (a write) before it plans.
    Lease,
    /// This instance holds the lease with more than half of it to run:
    /// the round's plan, from the same read.
    Planned(Option<Planned>),
}

/// What a round read and planned under the cursor's lease.
struct Planned {
    from: i64,
    to: i64,
    rows: Vec<NewDelivery>,
    /// Queues among `rows`' that have rows already.
    blocked: Vec<String>,
    more: bool,
}

/// One round: at most [`BATCH`] events. A leaseholder's round reads once
/// (whether anything is configured, the cursor, the events and the
/// webhooks they fire) and writes once, when it moves the cursor: rounds
/// run up to 20 times a second under load, and every round trip they
/// save is one the sends' database does not make.
pub async fn round(hooks: &Arc<Webhooks>) -> Result<Round, ApiError> {
    let owner = hooks.db.instance() as i64;
    let rest_always = hooks.config.rest_always;
    let horizon = hooks.config.retry_horizon;
    let plan_from = move |conn: &mut DbConnection, from: i64| read_and_plan(conn, from, rest_always, horizon);
    let look = hooks
        .db
        .read(move |conn| {
            if !deliveries::any_configured(conn)? {
                return Ok::<_, ApiError>(Look::Unconfigured);
            }
            let cursor = deliveries::cursor(conn)?;
            if cursor.owner != owner && cursor.leased_until > cursor.now {
                return Ok(Look::Elsewhere);
            }
            if cursor.owner == owner && cursor.leased_until > cursor.now + CURSOR_LEASE_MS / 2 {
                return Ok(Look::Planned(plan_from(conn, cursor.position)?));
            }
            Ok(Look::Lease)
        })
        .await?;
    let planned = match look {
        Look::Unconfigured => {
            // Nothing to deliver: keep the cursor at the log's end, so a
            // webhook configured later hears nothing older.
            catch_up(&hooks.db).await?;
            return Ok(Round::NOT_HELD);
        }
        Look::Elsewhere => return Ok(Round::NOT_HELD),
        Look::Planned(planned) => planned,
        Look::Lease => {
            let leased = hooks
                .db
                .write_unlogged(move |tx| {
                    Ok::<_, ApiError>(deliveries::lease_cursor(tx.conn()?, owner, CURSOR_LEASE_MS)?)
                })
                .await?;
            let Some(from) = leased else {
                return Ok(Round::NOT_HELD);
            };
            hooks.db.read(move |conn| Ok::<_, ApiError>(plan_from(conn, from)?)).await?
        }
    };
    let Some(Planned { from, to, rows, blocked, more }) = planned else {
        return Ok(Round::NOTHING_NEW);
    };
    let leftovers = super::direct::attempt_first(hooks, rows, &blocked).await;
    // Rows for the deliverer (an attempt under way is settled by its lane).
    let written = leftovers.rows.len();
    let (under_way, ids): (Vec<NewDelivery>, Vec<_>) = leftovers.under_way.into_iter().unzip();
    let rows = leftovers.rows;
    let mut recorded = record(&hooks.db, owner, from, to, under_way.clone(), rows.clone()).await;
    if recorded.is_err() {
        tokio::time::sleep(RECORD_RETRY).await;
        recorded = record(&hooks.db, owner, from, to, under_way, rows).await;
    }
    let Some(written_ids) = recorded? else {
        // Another instance leased the cursor while this round was sending
        // (this one stalled past the lease): it does the round again.
        tracing::warn!(from, to, "webhook fan-out lost its cursor mid-round; another instance repeats it");
        return Ok(Round::NOT_HELD);
    };
    for (id, to_lane) in written_ids.into_iter().zip(ids) {
        let _ = to_lane.send(id);
    }
    Ok(Round { written, more, held: true })
}

/// The events after `from` (at most [`BATCH`]) and the deliveries they
/// fire; `None` when there is no new event.
fn read_and_plan(
    conn: &mut DbConnection,
    from: i64,
    rest_always: bool,
    horizon: Duration,
) -> StoreResult<Option<Planned>> {
    let batch = events::after(conn, from, BATCH)?;
    let Some(to) = batch.last().map(|e| e.position) else {
        return Ok(None);
    };
    let more = batch.len() as i64 == BATCH;
    let firing: Vec<&EventRow> =
        batch.iter().filter(|e| e.webhooks || (rest_always && e.source.as_deref() == Some("API"))).collect();
    let rows = plan(conn, &firing, horizon)?;
    let mut queues: Vec<&str> = rows.iter().map(|r| r.queue.as_str()).collect();
    queues.sort_unstable();
    queues.dedup();
    let blocked = deliveries::blocked(conn, &queues)?;
    Ok(Some(Planned { from, to, rows, blocked, more }))
}

/// Moves the cursor from `from` to `to` and writes what the round's first
/// attempts left, in one transaction: the ids of the attempts under way
/// (written first, each before what follows it in its queue), or `None`
/// when the lease was lost.
async fn record(
    db: &Db,
    owner: i64,
    from: i64,
    to: i64,
    under_way: Vec<NewDelivery>,
    rows: Vec<NewDelivery>,
) -> Result<Option<Vec<i64>>, ApiError> {
    db.write_unlogged(move |tx| {
        let conn = tx.conn()?;
        if !deliveries::move_cursor(conn, owner, from, to, CURSOR_LEASE_MS)? {
            return Ok(None);
        }
        let written = under_way
            .iter()
            .map(|row| deliveries::insert_leased(conn, row))
            .collect::<StoreResult<Vec<i64>>>()?;
        deliveries::insert(conn, &rows)?;
        Ok(Some(written))
    })
    .await
}

/// A service's post-event webhook, its filters read once per round.
struct ServiceHook {
    row: ServiceWebhooksRow,
    api: Vocabulary,
    filters: Vec<String>,
}

/// A conversation-scoped webhook, its filters and keywords read once per round.
struct ScopedHook {
    row: ConversationWebhookRow,
    api: Vocabulary,
    filters: Vec<String>,
    triggers: Vec<String>,
}

impl ScopedHook {
    /// Does `event` (Conversations' `event_type`, `name` in the webhook's
    /// API) fire this webhook?
    fn fires(&self, event: &EventRow, event_type: &str, name: &str) -> bool {
        after_creation(event, &self.row)
            && match self.row.target.as_str() {
                "webhook" => self.filters.iter().any(|f| f == name),
                "trigger" => event_type == "onMessageAdded" && triggered(event, &self.triggers),
                _ => false,
            }
    }
}

/// Where one delivery goes.
struct Target<'a> {
    /// The service SID or the `WH…`.
    webhook: &'a str,
    url: &'a str,
    method: &'a str,
    api: Vocabulary,
    /// A scoped webhook's SID and type, which its requests carry.
    scoped: Option<(&'a str, &'a str)>,
    /// Chat's retry count + 1; `None`: until the horizon.
    max_attempts: Option<i32>,
}

/// Chat's retry count as attempts; Conversations' webhooks retry until the horizon.
fn max_attempts(api: Vocabulary, retry_count: i32) -> Option<i32> {
    (api == Vocabulary::Chat).then_some(retry_count.saturating_add(1))
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
        .map(|row| {
            (row.service_sid.clone(), ServiceHook { filters: row.filter_names(), api: row.api(), row })
        })
        .collect();
    let mut conversations: Vec<&str> = events.iter().filter_map(|e| e.conversation_sid.as_deref()).collect();
    conversations.sort_unstable();
    conversations.dedup();
    let mut scoped: HashMap<String, Vec<ScopedHook>> = HashMap::new();
    for row in hooks::of_conversations(conn, &conversations)? {
        let hook =
            ScopedHook { filters: row.filter_names(), triggers: row.trigger_words(), api: row.api(), row };
        scoped.entry(hook.row.conversation_sid.clone()).or_default().push(hook);
    }
    let corrupt = |_| StoreError::Corrupt("an event that does not parse");
    let now = now_ms();
    let expires = now + horizon.as_millis() as i64;
    let mut rows = Vec::new();
    for event in events {
        let scoped =
            event.conversation_sid.as_ref().and_then(|c| scoped.get(c)).map_or(&[][..], Vec::as_slice);
        // Chat names a message's events by whether it has media: read once.
        let mut media = None;
        let mut name_in = |api: Vocabulary, event_type: &'static str| {
            let media =
                api == Vocabulary::Chat && *media.get_or_insert_with(|| super::chat::event_has_media(event));
            event_names::event_name(api, event_type, media)
        };
        for &event_type in super::post_events(event.kind, event.update_reasons.as_deref()) {
            let mut targets: Vec<(Target<'_>, &'static str)> = Vec::new();
            if let Some(s) = services.get(&event.service_sid)
                && let Some(name) = name_in(s.api, event_type)
                && s.filters.iter().any(|f| f == name)
                && let Some(url) = &s.row.post_webhook_url
            {
                let target = Target {
                    webhook: &s.row.service_sid,
                    url,
                    method: &s.row.method,
                    api: s.api,
                    scoped: None,
                    max_attempts: max_attempts(s.api, s.row.post_retry_count),
                };
                targets.push((target, name));
            }
            for h in scoped {
                let (Some(url), Some(name)) = (&h.row.url, name_in(h.api, event_type)) else { continue };
                if h.fires(event, event_type, name) {
                    let target = Target {
                        webhook: &h.row.sid,
                        url,
                        method: &h.row.method,
                        api: h.api,
                        scoped: Some((&h.row.sid, &h.row.target)),
                        max_attempts: max_attempts(h.api, h.row.retry_count),
                    };
                    targets.push((target, name));
                }
            }
            if targets.is_empty() {
                continue;
            }
            let mut conversations_params = None;
            let mut chat_params = None;
            for (target, name) in targets {
                let shared = match target.api {
                    Vocabulary::Conversations => match &conversations_params {
                        Some(p) => p,
                        None => conversations_params
                            .insert(params::post_event(event, event_type).map_err(corrupt)?),
                    },
                    Vocabulary::Chat => match &chat_params {
                        Some(p) => p,
                        None => chat_params
                            .insert(super::chat::post_event(event, event_type, name).map_err(corrupt)?),
                    },
                };
                let token = derived_token(event, target.webhook, name);
                rows.push(delivery(event, name, &target, shared, token, now, expires));
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

/// The delivery of `event` as `event_type` to `target`: the event's
/// `params`, and a scoped webhook's SID and type after them.
fn delivery(
    event: &EventRow,
    event_type: &str,
    target: &Target<'_>,
    params: &Params,
    token: String,
    now: i64,
    expires: i64,
) -> NewDelivery {
    let subject = event.conversation_sid.as_deref().unwrap_or(&event.resource_sid);
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(params);
    if let Some((sid, kind)) = target.scoped {
        form.append_pair("WebhookSid", sid).append_pair("WebhookType", kind);
    }
    NewDelivery {
        account_sid: event.account_sid.clone(),
        position: event.position,
        event_type: event_type.to_owned(),
        webhook: target.webhook.to_owned(),
        url: target.url.to_owned(),
        method: target.method.to_owned(),
        queue: format!("{} {subject}", target.url),
        params: form.finish(),
        token,
        attempts: 0,
        due: now,
        expires,
        leased_until: 0,
        date_created: time::now(),
        max_attempts: target.max_attempts,
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
    // ReplayAfter is Conversations' (Chat's channel webhooks have none).
    if hook.target != "webhook"
        || !hook.filters_in(Vocabulary::Conversations).iter().any(|f| f == "onMessageAdded")
    {
        return Ok(0);
    }
    let target = Target {
        webhook: &hook.sid,
        url,
        method: &hook.method,
        api: Vocabulary::Conversations,
        scoped: Some((&hook.sid, &hook.target)),
        max_attempts: None,
    };
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
        let params = params::post_event(&event, "onMessageAdded")
            .map_err(|_| StoreError::Corrupt("a row that does not parse"))?;
        rows.push(delivery(&event, "onMessageAdded", &target, &params, idempotency_token(), now, expires));
    }
    deliveries::insert(conn, &rows)?;
    if let Some(last) = last {
        hooks::set_replayed_through(conn, &hook.sid, last)?;
    }
    Ok(rows.len())
}

/// The `I-Twilio-Idempotency-Token` of the delivery of the logged `event`
/// as `name` to `webhook`, derived from them: a fan-out that is done again
/// (its instance died before it moved the cursor) sends the same token.
fn derived_token(event: &EventRow, webhook: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in
        [event.account_sid.as_bytes(), &event.position.to_be_bytes(), webhook.as_bytes(), name.as_bytes()]
    {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex(&hash.finalize()[..16])
}

/// A fresh `I-Twilio-Idempotency-Token`: 128 random bits.
pub fn idempotency_token() -> String {
    let bytes: [u8; 16] = crate::keys::keyring::random();
    hex(&bytes)
}

/// Lower-case hex, in one allocation (a token is made for every delivery).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    text
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
    fn a_deliverys_token_is_the_same_whenever_its_round_is_done_again() {
        let event = message("hi");
        let token = derived_token(&event, "IS1", "onMessageAdded");
        assert_eq!(token.len(), 32);
        assert_eq!(hex(&[0x00, 0x9f, 0xa0, 0xff]), "009fa0ff");
        assert_eq!(token, derived_token(&message("hi"), "IS1", "onMessageAdded"));
        assert_ne!(token, derived_token(&event, "WH1", "onMessageAdded"));
        assert_ne!(token, derived_token(&event, "IS1", "onMessageSent"));
        let later = EventRow { position: 2, ..message("hi") };
        assert_ne!(token, derived_token(&later, "IS1", "onMessageAdded"));
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
