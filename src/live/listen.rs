//! Hearing the other instances (PostgreSQL): a session that `LISTEN`s on
//! `confab_events`, on which each instance announces its commits (payload:
//! the instance; `Db`'s announcer), and on `confab_typing`, which carries
//! typing indicators. It runs on a thread of its own while the tailer runs,
//! since libpq blocks.
//!
//! A notification only wakes the tailer; what it reads is the log. After
//! every (re)connection it wakes the tailer once, for whatever committed
//! while nobody listened, and the tailer's poll covers a notification lost
//! on a connection that died unnoticed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::db::COMMITS_CHANNEL;
use crate::db::notify::Listener;

use super::{Hub, TYPING_CHANNEL};

/// How long one wait lasts: how soon the thread sees that it should stop.
const WAIT: Duration = Duration::from_secs(1);
/// The pause before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// The listening thread, stopped when this is dropped.
pub(super) struct Listening {
    stop: Arc<AtomicBool>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Starts listening for `hub` (nothing to do on SQLite: one instance).
pub(super) fn start(hub: &Arc<Hub>, wake: Arc<Notify>) -> Option<Listening> {
    let url = hub.db.postgres_url()?.to_owned();
    // This instance's own commits wake its tailer without a round trip.
    let me = hub.db.instance().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let (weak, stopping) = (Arc::downgrade(hub), stop.clone());
    let spawned = std::thread::Builder::new()
        .name("confab-listen".into())
        .spawn(move || run(&url, &me, &weak, &wake, &stopping));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start listening for other instances; polling only");
        return None;
    }
    Some(Listening { stop })
}

fn run(url: &str, me: &str, hub: &Weak<Hub>, wake: &Notify, stop: &AtomicBool) {
    let mut failing = false;
    let running = || !stop.load(Ordering::SeqCst) && hub.strong_count() > 0;
    while running() {
        let session = Listener::connect(url).and_then(|mut l| {
            l.listen(COMMITS_CHANNEL)?;
            l.listen(TYPING_CHANNEL)?;
            Ok(l)
        });
        let mut listener = match session {
            Ok(l) => l,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot listen for other instances' events; polling until it can");
                }
                failing = true;
                std::thread::sleep(RETRY);
                continue;
            }
        };
        if failing {
            tracing::info!("listening for other instances' events again");
            failing = false;
        }
        wake.notify_one();
        while running() {
            let notifications = match listener.wait(WAIT) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the session listening for other instances; reconnecting");
                    break;
                }
            };
            for n in notifications {
                match n.channel.as_str() {
                    COMMITS_CHANNEL if n.payload != me => wake.notify_one(),
                    TYPING_CHANNEL => match hub.upgrade() {
                        Some(hub) => hub.relayed_typing(&n.payload),
                        None => return,
                    },
                    _ => {}
                }
            }
        }
    }
}
