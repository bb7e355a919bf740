//! Pre-event webhooks: called before an end user's action commits, with
//! the proposed values; the action waits for the answer (5 s at most). A
//! non-2xx answer, a timeout or no connection rejects the action, which
//! then changes nothing; a 2xx whose body is a JSON object may replace some
//! of the proposed values (`Body`, `Attributes`, …: the caller applies
//! them). Account credentials' REST calls never call them, as on Twilio.
//!
//! A service's pre-event configuration is kept per instance for
//! [`CONFIG_TTL`], so an action costs no extra database read when no
//! webhook is configured; a change made through another instance applies
//! within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::domain::{Vocabulary, event_names};
use crate::error::{ApiError, Code};
use crate::store;
use crate::store::webhooks::ServiceWebhooksRow;

use super::Webhooks;
use super::outbound::{self, Outcome, Request};
use super::params::{Params, set};

/// How long a service's pre-event configuration is reused.
const CONFIG_TTL: Duration = Duration::from_secs(2);

/// A service's pre-event webhook.
#[derive(Clone, Debug)]
pub struct PreHook {
    url: String,
    method: String,
    /// In `api`'s names.
    filters: Vec<String>,
    /// The API whose names and parameters the webhook is called with.
    api: Vocabulary,
    /// Chat's `PreWebhookRetryCount`: more tries after a timeout, 429, 503 or 504.
    retry_count: i32,
}

#[derive(Default)]
pub struct Configs(Mutex<HashMap<String, (Option<PreHook>, Instant)>>);

impl Configs {
    fn cached(&self, service_sid: &str) -> Option<Option<PreHook>> {
        let cache = self.0.lock().expect("pre-event configs lock");
        cache.get(service_sid).filter(|(_, at)| at.elapsed() < CONFIG_TTL).map(|(hook, _)| hook.clone())
    }

    fn keep(&self, service_sid: &str, hook: Option<PreHook>) {
        self.0.lock().expect("pre-event configs lock").insert(service_sid.to_owned(), (hook, Instant::now()));
    }

    /// A service's configuration changed here: read it again next time.
    pub fn forget(&self, service_sid: &str) {
        self.0.lock().expect("pre-event configs lock").remove(service_sid);
    }
}

impl From<ServiceWebhooksRow> for Option<PreHook> {
    fn from(row: ServiceWebhooksRow) -> Self {
        let url = row.pre_webhook_url.clone()?;
        Some(PreHook {
            url,
            method: row.method.clone(),
            filters: row.filter_names(),
            api: row.api(),
            retry_count: row.pre_retry_count,
        })
    }
}

/// What a pre-event webhook's answer replaces: its JSON object's fields.
#[derive(Debug, Default)]
pub struct Changes(Map<String, Value>, Option<Vocabulary>);

impl Changes {
    /// The names a message's author goes by in the webhook's answer:
    /// Conversations' `Author`, and for a webhook that speaks Chat its `From`.
    pub fn author_names(&self) -> &'static [&'static str] {
        match self.1 {
            Some(Vocabulary::Chat) => &["Author", "author", "From", "from"],
            _ => &["Author", "author"],
        }
    }

    /// The replacement for a field, under any of `names` (Twilio's
    /// PascalCase, and the lower-case spellings Chat-era receivers use).
    /// A JSON value that is not a string is taken as JSON text
    /// (`"Attributes": {"a": 1}` is `{"a":1}`).
    pub fn text(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| self.0.get(*n)).and_then(|v| match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
    }
}

/// Who acts: the end user whose action is proposed.
pub struct Actor<'a> {
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub identity: &'a str,
}

