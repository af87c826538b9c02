//! Frames on their way to one client, written by the connection's own task: a turn that
//! writes never waits on a slow client.

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames on their way to one client. Sending never waits: when the client has let
/// `send_buffer` frames pile up, the connection is closed.
#[derive(Clone)]
pub struct Outbox {
    frames: mpsc::Sender<Value>,
    closing: CancellationToken,
}

impl Outbox {
    /// Queues `frame`; `false` when the connection is gone or was just dropped for lagging.
    pub fn send(&self, frame: Value) -> bool {
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("a gateway client stopped reading its frames; disconnecting it");
                self.closing.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl Outbox {
    /// An outbox for `frames`, whose connection `closing` ends.
    pub fn new(frames: mpsc::Sender<Value>, closing: CancellationToken) -> Outbox {
        Outbox { frames, closing }
    }
}
