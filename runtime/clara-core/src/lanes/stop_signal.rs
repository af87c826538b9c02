//! The stop a stop phrase sends to a conversation's running turn, without tying the engine to
//! an async runtime.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use futures_util::task::AtomicWaker;

#[derive(Default)]
struct Flag {
    stopped: AtomicBool,
    waker: AtomicWaker,
}

/// Resolves when a stop phrase asks the running turn to stop.
pub struct StopSignal(Arc<Flag>);

/// Sends the stop.
pub(crate) struct StopHandle(Arc<Flag>);

/// A connected handle and signal.
pub(crate) fn stop_pair() -> (StopHandle, StopSignal) {
    let flag = Arc::new(Flag::default());
    (StopHandle(flag.clone()), StopSignal(flag))
}

impl StopHandle {
    /// Tells the turn to stop; `false` when no turn listens any more.
    pub(crate) fn stop(self) -> bool {
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.waker.wake();
        Arc::strong_count(&self.0) > 1
    }
}

impl StopSignal {
    /// Waits for the stop (forever if none comes).
    pub async fn stopped(&mut self) {
        poll_fn(|cx| {
            self.0.waker.register(cx.waker());
            if self.0.stopped.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}
