//! Requests to webhook receivers. Their URLs come from tenants, so this is
//! a security boundary: a target on a loopback, private, link-local,
//! metadata or otherwise internal address is refused unless the operator
//! allows it (`CONFAB_WEBHOOK_ALLOWED_HOSTS`). The check is made on the
//! addresses the request connects to: names are resolved by
//! [`GuardedResolver`], which hands the client only allowed addresses, so a
//! name that re-resolves to an internal address between a check and the
//! connect cannot slip through; an address literal in the URL is checked
//! before the request. Redirects are not followed, no proxy is used, each
//! attempt has a timeout, and a receiver's answer is read up to
//! [`MAX_ANSWER`] bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::AllowList;

use super::signature;

/// The most of a receiver's answer that is read.
pub const MAX_ANSWER: usize = 64 * 1024;

/// May a request connect to `ip`, reached through `host`?
pub fn permits(allow: &AllowList, host: &str, ip: IpAddr) -> bool {
    !is_internal(ip) || allow.allows_name(host) || allow.allows_ip(ip)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Addresses a tenant's webhook must not reach: loopback, private,
/// link-local (cloud metadata lives at 169.254.169.254), shared (CGNAT),
/// unspecified, broadcast, multicast, documentation and reserved ranges.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
        || (ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && {
            let o = ip.octets();
            is_internal_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        })
}

/// Resolves names and keeps only the addresses the allow-list permits.
struct GuardedResolver {
    allow: Arc<AllowList>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to addresses webhooks may not reach")]
struct Refused(String);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let permitted: Vec<SocketAddr> = found.filter(|a| permits(&allow, &host, a.ip())).collect();
            if permitted.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// The receiver answered (any status); up to [`MAX_ANSWER`] bytes of its body were read.
    Answered { status: u16 },
    /// No answer within the timeout.
    TimedOut,
    /// No connection (refused, reset, DNS failure).
    Unreachable(String),
    /// The target is not allowed (internal address) or not a valid URL.
    Forbidden(String),
}

impl Outcome {
    /// Worth another attempt: connection errors, timeouts, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Outcome::Answered { status, .. } => *status == 429 || *status >= 500,
            Outcome::TimedOut | Outcome::Unreachable(_) => true,
            Outcome::Forbidden(_) => false,
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Answered { status, .. } if (200..300).contains(status))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answered { status, .. } => write!(f, "HTTP {status}"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Unreachable(why) => write!(f, "unreachable: {why}"),
            Outcome::Forbidden(why) => write!(f, "refused: {why}"),
        }
    }
}

/// One webhook request.
pub struct Request<'a> {
    pub url: &'a str,
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The parameters, form-encoded ([`encode`]): the body of a `POST`, the
    /// query string of a `GET`.
    pub form: &'a str,
    pub auth_token: &'a str,
    /// `I-Twilio-Idempotency-Token`, the same on every attempt of one delivery.
    pub idempotency_token: &'a str,
}

/// The HTTP client for webhook receivers.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow: Arc<AllowList>,
}

