//! Loops on a thread of their own: a current-thread runtime with its own
//! blocking pool, so that they neither wait behind nor delay the loops on
//! the server's main thread, and what they cost can be read per thread
//! (`/proc/<pid>/task`, `perf`).

use std::io;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::LocalSet;

/// How long a stopping thread waits for its blocking work (a database
/// call under way) before it leaves it behind.
const SHUTDOWN: Duration = Duration::from_secs(2);

/// The running thread; dropping this stops its loops and waits for it.
pub struct OwnThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OwnThread {
    /// Starts a thread named `name` and runs what `start` spawns there
    /// (with `actix_web::rt::spawn`) until dropped. Its blocking pool's
    /// threads are named `{name}-db` (cut to Linux's 15 bytes).
    pub fn start<F, T>(name: &str, start: F) -> io::Result<OwnThread>
    where
        F: FnOnce() -> T + Send + 'static,
        T: 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("{name}-db"))
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let local = LocalSet::new();
            local.block_on(&runtime, async move {
                let _running = start();
                // A dropped sender stops the loops too.
                let _ = stopped.await;
            });
            drop(local);
            runtime.shutdown_timeout(SHUTDOWN);
        })?;
        Ok(OwnThread { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for OwnThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("a background thread panicked while stopping");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn loops_run_on_the_thread_and_stop_when_dropped() {
        let (seen, stopped) = (Arc::new(Mutex::new(None)), Arc::new(AtomicBool::new(false)));
        let (seen_in, stopped_in) = (seen.clone(), stopped.clone());
        let thread = OwnThread::start("confab-test", move || {
            struct Flag(Arc<AtomicBool>);
            impl Drop for Flag {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let flag = Flag(stopped_in);
            actix_web::rt::spawn(async move {
                let name = || std::thread::current().name().map(str::to_owned);
                let on_blocking = actix_web::web::block(name).await.expect("blocking pool");
                *seen_in.lock().unwrap() = Some((name(), on_blocking));
                let _flag = flag;
                std::future::pending::<()>().await;
            })
        })
        .expect("start");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "the loop never ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        let (own, blocking) = seen.lock().unwrap().clone().expect("seen");
        assert_eq!(own.as_deref(), Some("confab-test"));
        assert_eq!(blocking.as_deref(), Some("confab-test-db"));
        assert!(!stopped.load(Ordering::SeqCst));
        drop(thread);
        assert!(stopped.load(Ordering::SeqCst), "dropping stops the loops before it returns");
    }
}
