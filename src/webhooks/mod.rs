//! Twilio-compatible webhooks.
//!
//! **Post-event** webhooks are delivered from the event log, never from
//! the request that made the change: [`fanout`], on the one instance that
//! leases its cursor, reads the log past the cursor, makes each delivery's
//! first attempt ([`direct`]), and in the transaction that moves the cursor
//! writes a row for each delivery that attempt did not settle, so each
//! event is fanned out once whatever the number of instances; [`deliver`]
//! claims due rows (`FOR UPDATE SKIP LOCKED`), sends them ([`outbound`],
//! signed by [`signature`]) and removes each when its receiver answered, or
//! reschedules it with a backoff until the retry horizon. Deliveries to one
//! URL about one conversation go in log order: a queue with rows is not
//! attempted by the fan-out, and only its oldest row is ever claimed.
//!
//! Who caused a change (`Source`, `ClientIdentity`) and whether it fires
//! webhooks at all (an end user's change always; a REST call's with
//! `X-Twilio-Webhook-Enabled: true`) are recorded with its event.

pub mod chat;
pub mod deliver;
pub mod direct;
pub mod fanout;
pub mod outbound;
pub mod params;
pub mod pre;
pub mod signature;
pub mod tokens;

use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

use crate::config::WebhookConfig;
use crate::db::Db;
use crate::domain::EventKind;
use crate::keys::MasterKeys;

/// What requests and the background loops share: the HTTP client for
/// receivers, the opened Auth Tokens, the services' pre-event
/// configurations, and the deliverer's bell.
pub struct Webhooks {
    pub db: Db,
    pub keys: Arc<MasterKeys>,
    pub config: WebhookConfig,
    pub outbound: outbound::Outbound,
    pub tokens: tokens::Tokens,
    pub pre: pre::Configs,
    /// Rung when deliveries were written or a queue moved on.
    pub wake: Notify,
    /// Rung when a webhook was configured through this instance.
    pub reconfigured: Notify,
    /// Queues of rows being drained at once on this instance, at most
    /// [`deliver::QUEUES`]: the deliverer's, and those a first attempt
    /// under way hands on.
    pub draining: Arc<Semaphore>,
    /// URLs left to the deliverer for a while.
    pub slow: direct::SlowUrls,
}

impl Webhooks {
    pub fn new(db: Db, keys: Arc<MasterKeys>, config: WebhookConfig) -> Webhooks {
        Webhooks {
            outbound: outbound::Outbound::new(config.allowed_hosts.clone(), config.timeout),
            db,
            keys,
            config,
            tokens: tokens::Tokens::default(),
            pre: pre::Configs::default(),
            wake: Notify::new(),
            reconfigured: Notify::new(),
            draining: Arc::new(Semaphore::new(deliver::QUEUES)),
            slow: direct::SlowUrls::default(),
        }
    }
}

/// The post-event webhooks an event fires: its own, and for a
/// conversation whose state changed also `onConversationStateUpdated`.
pub fn post_events(kind: EventKind, update_reasons: Option<&str>) -> &'static [&'static str] {
    match kind {
        EventKind::ConversationAdded => &["onConversationAdded"],
        EventKind::ConversationUpdated => {
            let state_changed = update_reasons
                .and_then(|r| serde_json::from_str::<Vec<String>>(r).ok())
                .is_some_and(|reasons| reasons.iter().any(|r| r == "state"));
            if state_changed {
                &["onConversationUpdated", "onConversationStateUpdated"]
            } else {
                &["onConversationUpdated"]
            }
        }
        EventKind::ConversationRemoved => &["onConversationRemoved"],
        EventKind::ParticipantJoined => &["onParticipantAdded"],
        EventKind::ParticipantUpdated => &["onParticipantUpdated"],
        EventKind::ParticipantLeft => &["onParticipantRemoved"],
        EventKind::MessageAdded => &["onMessageAdded"],
        EventKind::MessageUpdated => &["onMessageUpdated"],
        EventKind::MessageRemoved => &["onMessageRemoved"],
        EventKind::UserAdded => &["onUserAdded"],
        EventKind::UserUpdated => &["onUserUpdated"],
    }
}

/// Checks a webhook URL as configured: absolute `http` or `https` with a
/// host, no credentials in it. Whether its host may be reached is decided
/// at each request ([`outbound`]), since a name can resolve differently
/// later.
pub fn webhook_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("must be http or https, not {}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_also_fire_state_updated() {
        assert_eq!(
            post_events(EventKind::ConversationUpdated, Some(r#"["friendlyName"]"#)),
            ["onConversationUpdated"]
        );
        assert_eq!(
            post_events(EventKind::ConversationUpdated, Some(r#"["state","timers"]"#)),
            ["onConversationUpdated", "onConversationStateUpdated"]
        );
        assert_eq!(post_events(EventKind::ParticipantLeft, None), ["onParticipantRemoved"]);
    }

    #[test]
    fn urls() {
        assert!(webhook_url("https://example.com/hook?a=1&b=2").is_ok());
        assert!(webhook_url("ftp://example.com/").is_err());
        assert!(webhook_url("/relative").is_err());
        assert!(webhook_url("https://user:pw@example.com/").is_err());
    }
}
