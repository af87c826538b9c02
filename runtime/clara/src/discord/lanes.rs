//! One turn at a time per channel: messages that arrive while a channel is busy wait in its
//! lane, and in active channels the unaddressed ones are answered together. Channels do not
//! wait for each other.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use twilight_model::channel::Message;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker};

/// How long a message waits before its author is told it is queued: a message that arrives
/// while the previous turn is only finishing up (storing the reply) starts without a notice,
/// so notices mean a real wait and cost no requests otherwise.
pub const NOTICE_AFTER: Duration = Duration::from_millis(1500);

/// A message waiting for its turn.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The Discord message.
    pub message: Arc<Message>,
    /// A DM, mention or reply to clara; unaddressed messages (active channels) may batch.
    pub addressed: bool,
    /// When it arrived.
    pub arrived: Instant,
}

/// What a channel's worker answers next.
#[derive(Debug)]
pub enum Work {
    /// One message; `waited` when it sat in the queue first.
    One {
        /// The message.
        pending: Pending,
        /// How long it waited behind another turn.
        waited: Option<Duration>,
    },
    /// Several unaddressed messages of an active channel, answered in one turn.
    Batch {
        /// The messages, oldest first.
        pending: Vec<Pending>,
        /// How long the oldest waited.
        waited: Duration,
    },
}

/// Whether a new message starts its channel's worker, waits, or is dropped.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// The channel was idle: start a worker for it.
    Start,
    /// The channel is busy: the message waits at this position (1 is next).
    Queued(usize),
    /// The same author sent the same text moments ago, and that copy is being answered or
    /// waits: this one is not answered again.
    Duplicate,
}

/// What a stop phrase ended.
#[derive(Debug, Default)]
pub struct Stopped {
    /// A turn was running and has been told to stop.
    pub was_running: bool,
    /// Messages removed from the queue.
    pub cleared: Vec<Pending>,
}

/// The lanes of every busy channel.
#[derive(Default)]
pub struct Lanes {
    lanes: Mutex<HashMap<Id<ChannelMarker>, Lane>>,
}

#[derive(Default)]
struct Lane {
    /// Tells the running turn to stop (`true`), if one runs.
    running: Option<watch::Sender<bool>>,
    /// The messages the running turn answers.
    answering: Vec<Pending>,
    queue: VecDeque<Pending>,
}

impl Lane {
    /// Whether a message answered now or waiting is `pending` again: same author, same text,
    /// arrived at most `window` before it.
    fn has_copy_of(&self, pending: &Pending, window: Duration) -> bool {
        let same = |other: &Pending| {
            other.message.author.id == pending.message.author.id
                && other.message.content == pending.message.content
                && pending.arrived.saturating_duration_since(other.arrived) <= window
        };
        !window.is_zero() && (self.answering.iter().any(same) || self.queue.iter().any(same))
    }
}

impl Lanes {
    /// Admits a message: `Start` when its channel was idle (the message is then the first
    /// piece of work), `Queued(position)` otherwise, or `Duplicate` when a copy from the same
    /// author within `duplicate_window` is being answered or waits.
    pub fn admit(
        &self,
        channel: Id<ChannelMarker>,
        pending: Pending,
        duplicate_window: Duration,
    ) -> Admission {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        match lanes.get_mut(&channel) {
            Some(lane) if lane.has_copy_of(&pending, duplicate_window) => Admission::Duplicate,
            Some(lane) => {
                lane.queue.push_back(pending);
                Admission::Queued(lane.queue.len())
            }
            None => {
                let mut lane = Lane::default();
                lane.queue.push_back(pending);
                lanes.insert(channel, lane);
                Admission::Start
            }
        }
    }

    /// The channel's next work, or `None` when its queue is empty, which also retires the
    /// lane (so the next message starts a new worker). `batch` allows combining the
    /// unaddressed messages at the head of the queue.
    pub fn next(&self, channel: Id<ChannelMarker>, batch: bool) -> Option<(Work, StopSignal)> {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let lane = lanes.get_mut(&channel)?;
        let Some(first) = lane.queue.pop_front() else {
            lanes.remove(&channel);
            return None;
        };
        let (stop, signal) = watch::channel(false);
        lane.running = Some(stop);
        let waited = first.arrived.elapsed();
        let first_waited = (waited >= NOTICE_AFTER).then_some(waited);
        if !batch || first.addressed {
            lane.answering = vec![first.clone()];
            return Some((
                Work::One {
                    pending: first,
                    waited: first_waited,
                },
                StopSignal(signal),
            ));
        }
        let mut pending = vec![first];
        while lane.queue.front().is_some_and(|p| !p.addressed) {
            pending.extend(lane.queue.pop_front());
        }
        lane.answering = pending.clone();
        let work = if pending.len() == 1 {
            Work::One {
                pending: pending.remove(0),
                waited: first_waited,
            }
        } else {
            Work::Batch { pending, waited }
        };
        Some((work, StopSignal(signal)))
    }

