//! Connections to receivers. A connection is opened to an address the
//! allow-list permits: a name is resolved here and the connection made to
//! the very address that was checked, so a name that re-resolves to an
//! internal address cannot slip through. `https` is TLS with rustls and
//! the platform's roots (as reqwest verifies). Connections speak HTTP/1.1,
//! are kept alive, and are reused only by the thread that opened them,
//! whose runtime drives them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::AllowList;

use super::Outcome;
use super::guard::permits;

pub type Sender = SendRequest<Full<bytes::Bytes>>;

/// How long an idle connection is kept: receivers close theirs sooner
/// (Node's default is 5 s), which ends it here too; this bounds the rest.
const IDLE_FOR: Duration = Duration::from_secs(60);
/// Idle connections kept per origin and thread.
const MAX_IDLE: usize = 64;

/// Where a connection goes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub tls: bool,
    pub host: url::Host<String>,
    pub port: u16,
}

impl Origin {
    /// The host as the allow-list names it (an IPv6 address in brackets,
    /// as in the URL).
    fn name(&self) -> String {
        self.host.to_string()
    }
}

struct Idle {
    sender: Sender,
    thread: ThreadId,
    since: Instant,
}

impl Idle {
    fn is_alive(&self, now: Instant) -> bool {
        !self.sender.is_closed() && now.duration_since(self.since) < IDLE_FOR
    }
}

/// Opens connections, and keeps those a receiver left open.
pub struct Connections {
    allow: Arc<AllowList>,
    /// Made at the first `https` connection: it reads the platform's roots.
    tls: OnceLock<Result<TlsConnector, String>>,
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
}

impl Connections {
    pub fn new(allow: Arc<AllowList>) -> Connections {
        Connections { allow, tls: OnceLock::new(), idle: Mutex::new(HashMap::new()) }
    }

    /// An idle connection to `origin` this thread opened, if one is left.
    /// It may have been closed since: [`SendRequest::ready`] tells.
    pub fn reuse(&self, origin: &Origin) -> Option<Sender> {
        let thread = std::thread::current().id();
        let mut idle = self.idle.lock().expect("connections lock");
        let kept = idle.get_mut(origin)?;
        let now = Instant::now();
        kept.retain(|c| c.is_alive(now));
        let found = kept.iter().rposition(|c| c.thread == thread).map(|i| kept.swap_remove(i).sender);
        if kept.is_empty() {
            idle.remove(origin);
        }
        found
    }

    /// Keeps `sender`, whose last answer was read to its end, for reuse.
    pub fn keep(&self, origin: &Origin, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let idle = Idle { sender, thread: std::thread::current().id(), since: Instant::now() };
        let mut all = self.idle.lock().expect("connections lock");
        match all.get_mut(origin) {
            Some(kept) if kept.len() >= MAX_IDLE => {}
            Some(kept) => kept.push(idle),
            None => {
                // A new origin is rare: the time to drop what others left.
                let now = Instant::now();
                all.retain(|_, kept| {
                    kept.retain(|c| c.is_alive(now));
                    !kept.is_empty()
                });
                all.insert(origin.clone(), vec![idle]);
            }
        }
    }

    /// A new connection to `origin`, on an address the allow-list permits.
    pub async fn open(&self, origin: &Origin) -> Result<Sender, Outcome> {
        let name = origin.name();
        let addresses: Vec<SocketAddr> = match &origin.host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(*ip), origin.port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(*ip), origin.port)],
            url::Host::Domain(domain) => tokio::net::lookup_host((domain.as_str(), origin.port))
                .await
                .map_err(|e| Outcome::Unreachable(format!("{domain} does not resolve: {e}")))?
                .collect(),
        };
        let permitted: Vec<SocketAddr> =
            addresses.into_iter().filter(|a| permits(&self.allow, &name, a.ip())).collect();
        if permitted.is_empty() {
            return Err(Outcome::Forbidden(match origin.host {
                url::Host::Domain(_) => format!("{name} resolves only to addresses webhooks may not reach"),
                _ => format!("{name} is an internal address"),
            }));
        }
        let mut failed = None;
        let mut stream = None;
        for address in permitted {
            match TcpStream::connect(address).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => failed = Some(format!("{address}: {e}")),
            }
        }
        let stream = stream.ok_or_else(|| Outcome::Unreachable(failed.unwrap_or_default()))?;
        // A request is one write; do not hold it back for an acknowledgement.
        let _ = stream.set_nodelay(true);
        if !origin.tls {
            return handshake(stream).await;
        }
        let server = match &origin.host {
            url::Host::Domain(d) => ServerName::try_from(d.clone()),
            url::Host::Ipv4(ip) => Ok(ServerName::from(IpAddr::V4(*ip))),
            url::Host::Ipv6(ip) => Ok(ServerName::from(IpAddr::V6(*ip))),
        }
        .map_err(|e| Outcome::Forbidden(format!("{name} is not a TLS server name: {e}")))?;
        let tls =
            self.tls.get_or_init(tls_connector).as_ref().map_err(|e| Outcome::Unreachable(e.clone()))?;
        let stream = tls
            .connect(server, stream)
            .await
            .map_err(|e| Outcome::Unreachable(format!("TLS with {name}: {e}")))?;
        handshake(stream).await
    }
}

async fn handshake<T>(stream: T) -> Result<Sender, Outcome>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Outcome::Unreachable(super::error_chain(&e)))?;
    // Driven by this thread's runtime until the receiver or Confab closes it.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "webhook connection ended");
        }
    });
    Ok(sender)
}

/// rustls with the platform's verifier, as reqwest's `rustls` feature
/// builds it; HTTP/1.1 only. Without the platform's roots (no CA
/// certificates installed) `https` targets are unreachable, and say why.
fn tls_connector() -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
        tracing::error!(error = %e, "no TLS roots: https webhook targets cannot be reached");
        format!("TLS: no roots to verify receivers with ({e})")
    })?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}
