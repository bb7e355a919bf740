//! Work that runs beside the requests: the media collector, the
//! conversation state timers, the event log's pruning, and the webhooks'
//! fan-out and deliverer (on a thread of their own: they make an HTTP
//! request per delivery, and must not hold up the timers). Each loop runs supervised: a panic is logged
//! and the loop starts again after a pause, so one bad row cannot stop
//! collection for good. Every loop is safe to run on several instances at
//! once; `CONFAB_BACKGROUND=off` starts an instance that only serves
//! requests.

pub mod collector;
pub mod event_log;
pub mod thread;
pub mod timers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::rt::task::JoinHandle;
use actix_web::web;
use tracing::Instrument;

use crate::state::AppState;
use crate::webhooks::{self, Webhooks};

use thread::OwnThread;

/// How long a loop that panicked waits before it starts again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// The running loops; dropping this stops them.
pub struct Background {
    _tasks: Vec<AbortOnDrop>,
    _webhooks: Option<OwnThread>,
}

/// Starts the background loops unless the configuration switches them off.
pub fn start(state: &web::Data<AppState>) -> Background {
    if !state.config.background {
        tracing::info!("background work is off on this instance (CONFAB_BACKGROUND=off)");
        return Background { _tasks: Vec::new(), _webhooks: None };
    }
    let (timers_state, collector_state, log_state) = (state.clone(), state.clone(), state.clone());
    let mut tasks = vec![
        supervise("timers", move || timers::run(timers_state.clone())),
        supervise("collector", move || collector::run(collector_state.clone())),
        supervise("event_log", move || event_log::run(log_state.clone())),
    ];
    let hooks = state.webhooks.clone();
    let webhooks = OwnThread::start("confab-hooks", {
        let hooks = hooks.clone();
        move || webhook_loops(&hooks)
    })
    .inspect_err(|e| tracing::error!(error = %e, "no thread for the webhooks; they run beside the timers"))
    .ok();
    if webhooks.is_none() {
        tasks.extend(webhook_loops(&hooks));
    }
    Background { _tasks: tasks, _webhooks: webhooks }
}

/// The fan-out and the deliverer, spawned on the calling thread.
fn webhook_loops(hooks: &Arc<Webhooks>) -> Vec<AbortOnDrop> {
    let (fanout, delivery) = (hooks.clone(), hooks.clone());
    vec![
        supervise("webhook_fanout", move || webhooks::fanout::run(fanout.clone())),
        supervise("webhook_delivery", move || webhooks::deliver::Deliverer { hooks: delivery.clone() }.run()),
    ]
}

/// Aborts its task when dropped (a supervisor's loop, or the loop itself).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `make()`'s future as a named background task, again after a pause
/// whenever it panics. The loops never return on their own; one that does
/// is not restarted.
fn supervise<F, Fut>(name: &'static str, make: F) -> AbortOnDrop
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let span = tracing::info_span!("background", task = name);
    AbortOnDrop(actix_web::rt::spawn(
        async move {
            loop {
                let mut run = AbortOnDrop(actix_web::rt::spawn(make().in_current_span()));
                match (&mut run.0).await {
                    Ok(()) => {
                        tracing::warn!("background task returned; not restarted");
                        return;
                    }
                    Err(e) if e.is_panic() => {
                        tracing::error!(error = %e, "background task panicked; restarting");
                        actix_web::rt::time::sleep(RESTART_AFTER).await;
                    }
                    Err(_) => return,
                }
            }
        }
        .instrument(span),
    ))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    #[actix_web::test]
    async fn a_loop_that_panics_is_started_again() {
        let starts = Rc::new(Cell::new(0));
        let counter = starts.clone();
        let task = supervise("test", move || {
            let counter = counter.clone();
            async move {
                counter.set(counter.get() + 1);
                if counter.get() < 3 {
                    panic!("a bad row");
                }
                std::future::pending::<()>().await;
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while starts.get() < 3 {
            assert!(std::time::Instant::now() < deadline, "started {} times", starts.get());
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        drop(task);
    }
}
