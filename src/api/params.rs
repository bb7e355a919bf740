//! Request parameters as Twilio sends them: `application/x-www-form-urlencoded`
//! bodies and query strings, arrays as repeated keys (`Permission=a&Permission=b`).
//!
//! Unknown parameters are ignored; a bad value answers 400 code 20001 naming
//! the parameter.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;

use crate::error::{ApiError, Code};
use crate::sid::SidKind;
use crate::time;

/// Largest form body accepted. Attributes are capped at 16 KiB and bodies at
/// 32 KiB, so this leaves room for ConversationWithParticipants batches.
const MAX_FORM_BYTES: usize = 256 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(input: &[u8]) -> Self {
        Params { pairs: form_urlencoded::parse(input).into_owned().collect() }
    }

    pub fn from_query(req: &HttpRequest) -> Self {
        Self::parse(req.query_string().as_bytes())
    }

    /// Text parameters never carry NUL characters (PostgreSQL cannot store
    /// them, and no legitimate client sends them).
    pub fn reject_nul(self) -> Result<Self, ApiError> {
        match self.pairs.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            Some((k, _)) => Err(ApiError::invalid_param(k, "contains a NUL character")),
            None => Ok(self),
        }
    }

    /// The first value of `name`, if present.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Every value of a repeated parameter, in request order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(str::to_owned)
    }

    /// A string capped at `max` characters.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.str(name) {
            Some(v) if v.chars().count() > max => {
                Err(ApiError::invalid_param(name, format!("must be at most {max} characters")))
            }
            v => Ok(v.map(str::to_owned)),
        }
    }

    /// `true`/`false` in any case.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid_param(name, format!("expected true or false, got {v:?}"))),
        }
    }

    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::invalid_param(
                    name,
                    format!("expected an integer between {min} and {max}, got {v:?}"),
                )),
            },
        }
    }

    /// An ISO 8601 date-time, as unix seconds.
    pub fn date(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => time::parse(v).map(Some).ok_or_else(|| {
                ApiError::invalid_param(name, format!("expected an ISO 8601 date-time, got {v:?}"))
            }),
        }
    }

    /// A SID of the given kind (`RoleSid=RL…`).
    pub fn sid(&self, name: &str, kind: SidKind) -> Result<Option<String>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) if kind.matches(v) => Ok(Some(v.to_owned())),
            Some(v) => {
                Err(ApiError::invalid_param(name, format!("expected a {} SID, got {v:?}", kind.prefix())))
            }
        }
    }

    /// One of a fixed set of values (case-sensitive, as Twilio's enums are).
    pub fn choice<'a>(&'a self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(v) => Err(ApiError::invalid_param(
                name,
                format!("expected one of {}, got {v:?}", allowed.join(", ")),
            )),
        }
    }

    /// `Attributes`: a string that must hold valid JSON; kept verbatim.
    pub fn json_text(&self, name: &str, max_bytes: usize) -> Result<Option<String>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => {
                if v.len() > max_bytes {
                    return Err(ApiError::invalid_param(name, format!("must be at most {max_bytes} bytes")));
                }
                serde_json::from_str::<serde::de::IgnoredAny>(v)
                    .map_err(|e| ApiError::invalid_param(name, format!("must be valid JSON ({e})")))?;
                Ok(Some(v.to_owned()))
            }
        }
    }

    /// An ISO 8601 duration (`PT1M`) as seconds, at least `min_secs` and at
    /// most ten years.
    pub fn duration(&self, name: &str, min_secs: i64) -> Result<Option<i64>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => match time::parse_duration(v) {
                Some(secs) if (min_secs..=time::MAX_DURATION_SECS).contains(&secs) => Ok(Some(secs)),
                Some(secs) if secs > time::MAX_DURATION_SECS => {
                    Err(ApiError::invalid_param(name, "must be at most ten years"))
                }
                Some(_) => Err(ApiError::invalid_param(name, format!("must be at least {min_secs} seconds"))),
                None => Err(ApiError::invalid_param(
                    name,
                    format!("expected an ISO 8601 duration such as PT10M, got {v:?}"),
                )),
            },
        }
    }
}

/// Extractor for a form-encoded request body. Other content types are
/// tolerated only when the body is empty (some clients send none on POST).
pub struct Form(pub Params);

/// How long a form body may take to arrive, whole (an app data value the
/// application sets from its configuration; 30 s without one).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

impl FromRequest for Form {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req.content_type().to_ascii_lowercase();
        let timeout = req.app_data::<BodyTimeout>().map_or(std::time::Duration::from_secs(30), |t| t.0);
        let mut payload = payload.take();
        Box::pin(async move {
            let read = async {
                let mut body = web::BytesMut::new();
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk.map_err(|e| ApiError::invalid_param("body", e))?;
                    if body.len() + chunk.len() > MAX_FORM_BYTES {
                        return Err(ApiError::client(
                            Code::PayloadTooLarge,
                            format!("Request body exceeds {MAX_FORM_BYTES} bytes"),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            };
            let body = tokio::time::timeout(timeout, read).await.map_err(|_| {
                ApiError::client(
                    Code::RequestTimeout,
                    format!("The request body did not arrive within {} seconds", timeout.as_secs()),
                )
            })??;
            if !body.is_empty() && content_type != "application/x-www-form-urlencoded" {
                return Err(ApiError::client(
                    Code::InvalidParameter,
                    "Request body must be application/x-www-form-urlencoded",
                ));
            }
            Ok(Form(Params::parse(&body).reject_nul()?))
        })
    }
}

/// Extractor for the query string.
pub struct Query(pub Params);

impl FromRequest for Query {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Params::from_query(req).reject_nul().map(Query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_keep_their_order() {
        let p = Params::parse(b"Permission=sendMessage&Other=x&Permission=leaveConversation");
        assert_eq!(p.all("Permission"), vec!["sendMessage", "leaveConversation"]);
        assert_eq!(p.str("Other"), Some("x"));
        assert_eq!(p.str("Missing"), None);
    }

    #[test]
    fn typed_values_name_the_parameter_when_bad() {
        let p = Params::parse(b"ReachabilityEnabled=maybe&PageSize=abc&Attributes=%7Bnope");
        let msg = |e: ApiError| e.to_string();
        assert!(msg(p.bool("ReachabilityEnabled").unwrap_err()).contains("ReachabilityEnabled"));
        assert!(msg(p.int("PageSize", 1, 100).unwrap_err()).contains("PageSize"));
        assert!(msg(p.json_text("Attributes", 100).unwrap_err()).contains("Attributes"));
    }

    #[test]
    fn nul_characters_are_refused_and_durations_capped() {
        assert!(Params::parse(b"FriendlyName=a%00b").reject_nul().is_err());
        assert!(Params::parse(b"FriendlyName=ab").reject_nul().is_ok());
        let p = Params::parse(b"Timers.Closed=PT9223372036854775807S&Timers.Inactive=P100000000W&Ok=PT10M");
        assert!(p.duration("Timers.Closed", 600).is_err());
        assert!(p.duration("Timers.Inactive", 60).is_err());
        assert_eq!(p.duration("Ok", 600).unwrap(), Some(600));
    }

    #[test]
    fn json_text_is_kept_verbatim() {
        let p = Params::parse(b"Attributes=%7B+%22topic%22%3A+%22feedback%22+%7D");
        assert_eq!(p.json_text("Attributes", 100).unwrap().unwrap(), r#"{ "topic": "feedback" }"#);
    }
}
