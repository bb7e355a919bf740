//! Requests to webhook receivers. Their URLs come from tenants, so this is
//! a security boundary: a target on a loopback, private, link-local,
//! metadata or otherwise internal address is refused unless the operator
//! allows it (`CONFAB_WEBHOOK_ALLOWED_HOSTS`, [`guard`]). The check is made
//! on the address a connection is opened to ([`conn`]), so a name that
//! re-resolves to an internal address between a check and the connect
//! cannot slip through. Redirects are not followed, no proxy is used, each
//! attempt has a timeout, and a receiver's answer is read up to
//! [`MAX_ANSWER`] bytes.
//!
//! Deliveries are many small requests to few receivers, so this is a lean
//! HTTP/1.1 client over hyper's connections: a configured URL is parsed
//! once and kept, and a request is its line, six headers and the form.

mod conn;
pub mod guard;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Uri};

use crate::config::AllowList;

use super::signature;
use conn::{Connections, Origin, Sender};

/// The most of a receiver's answer that is read.
pub const MAX_ANSWER: usize = 64 * 1024;
/// Parsed URLs kept; past this many the cache starts again.
const MAX_TARGETS: usize = 1024;

const SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
const IDEMPOTENCY_TOKEN: HeaderName = HeaderName::from_static("i-twilio-idempotency-token");
const AGENT: HeaderValue =
    HeaderValue::from_static(concat!("Confab/", env!("CARGO_PKG_VERSION"), " (webhooks)"));
const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

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

/// A configured URL, parsed once.
struct Target {
    origin: Origin,
    /// The `Host` header: the host, and the port unless it is the scheme's.
    host: HeaderValue,
    /// The request target: the path and the query string.
    path: Uri,
    has_query: bool,
}

impl Target {
    fn parse(configured: &str) -> Result<Target, String> {
        let url = super::webhook_url(configured)?;
        let host = url.host().ok_or("has no host")?.to_owned();
        let port = url.port_or_known_default().ok_or("has no port")?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        Ok(Target {
            origin: Origin { tls: url.scheme() == "https", host, port },
            host: HeaderValue::try_from(authority).map_err(|e| e.to_string())?,
            path: Uri::try_from(path).map_err(|e| e.to_string())?,
            has_query: url.query().is_some(),
        })
    }
}

/// The HTTP client for webhook receivers.
pub struct Outbound {
    connections: Connections,
    targets: Mutex<HashMap<String, Arc<Target>>>,
    timeout: Duration,
}