impl Webhooks {
    /// The pre-event webhook `event` calls in the service, if one is configured for it.
    pub async fn pre_hook(
        &self,
        actor: &Actor<'_>,
        event: &'static str,
    ) -> Result<Option<PreHook>, ApiError> {
        let hook = match self.pre.cached(actor.service_sid) {
            Some(hook) => hook,
            None => {
                let (account, service) = (actor.account_sid.to_owned(), actor.service_sid.to_owned());
                let row = self
                    .db
                    .read(move |conn| Ok::<_, ApiError>(store::webhooks::service(conn, &account, &service)?))
                    .await?;
                let hook: Option<PreHook> = row.into();
                self.pre.keep(actor.service_sid, hook.clone());
                hook
            }
        };
        Ok(hook.filter(|h| event_names::may_select(h.api, &h.filters, event)))
    }

    /// Calls `hook` for Conversations' `event` with the proposed `params`
    /// (in Conversations' names; a webhook that speaks Chat gets Chat's):
    /// the changes its answer asks for, or the rejection.
    pub async fn call_pre(
        &self,
        hook: &PreHook,
        actor: &Actor<'_>,
        event: &'static str,
        proposed: Params,
    ) -> Result<Changes, ApiError> {
        let media = super::chat::proposed_has_media(&proposed);
        let Some(event) = event_names::event_name(hook.api, event, media) else {
            return Ok(Changes::default());
        };
        // Chat names a message by its media: the filters may want only one kind.
        if !hook.filters.iter().any(|f| f == event) {
            return Ok(Changes::default());
        }
        let mut params: Params = vec![
            ("AccountSid".into(), actor.account_sid.into()),
            ("ChatServiceSid".into(), actor.service_sid.into()),
            ("EventType".into(), event.into()),
            ("Source".into(), "SDK".into()),
            ("ClientIdentity".into(), actor.identity.into()),
            ("RetryCount".into(), "0".into()),
        ];
        params.extend(proposed);
        if hook.api == Vocabulary::Chat {
            params = super::chat::params(event, params);
        }
        let Some(auth_token) = self.tokens.get(&self.db, &self.keys, actor.account_sid).await else {
            tracing::warn!(
                account_sid = actor.account_sid,
                event,
                "pre-event webhook not called: the Auth Token is not known yet"
            );
            return Err(rejected(
                event,
                "the account's Auth Token is not known to Confab yet, so the webhook could not be signed",
            ));
        };
        let token = super::fanout::idempotency_token();
        let mut tries = 0;
        let (outcome, body) = loop {
            let form = outbound::encode(&params);
            let request = Request {
                url: &hook.url,
                method: &hook.method,
                form: &form,
                auth_token: &auth_token,
                idempotency_token: &token,
            };
            let started = Instant::now();
            let (outcome, body) = self.outbound.send_reading(&request).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::info!(event, url = %hook.url, elapsed_ms, tries, outcome = %outcome, "pre-event webhook called");
            if tries >= hook.retry_count || !retried_by_chat(&outcome) {
                break (outcome, body);
            }
            tries += 1;
            set(&mut params, "RetryCount", Some(&tries.to_string()));
        };
        if !outcome.is_success() {
            return Err(rejected(
                event,
                &match outcome {
                    Outcome::Answered { status } => format!("it answered HTTP {status}"),
                    other => other.to_string(),
                },
            ));
        }
        Ok(match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => Changes(fields, Some(hook.api)),
            // An empty or non-object body: proceed unchanged.
            _ => Changes::default(),
        })
    }
}

/// What Chat's `PreWebhookRetryCount` retries: a timeout, 429, 503 or 504.
fn retried_by_chat(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Answered { status } => matches!(status, 429 | 503 | 504),
        Outcome::TimedOut => true,
        _ => false,
    }
}

fn rejected(event: &str, why: &str) -> ApiError {
    ApiError::client(Code::Forbidden, format!("the {event} pre-event webhook rejected this action: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_take_either_spelling_and_json_values_as_text() {
        let changes = Changes(
            serde_json::from_str(r#"{"body": "x", "Attributes": {"a": 1}, "Author": null}"#).unwrap(),
            None,
        );
        assert_eq!(changes.text(&["Body", "body"]).as_deref(), Some("x"));
        assert_eq!(changes.text(&["Attributes", "attributes"]).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(changes.text(&["Author", "author"]), None);
    }
}