impl Outbound {
    pub fn new(allow: AllowList, timeout: Duration) -> Outbound {
        let allow = Arc::new(allow);
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(GuardedResolver { allow: allow.clone() })
            .user_agent(concat!("Confab/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()
            .expect("the webhook HTTP client builds with fixed settings");
        Outbound { client, allow }
    }

    /// Sends `req`, signed: `POST` with a form body, or `GET` with the
    /// parameters in the query string (then signed as part of the URL).
    pub async fn send(&self, req: &Request<'_>) -> Outcome {
        self.exchange(req, false).await.0
    }

    /// [`Outbound::send`], keeping up to [`MAX_ANSWER`] bytes of the answer.
    pub async fn send_reading(&self, req: &Request<'_>) -> (Outcome, bytes::Bytes) {
        self.exchange(req, true).await
    }

    async fn exchange(&self, req: &Request<'_>, keep: bool) -> (Outcome, bytes::Bytes) {
        let outcome = |o: Outcome| (o, bytes::Bytes::new());
        // A fragment is never sent, so it is not part of what is signed.
        let configured = req.url.split('#').next().unwrap_or(req.url);
        let Ok(mut url) = super::webhook_url(configured) else {
            return outcome(Outcome::Forbidden(format!("{configured:?} is not a webhook URL")));
        };
        if let Some(refusal) = self.literal_refusal(&url) {
            return outcome(refusal);
        }
        let (signature, builder) = if req.method.eq_ignore_ascii_case("GET") {
            let full = match url.query() {
                Some(_) => format!("{configured}&{}", req.form),
                None => format!("{configured}?{}", req.form),
            };
            url = match reqwest::Url::parse(&full) {
                Ok(u) => u,
                Err(e) => return outcome(Outcome::Forbidden(e.to_string())),
            };
            // The parameters are in the URL, so the form part is empty.
            (signature::sign::<&str, &str>(req.auth_token, &full, &[]), self.client.get(url))
        } else {
            let builder = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(req.form.to_owned());
            (signature::sign_form(req.auth_token, configured, req.form), builder)
        };
        let sent = builder
            .header("X-Twilio-Signature", signature)
            .header("I-Twilio-Idempotency-Token", req.idempotency_token)
            .send()
            .await;
        match sent {
            Ok(response) => read_answer(response, keep).await,
            Err(e) => outcome(failure(&e)),
        }
    }

    /// An address literal in the URL is checked here: the resolver never sees it.
    fn literal_refusal(&self, url: &reqwest::Url) -> Option<Outcome> {
        let ip = match url.host()? {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(_) => return None,
        };
        let host = url.host_str().unwrap_or_default();
        (!permits(&self.allow, host, ip)).then(|| Outcome::Forbidden(format!("{ip} is an internal address")))
    }
}

/// `params` form-encoded, as [`Request::form`] takes them.
pub fn encode(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

/// The status, and the body up to the cap if `keep` (read either way, so
/// the connection can be reused). A body cut short is still an answer.
async fn read_answer(mut response: reqwest::Response, keep: bool) -> (Outcome, bytes::Bytes) {
    let status = response.status().as_u16();
    let mut body = bytes::BytesMut::new();
    let mut read = 0;
    while read < MAX_ANSWER {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if keep {
                    body.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER - read)]);
                }
                read += chunk.len();
            }
            Ok(None) | Err(_) => break,
        }
    }
    (Outcome::Answered { status }, body.freeze())
}

fn failure(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        return Outcome::TimedOut;
    }
    // The resolver's refusal arrives as a connect error with it as the source.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return Outcome::Forbidden(refused.to_string());
        }
        source = s.source();
    }
    Outcome::Unreachable(error_chain(e))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses() {
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_allow_list_takes_names_addresses_and_ranges() {
        let list =
            AllowList::parse(&["hooks.internal".into(), "127.0.0.1".into(), "10.1.0.0/16".into()]).unwrap();
        assert!(permits(&list, "anything", ip("127.0.0.1")));
        assert!(permits(&list, "anything", ip("::ffff:127.0.0.1")));
        assert!(!permits(&list, "anything", ip("127.0.0.2")));
        assert!(permits(&list, "x", ip("10.1.200.3")));
        assert!(!permits(&list, "x", ip("10.2.0.1")));
        assert!(permits(&list, "HOOKS.internal", ip("192.168.0.1")));
        assert!(permits(&list, "x", ip("93.184.216.34")));
        assert!(AllowList::parse(&["10.0.0.0/40".into()]).is_err());
        assert!(AllowList::parse(&["bad/8".into()]).is_err());
    }

    #[actix_web::test]
    async fn internal_targets_are_refused_before_any_connection() {
        let out = Outbound::new(AllowList::default(), Duration::from_secs(2));
        for url in [
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9/x",
            "http://localhost:9/x",
        ] {
            let req = Request { url, method: "POST", form: "", auth_token: "t", idempotency_token: "i" };
            let outcome = out.send(&req).await;
            assert!(matches!(outcome, Outcome::Forbidden(_)), "{url}: {outcome}");
            assert!(!outcome.is_retryable());
        }
    }
}
