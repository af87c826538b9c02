//! One turn at a time per conversation, for every adapter: messages that arrive while a
//! conversation is busy wait in its lane, copies of a message still waiting or being answered
//! are dropped, a stop phrase stops the running turn and clears the lane, and in active
//! channels the unaddressed messages are answered together. Conversations do not wait for
//! each other.

mod stop_signal;

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use stop_signal::StopSignal;
use stop_signal::{StopHandle, stop_pair};

/// How long a message waits before its author is told it is queued: a message that arrives
/// while the previous turn is only finishing up (storing the reply) starts without a notice,
/// so notices mean a real wait and cost no requests otherwise.
pub const NOTICE_AFTER: Duration = Duration::from_millis(1500);

/// A message waiting for its turn, as its adapter received it.
#[derive(Clone, Debug)]
pub struct Pending<M> {
    /// The adapter's message.
    pub message: M,
    /// Its author, as the adapter names them.
    pub author: String,
    /// Its text, as received.
    pub text: String,
    /// A DM, mention or reply to clara; unaddressed messages (active channels) may batch.
    pub addressed: bool,
    /// When it arrived.
    pub arrived: Instant,
}

/// What a channel's worker answers next.
#[derive(Debug)]
pub enum Work<M> {
    /// One message; `waited` when it sat in the queue first.
    One {
        /// The message.
        pending: Pending<M>,
        /// How long it waited behind another turn.
        waited: Option<Duration>,
    },
    /// Several unaddressed messages of an active channel, answered in one turn.
    Batch {
        /// The messages, oldest first.
        pending: Vec<Pending<M>>,
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
#[derive(Debug)]
pub struct Stopped<M> {
    /// A turn was running and has been told to stop.
    pub was_running: bool,
    /// Messages removed from the queue.
    pub cleared: Vec<Pending<M>>,
}

/// What a cancel found.
#[derive(Debug)]
pub enum Cancelled<M> {
    /// The message was waiting; it is out of the queue and never answered.
    Waiting(Pending<M>),
    /// Its turn was running and has been told to stop.
    Running,
}

impl<M> Default for Stopped<M> {
    fn default() -> Self {
        Stopped {
            was_running: false,
            cleared: Vec::new(),
        }
    }
}

/// The lanes of every busy conversation, keyed by the adapter's channel `C`, holding its
/// messages `M`.
pub struct Lanes<C, M> {
    lanes: Mutex<HashMap<C, Lane<M>>>,
}

impl<C, M> Default for Lanes<C, M> {
    fn default() -> Self {
        Lanes {
            lanes: Mutex::new(HashMap::new()),
        }
    }
}

struct Lane<M> {
    /// Tells the running turn to stop, if one runs.
    running: Option<StopHandle>,
    /// The messages the running turn answers.
    answering: Vec<Pending<M>>,
    queue: VecDeque<Pending<M>>,
}

impl<M> Lane<M> {
    fn new() -> Self {
        Lane {
            running: None,
            answering: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    /// Whether a message answered now or waiting is `pending` again: same author, same text,
    /// arrived at most `window` before it.
    fn has_copy_of(&self, pending: &Pending<M>, window: Duration) -> bool {
        let same = |other: &Pending<M>| {
            other.author == pending.author
                && other.text == pending.text
                && pending.arrived.saturating_duration_since(other.arrived) <= window
        };
        !window.is_zero() && (self.answering.iter().any(same) || self.queue.iter().any(same))
    }
}

impl<C: Hash + Eq + Clone, M: Clone> Lanes<C, M> {
    /// Admits a message: `Start` when its channel was idle (the message is then the first
    /// piece of work), `Queued(position)` otherwise, or `Duplicate` when a copy from the same
    /// author within `duplicate_window` is being answered or waits.
    pub fn admit(&self, channel: C, pending: Pending<M>, duplicate_window: Duration) -> Admission {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        match lanes.get_mut(&channel) {
            Some(lane) if lane.has_copy_of(&pending, duplicate_window) => Admission::Duplicate,
            Some(lane) => {
                lane.queue.push_back(pending);
                Admission::Queued(lane.queue.len())
            }
            None => {
                let mut lane = Lane::new();
                lane.queue.push_back(pending);
                lanes.insert(channel, lane);
                Admission::Start
            }
        }
    }

    /// The channel's next work, or `None` when its queue is empty, which also retires the
    /// lane (so the next message starts a new worker). `batch` allows combining the
    /// unaddressed messages at the head of the queue.
    pub fn next(&self, channel: &C, batch: bool) -> Option<(Work<M>, StopSignal)> {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let lane = lanes.get_mut(channel)?;
        let Some(first) = lane.queue.pop_front() else {
            lanes.remove(channel);
            return None;
        };
        let (stop, signal) = stop_pair();
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
                signal,
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
        Some((work, signal))
    }

    /// Stops the channel's running turn and empties its queue.
    pub fn stop(&self, channel: &C) -> Stopped<M> {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let Some(lane) = lanes.get_mut(channel) else {
            return Stopped::default();
        };
        let was_running = lane.running.take().is_some_and(StopHandle::stop);
        Stopped {
            was_running,
            cleared: lane.queue.drain(..).collect(),
        }
    }

    /// Cancels the one message `is` picks: a waiting one leaves the queue, a running turn is
    /// told to stop. Either way the rest of the queue goes on, so a cancel never strands the
    /// messages behind it.
    pub fn cancel(&self, channel: &C, is: impl Fn(&M) -> bool) -> Option<Cancelled<M>> {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let lane = lanes.get_mut(channel)?;
        if let Some(index) = lane.queue.iter().position(|p| is(&p.message)) {
            return lane.queue.remove(index).map(Cancelled::Waiting);
        }
        if lane.answering.iter().any(|p| is(&p.message)) {
            let stopped = lane.running.take().is_some_and(StopHandle::stop);
            return stopped.then_some(Cancelled::Running);
        }
        None
    }

    /// Where the message `is` picks waits in its channel's queue (1 is next), if it still
    /// waits.
    pub fn position(&self, channel: &C, is: impl Fn(&M) -> bool) -> Option<usize> {
        let lanes = self.lanes.lock().expect("lanes lock");
        let lane = lanes.get(channel)?;
        let index = lane.queue.iter().position(|p| is(&p.message))?;
        Some(index + 1)
    }

    /// Channels with a turn running or messages waiting.
    pub fn busy(&self) -> usize {
        self.lanes.lock().expect("lanes lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(author: &str, text: &str, addressed: bool) -> Pending<u64> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Pending {
            message: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            author: author.to_owned(),
            text: text.to_owned(),
            addressed,
            arrived: Instant::now(),
        }
    }

    #[test]
    fn a_busy_channel_queues_and_batches_unaddressed_messages() {
        let lanes: Lanes<u8, u64> = Lanes::default();
        let first = pending("ann", "one", false);
        assert_eq!(lanes.admit(5, first, Duration::ZERO), Admission::Start);
        let (work, _signal) = lanes.next(&5, true).unwrap();
        assert!(matches!(work, Work::One { .. }));
        assert_eq!(
            lanes.admit(5, pending("ann", "two", false), Duration::ZERO),
            Admission::Queued(1)
        );
        let third = pending("bob", "three", false);
        let third_id = third.message;
        assert_eq!(lanes.admit(5, third, Duration::ZERO), Admission::Queued(2));
        assert_eq!(
            lanes.admit(5, pending("ann", "four", true), Duration::ZERO),
            Admission::Queued(3)
        );
        assert_eq!(lanes.position(&5, |m| *m == third_id), Some(2));
        let (batch, _) = lanes.next(&5, true).unwrap();
        assert!(matches!(&batch, Work::Batch { pending, .. } if pending.len() == 2));
        let (single, _) = lanes.next(&5, true).unwrap();
        assert!(matches!(&single, Work::One { pending, .. } if pending.addressed));
        assert!(lanes.next(&5, true).is_none());
        assert_eq!(lanes.busy(), 0);
        assert_eq!(
            lanes.admit(5, pending("ann", "five", false), Duration::ZERO),
            Admission::Start
        );
    }

    #[test]
    fn a_copy_being_answered_or_waiting_is_a_duplicate_within_the_window() {
        let lanes: Lanes<u8, u64> = Lanes::default();
        let window = Duration::from_secs(30);
        assert_eq!(
            lanes.admit(5, pending("ann", "hi", true), window),
            Admission::Start
        );
        let (_running, _signal) = lanes.next(&5, false).unwrap();
        assert_eq!(
            lanes.admit(5, pending("ann", "hi", true), window),
            Admission::Duplicate,
            "the same text while the first is answered"
        );
        assert_eq!(
            lanes.admit(5, pending("ann", "else", true), window),
            Admission::Queued(1)
        );
        assert_eq!(
            lanes.admit(5, pending("ann", "else", true), window),
            Admission::Duplicate,
            "the same text while the first waits"
        );
        let mut late = pending("ann", "else", true);
        late.arrived += Duration::from_secs(31);
        assert_eq!(
            lanes.admit(5, late, window),
            Admission::Queued(2),
            "outside the window it is a new message"
        );
        assert_eq!(
            lanes.admit(5, pending("bob", "else", true), window),
            Admission::Queued(3)
        );
    }

    #[tokio::test]
    async fn a_stop_signals_the_running_turn_and_clears_the_queue() {
        let lanes: Lanes<u8, u64> = Lanes::default();
        lanes.admit(5, pending("ann", "one", true), Duration::ZERO);
        let (_, mut signal) = lanes.next(&5, false).unwrap();
        lanes.admit(5, pending("ann", "two", true), Duration::ZERO);
        let stopped = lanes.stop(&5);
        assert!(stopped.was_running);
        assert_eq!(stopped.cleared.len(), 1);
        tokio::time::timeout(Duration::from_secs(1), signal.stopped())
            .await
            .unwrap();
        assert!(lanes.next(&5, false).is_none());
    }

    #[tokio::test]
    async fn a_cancel_takes_one_message_and_leaves_the_queue_going() {
        let lanes: Lanes<u8, u64> = Lanes::default();
        let first = pending("ann", "one", true);
        let (first_id, second, third) = (
            first.message,
            pending("ann", "two", true),
            pending("ann", "three", true),
        );
        let (second_id, third_id) = (second.message, third.message);
        lanes.admit(5, first, Duration::ZERO);
        let (_, mut signal) = lanes.next(&5, false).unwrap();
        lanes.admit(5, second, Duration::ZERO);
        lanes.admit(5, third, Duration::ZERO);
        assert!(matches!(
            lanes.cancel(&5, |m| *m == second_id),
            Some(Cancelled::Waiting(p)) if p.message == second_id
        ));
        assert!(matches!(
            lanes.cancel(&5, |m| *m == first_id),
            Some(Cancelled::Running)
        ));
        tokio::time::timeout(Duration::from_secs(1), signal.stopped())
            .await
            .unwrap();
        assert!(lanes.cancel(&5, |m| *m == first_id).is_none(), "only once");
        assert!(lanes.cancel(&6, |m| *m == first_id).is_none());
        let (next, _) = lanes.next(&5, false).unwrap();
        assert!(matches!(next, Work::One { pending, .. } if pending.message == third_id));
    }

    #[test]
    fn a_stop_after_the_turn_ended_reports_nothing_running() {
        let lanes: Lanes<u8, u64> = Lanes::default();
        lanes.admit(5, pending("ann", "one", true), Duration::ZERO);
        let (_, signal) = lanes.next(&5, false).unwrap();
        drop(signal);
        assert!(!lanes.stop(&5).was_running);
    }
}