impl Outbound {
    pub fn new(allow: AllowList, timeout: Duration) -> Outbound {
        Outbound {
            connections: Connections::new(Arc::new(allow)),
            targets: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// Sends `req`, signed: `POST` with a form body, or `GET` with the
    /// parameters in the query string (then signed as part of the URL).
    pub async fn send(&self, req: &Request<'_>) -> Outcome {
        self.exchange(req, false).await.0
    }

    /// [`Outbound::send`], keeping up to [`MAX_ANSWER`] bytes of the answer.
    pub async fn send_reading(&self, req: &Request<'_>) -> (Outcome, Bytes) {
        self.exchange(req, true).await
    }

    async fn exchange(&self, req: &Request<'_>, keep: bool) -> (Outcome, Bytes) {
        let outcome = |o: Outcome| (o, Bytes::new());
        // A fragment is never sent, so it is not part of what is signed.
        let configured = req.url.split('#').next().unwrap_or(req.url);
        let target = match self.target(configured) {
            Ok(target) => target,
            Err(why) => {
                return outcome(Outcome::Forbidden(format!("{configured:?} is not a webhook URL: {why}")));
            }
        };
        let (method, path, signature, body) = if req.method.eq_ignore_ascii_case("GET") {
            let separator = if target.has_query { '&' } else { '?' };
            let full = format!("{configured}{separator}{}", req.form);
            let Ok(path) = Uri::try_from(format!("{}{separator}{}", target.path, req.form)) else {
                return outcome(Outcome::Forbidden(format!("{full:?} is not a request target")));
            };
            // The parameters are in the URL, so the form part is empty.
            (Method::GET, path, signature::sign::<&str, &str>(req.auth_token, &full, &[]), None)
        } else {
            let signature = signature::sign_form(req.auth_token, configured, req.form);
            (Method::POST, target.path.clone(), signature, Some(Bytes::copy_from_slice(req.form.as_bytes())))
        };
        let (Ok(signature), Ok(token)) =
            (HeaderValue::try_from(signature), HeaderValue::try_from(req.idempotency_token))
        else {
            return outcome(Outcome::Forbidden("a header value that cannot be sent".to_owned()));
        };
        let has_body = body.is_some();
        let mut request = hyper::Request::new(Full::new(body.unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = path;
        let headers = request.headers_mut();
        headers.insert(HOST, target.host.clone());
        headers.insert(USER_AGENT, AGENT);
        if has_body {
            headers.insert(CONTENT_TYPE, FORM);
        }
        headers.insert(SIGNATURE, signature);
        headers.insert(IDEMPOTENCY_TOKEN, token);
        match tokio::time::timeout(self.timeout, self.round_trip(&target, request, keep)).await {
            Ok(answered) => answered,
            Err(_) => outcome(Outcome::TimedOut),
        }
    }

    /// `configured`, parsed (once, then kept).
    fn target(&self, configured: &str) -> Result<Arc<Target>, String> {
        if let Some(target) = self.targets.lock().expect("targets lock").get(configured) {
            return Ok(target.clone());
        }
        let target = Arc::new(Target::parse(configured)?);
        let mut targets = self.targets.lock().expect("targets lock");
        if targets.len() >= MAX_TARGETS {
            targets.clear();
        }
        targets.insert(configured.to_owned(), target.clone());
        Ok(target)
    }

    /// Sends `request` on a kept connection to the target, or a new one.
    async fn round_trip(
        &self,
        target: &Target,
        mut request: hyper::Request<Full<Bytes>>,
        keep: bool,
    ) -> (Outcome, Bytes) {
        while let Some(mut sender) = self.connections.reuse(&target.origin) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return self.answer(target, sender, response, keep).await,
                // The receiver closed the connection before it took the
                // request: it was not sent, so it goes on another.
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return (Outcome::Unreachable(error_chain(e.error())), Bytes::new()),
                },
            }
        }
        let mut sender = match self.connections.open(&target.origin).await {
            Ok(sender) => sender,
            Err(outcome) => return (outcome, Bytes::new()),
        };
        match sender.send_request(request).await {
            Ok(response) => self.answer(target, sender, response, keep).await,
            Err(e) => (Outcome::Unreachable(error_chain(&e)), Bytes::new()),
        }
    }

    /// The status, and the body up to the cap if `keep` (read either way,
    /// so the connection can be reused). A body cut short is still an answer.
    async fn answer(
        &self,
        target: &Target,
        sender: Sender,
        response: hyper::Response<hyper::body::Incoming>,
        keep: bool,
    ) -> (Outcome, Bytes) {
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut kept = bytes::BytesMut::new();
        let mut read = 0;
        let mut ended = false;
        while read <= MAX_ANSWER {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(chunk) = frame.into_data() {
                        if keep {
                            kept.extend_from_slice(
                                &chunk[..chunk.len().min(MAX_ANSWER.saturating_sub(read))],
                            );
                        }
                        read += chunk.len();
                    }
                }
                Some(Err(_)) => break,
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            self.connections.keep(&target.origin, sender);
        }
        (Outcome::Answered { status }, kept.freeze())
    }
}

