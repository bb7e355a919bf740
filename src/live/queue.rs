//! A stream's queue of frames: the hub pushes, the stream's task takes.
//!
//! Bounded in frames and in bytes. One allocation per stream, and none
//! for frames until the first arrives: an idle socket holds one of these
//! for hours, and a general-purpose channel (tokio's `mpsc`: a cache-padded
//! channel and a first block of 32 slots, ~800 bytes, plus the shared
//! flags beside it) cost each idle stream more than this whole queue.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use super::Delivery;

/// Above this many slots, an emptied queue gives its memory back.
const KEEP_SLOTS: usize = 8;

/// A frame was not queued: it would pass the bound in frames or bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// Why nothing could be taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Empty {
    /// Nothing yet.
    Waiting,
    /// Nothing more will come.
    Closed,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Arc<Delivery>>,
    /// Bytes of the frames' texts in `frames`. A frame stops counting when
    /// the stream takes it, not when its socket has sent it: the bound can
    /// be passed by the one frame being written.
    bytes: usize,
    /// The hub let go: what is queued is still taken, then `None`.
    closed: bool,
    /// The hub let go because the queue filled.
    too_slow: bool,
    /// The stream's task, waiting for a frame.
    waker: Option<Waker>,
}

/// The hub's end: pushes frames; dropped, it closes the queue.
pub struct Sender(Arc<Mutex<State>>);

/// The stream's end.
pub struct Receiver(Arc<Mutex<State>>);

pub fn queue() -> (Sender, Receiver) {
    let state = Arc::new(Mutex::new(State::default()));
    (Sender(state.clone()), Receiver(state))
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Nothing panics while holding it; a poisoned lock still holds a
    // consistent queue.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sender {
    /// Queues `frame` unless that would pass `max_frames` frames or
    /// `max_bytes` bytes.
    /// (Only the `Sender` closes the queue, so it is open here.)
    pub fn push(&self, frame: &Arc<Delivery>, max_frames: usize, max_bytes: usize) -> Result<(), Full> {
        let waker = {
            let mut state = lock(&self.0);
            if state.frames.len() >= max_frames || state.bytes + frame.text.len() > max_bytes {
                return Err(Full);
            }
            state.bytes += frame.text.len();
            state.frames.push_back(frame.clone());
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Closes the queue because the stream did not keep up.
    pub fn too_slow(self) {
        lock(&self.0).too_slow = true;
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.0);
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Receiver {
    /// The next frame; `None` once the hub has let go and the queue is
    /// empty.
    pub async fn recv(&mut self) -> Option<Arc<Delivery>> {
        poll_fn(|cx| {
            let mut state = lock(&self.0);
            match take(&mut state) {
                Ok(frame) => Poll::Ready(Some(frame)),
                Err(Empty::Closed) => Poll::Ready(None),
                Err(Empty::Waiting) => {
                    if !state.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        state.waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    pub fn try_recv(&mut self) -> Result<Arc<Delivery>, Empty> {
        take(&mut lock(&self.0))
    }

    /// Whether the hub let go because the queue filled.
    pub fn too_slow(&self) -> bool {
        lock(&self.0).too_slow
    }
}

fn take(state: &mut State) -> Result<Arc<Delivery>, Empty> {
    match state.frames.pop_front() {
        Some(frame) => {
            state.bytes -= frame.text.len();
            if state.frames.is_empty() && state.frames.capacity() > KEEP_SLOTS {
                state.frames = VecDeque::new();
            }
            Ok(frame)
        }
        None if state.closed => Err(Empty::Closed),
        None => Err(Empty::Waiting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(position: i64, bytes: usize) -> Arc<Delivery> {
        Arc::new(Delivery {
            position,
            account_sid: "AC1".into(),
            service_sid: "IS1".into(),
            conversation_sid: None,
            kind: None,
            identity: None,
            text: "x".repeat(bytes).into(),
        })
    }

    #[test]
    fn bounded_in_frames_and_bytes() {
        let (tx, mut rx) = queue();
        tx.push(&frame(1, 10), 2, 25).unwrap();
        assert_eq!(tx.push(&frame(2, 16), 2, 25), Err(Full), "26 bytes");
        tx.push(&frame(2, 15), 2, 25).unwrap();
        assert_eq!(tx.push(&frame(3, 0), 2, 25), Err(Full), "a third frame");
        assert_eq!(rx.try_recv().unwrap().position, 1);
        tx.push(&frame(3, 10), 2, 25).unwrap();
        assert_eq!(rx.try_recv().unwrap().position, 2);
        assert_eq!(rx.try_recv().unwrap().position, 3);
        assert_eq!(rx.try_recv().unwrap_err(), Empty::Waiting);
    }

    #[test]
    fn what_was_queued_is_taken_after_the_sender_goes() {
        let (tx, mut rx) = queue();
        tx.push(&frame(1, 1), 8, 100).unwrap();
        tx.too_slow();
        assert!(rx.too_slow());
        assert_eq!(rx.try_recv().unwrap().position, 1);
        assert_eq!(rx.try_recv().unwrap_err(), Empty::Closed);
    }

    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

    #[actix_web::test]
    async fn a_waiting_receiver_is_woken_by_a_push() {
        let (tx, mut rx) = queue();
        let taker = actix_web::rt::spawn(async move { rx.recv().await.map(|f| f.position) });
        actix_web::rt::task::yield_now().await;
        tx.push(&frame(7, 1), 8, 100).unwrap();
        let taken = tokio::time::timeout(PATIENCE, taker).await.expect("woken by the push");
        assert_eq!(taken.unwrap(), Some(7));
        drop(tx);
    }

    #[actix_web::test]
    async fn a_waiting_receiver_is_woken_by_the_close_and_told_why() {
        let (tx, mut rx) = queue();
        let taker = actix_web::rt::spawn(async move {
            let taken = rx.recv().await;
            (taken.is_none(), rx.too_slow())
        });
        actix_web::rt::task::yield_now().await;
        drop(tx);
        let (ended, too_slow) =
            tokio::time::timeout(PATIENCE, taker).await.expect("woken by the close").unwrap();
        assert!(ended);
        assert!(!too_slow, "a sender that just goes (the hub shutting down) is not a slow stream");
    }
}