    /// Stops the channel's running turn and empties its queue.
    pub fn stop(&self, channel: Id<ChannelMarker>) -> Stopped {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let Some(lane) = lanes.get_mut(&channel) else {
            return Stopped::default();
        };
        let was_running = lane
            .running
            .take()
            .is_some_and(|stop| stop.send(true).is_ok());
        Stopped {
            was_running,
            cleared: lane.queue.drain(..).collect(),
        }
    }

    /// Where a message waits in its channel's queue (1 is next), if it still waits.
    pub fn position(
        &self,
        channel: Id<ChannelMarker>,
        message: Id<MessageMarker>,
    ) -> Option<usize> {
        let lanes = self.lanes.lock().expect("lanes lock");
        let lane = lanes.get(&channel)?;
        let index = lane.queue.iter().position(|p| p.message.id == message)?;
        Some(index + 1)
    }

    /// Channels with a turn running or messages waiting.
    pub fn busy(&self) -> usize {
        self.lanes.lock().expect("lanes lock").len()
    }
}

/// Resolves when a stop phrase asks the running turn to stop.
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Waits for the stop (forever if none comes).
    pub async fn stopped(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: u64, addressed: bool) -> Pending {
        let message: Message = serde_json::from_value(serde_json::json!({
            "id": id.to_string(), "channel_id": "5", "content": "hi",
            "author": {"id": "7", "username": "ann", "discriminator": "0"},
            "timestamp": "2026-01-01T00:00:00.000000+00:00", "tts": false,
            "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0
        }))
        .unwrap();
        Pending {
            message: Arc::new(message),
            addressed,
            arrived: Instant::now(),
        }
    }

    #[test]
    fn a_busy_channel_queues_and_batches_unaddressed_messages() {
        let lanes = Lanes::default();
        let channel = Id::new(5);
        assert_eq!(
            lanes.admit(channel, pending(1, false), Duration::ZERO),
            Admission::Start
        );
        let (first, _signal) = lanes.next(channel, true).unwrap();
        assert!(matches!(first, Work::One { .. }));
        assert_eq!(
            lanes.admit(channel, pending(2, false), Duration::ZERO),
            Admission::Queued(1)
        );
        assert_eq!(
            lanes.admit(channel, pending(3, false), Duration::ZERO),
            Admission::Queued(2)
        );
        assert_eq!(
            lanes.admit(channel, pending(4, true), Duration::ZERO),
            Admission::Queued(3)
        );
        assert_eq!(lanes.position(channel, Id::new(3)), Some(2));
        assert_eq!(
            lanes.position(channel, Id::new(1)),
            None,
            "running, not waiting"
        );
        let (batch, _) = lanes.next(channel, true).unwrap();
        assert!(matches!(&batch, Work::Batch { pending, .. } if pending.len() == 2));
        let (single, _) = lanes.next(channel, true).unwrap();
        assert!(matches!(&single, Work::One { pending, .. } if pending.addressed));
        assert!(lanes.next(channel, true).is_none());
        assert_eq!(lanes.busy(), 0);
        assert_eq!(
            lanes.admit(channel, pending(5, false), Duration::ZERO),
            Admission::Start
        );
    }

    #[test]
    fn a_copy_being_answered_or_waiting_is_a_duplicate_within_the_window() {
        let lanes = Lanes::default();
        let channel = Id::new(5);
        let window = Duration::from_secs(30);
        assert_eq!(
            lanes.admit(channel, pending(1, true), window),
            Admission::Start
        );
        let (_running, _signal) = lanes.next(channel, false).unwrap();
        assert_eq!(
            lanes.admit(channel, pending(2, true), window),
            Admission::Duplicate,
            "the same text while the first is answered"
        );
        let mut other = pending(3, true);
        Arc::make_mut(&mut other.message).content = "something else".to_owned();
        assert_eq!(lanes.admit(channel, other, window), Admission::Queued(1));
        let mut again = pending(4, true);
        Arc::make_mut(&mut again.message).content = "something else".to_owned();
        assert_eq!(
            lanes.admit(channel, again, window),
            Admission::Duplicate,
            "the same text while the first waits"
        );
        let mut late = pending(5, true);
        late.arrived += Duration::from_secs(31);
        assert_eq!(
            lanes.admit(channel, late, window),
            Admission::Queued(2),
            "outside the window it is a new message"
        );
        let mut someone_else = pending(6, true);
        Arc::make_mut(&mut someone_else.message).author.id = Id::new(8);
        assert_eq!(
            lanes.admit(channel, someone_else, window),
            Admission::Queued(3)
        );
    }

    #[tokio::test]
    async fn a_stop_signals_the_running_turn_and_clears_the_queue() {
        let lanes = Lanes::default();
        let channel = Id::new(5);
        lanes.admit(channel, pending(1, true), Duration::ZERO);
        let (_, mut signal) = lanes.next(channel, false).unwrap();
        lanes.admit(channel, pending(2, true), Duration::ZERO);
        let stopped = lanes.stop(channel);
        assert!(stopped.was_running);
        assert_eq!(stopped.cleared.len(), 1);
        tokio::time::timeout(Duration::from_secs(1), signal.stopped())
            .await
            .unwrap();
        assert!(lanes.next(channel, false).is_none());
    }
}