/// `params` form-encoded, as [`Request::form`] takes them.
pub fn encode(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

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

    /// How a test receiver answers each request it reads.
    #[derive(Clone, Copy)]
    enum Answer {
        /// 200 with this body, and the connection kept.
        KeepAlive(&'static str),
        /// 200 with `Connection: close`, then closed.
        Close,
        /// 200, then the connection closed without a word (an idle timeout).
        Drop,
        /// 200 with a body of this many bytes.
        Large(usize),
    }

    /// A receiver on 127.0.0.1: the connections it accepted, and every
    /// request it read (head and body).
    struct Receiver {
        url: String,
        accepted: Arc<AtomicUsize>,
        requests: Arc<Mutex<Vec<String>>>,
    }

    async fn receiver(answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (accepted, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        let (count, seen) = (accepted.clone(), requests.clone());
        actix_web::rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                actix_web::rt::spawn(serve(stream, answer, seen.clone()));
            }
        });
        Receiver { url, accepted, requests }
    }

    async fn serve(mut stream: TcpStream, answer: Answer, seen: Arc<Mutex<Vec<String>>>) {
        let mut buffer = Vec::new();
        loop {
            let Some(end) = read_request(&mut stream, &mut buffer).await else { return };
            let request: Vec<u8> = buffer.drain(..end).collect();
            seen.lock().unwrap().push(String::from_utf8(request).unwrap());
            let reply = match answer {
                Answer::KeepAlive(body) => {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                }
                Answer::Close => {
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_owned()
                }
                Answer::Drop => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
                Answer::Large(n) => {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n{}", "x".repeat(n))
                }
            };
            if stream.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
            if matches!(answer, Answer::Close | Answer::Drop) {
                return;
            }
        }
    }

    /// Reads one request into `buffer`; where it ends.
    async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
        loop {
            let text = String::from_utf8_lossy(buffer);
            if let Some(head) = text.find("\r\n\r\n") {
                let length = text[..head]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                    .map_or(0, |n| n.trim().parse().unwrap());
                if buffer.len() >= head + 4 + length {
                    return Some(head + 4 + length);
                }
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn client() -> Outbound {
        Outbound::new(AllowList::parse(&["127.0.0.1".into()]).unwrap(), Duration::from_secs(2))
    }

    fn post<'a>(url: &'a str, form: &'a str) -> Request<'a> {
        Request { url, method: "POST", form, auth_token: "secret", idempotency_token: "0123abcd" }
    }

    #[actix_web::test]
    async fn a_request_is_signed_and_its_connection_kept_for_the_next() {
        let rx = receiver(Answer::KeepAlive("ok")).await;
        let out = client();
        let url = format!("{}?a=1#fragment", rx.url);
        for i in 0..3 {
            let form = format!("Body=hi+there&Index={i}");
            let outcome = out.send(&post(&url, &form)).await;
            assert!(outcome.is_success(), "{outcome}");
        }
        assert_eq!(rx.accepted.load(Ordering::SeqCst), 1, "one connection for the three");
        let requests = rx.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 3);
        let first = requests[0].to_ascii_lowercase();
        let configured = url.split('#').next().unwrap();
        let signature =
            signature::sign_form("secret", configured, "Body=hi+there&Index=0").to_ascii_lowercase();
        assert!(first.starts_with("post /hook?a=1 http/1.1\r\n"), "{first}");
        let host = rx.url.trim_start_matches("http://").trim_end_matches("/hook");
        for header in [
            format!("host: {host}"),
            "content-type: application/x-www-form-urlencoded".to_owned(),
            "content-length: 21".to_owned(),
            format!("x-twilio-signature: {signature}"),
            "i-twilio-idempotency-token: 0123abcd".to_owned(),
            "user-agent: confab/".to_owned(),
        ] {
            assert!(first.contains(&format!("\r\n{header}")), "{header} in {first}");
        }
        assert!(first.ends_with("\r\n\r\nbody=hi+there&index=0"), "{first}");
    }

    #[actix_web::test]
    async fn a_get_carries_the_form_in_its_query_and_signs_the_whole_url() {
        let rx = receiver(Answer::KeepAlive("")).await;
        let url = format!("{}?a=1", rx.url);
        let req = Request { method: "GET", ..post(&url, "Body=x&RetryCount=0") };
        assert!(client().send(&req).await.is_success());
        let request = rx.requests.lock().unwrap()[0].clone();
        assert!(request.starts_with("GET /hook?a=1&Body=x&RetryCount=0 HTTP/1.1\r\n"), "{request}");
        let signature = signature::sign::<&str, &str>("secret", &format!("{url}&Body=x&RetryCount=0"), &[]);
        assert!(request.contains(&format!("x-twilio-signature: {signature}\r\n")), "{request}");
        assert!(!request.to_ascii_lowercase().contains("content-type"), "{request}");
    }

    #[actix_web::test]
    async fn connections_the_receiver_closes_are_not_reused() {
        for answer in [Answer::Close, Answer::Drop] {
            let rx = receiver(answer).await;
            let out = client();
            for _ in 0..3 {
                let outcome = out.send(&post(&rx.url, "A=1")).await;
                assert!(outcome.is_success(), "{outcome}");
                // The receiver's close reaches the kept connection.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(rx.accepted.load(Ordering::SeqCst), 3);
        }
    }

    #[actix_web::test]
    async fn an_answer_is_read_up_to_the_cap() {
        let rx = receiver(Answer::KeepAlive(r#"{"body":"changed"}"#)).await;
        let (outcome, body) = client().send_reading(&post(&rx.url, "A=1")).await;
        assert!(outcome.is_success());
        assert_eq!(&body[..], br#"{"body":"changed"}"#);
        let rx = receiver(Answer::Large(MAX_ANSWER + 10_000)).await;
        let (outcome, body) = client().send_reading(&post(&rx.url, "A=1")).await;
        assert!(outcome.is_success());
        assert_eq!(body.len(), MAX_ANSWER);
    }

    #[actix_web::test]
    async fn a_refused_connection_is_unreachable_and_https_is_tls() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/x");
        let outcome = client().send(&post(&url, "A=1")).await;
        assert!(matches!(outcome, Outcome::Unreachable(_)) && outcome.is_retryable(), "{outcome}");
        // An `https` URL is TLS: a plain HTTP server's answer fails the handshake.
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let https = format!("https://{}/x", plain.local_addr().unwrap());
        actix_web::rt::spawn(async move {
            let (mut stream, _) = plain.accept().await.unwrap();
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        });
        let outcome = client().send(&post(&https, "A=1")).await;
        assert!(matches!(&outcome, Outcome::Unreachable(why) if why.starts_with("TLS")), "{outcome}");
    }
}
