//! The events the engine fires at their real moments, and the sink they go to (hooks subscribe
//! through it).

use clara_config::model::common::EventName;

use super::event_data::EventData;

/// One event with its context.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The platform (`discord`, `chat`).
    pub platform: Option<String>,
    /// The user it concerns.
    pub user_id: Option<String>,
    /// The conversation it concerns.
    pub channel_id: Option<String>,
    /// The message (turn) it belongs to, e.g. `msg-1a2b3c4d`; the same for every event of one
    /// turn.
    pub request_id: Option<String>,
    /// Fired by a pipeline that a hook, a task or the job worker ran rather than by a user's
    /// message. Pipeline hooks do not run for such events, so a hook's pipeline cannot set
    /// itself off again.
    pub automated: bool,
    /// What the event carries; its variant says which event it is.
    pub data: EventData,
}

impl Event {
    /// Which event it is.
    pub fn name(&self) -> EventName {
        self.data.name()
    }

    /// An event with no user, conversation or request: the runtime's own (start-up, reloads,
    /// scheduled tasks).
    pub fn global(data: EventData) -> Event {
        Event {
            platform: None,
            user_id: None,
            channel_id: None,
            request_id: None,
            automated: false,
            data,
        }
    }
}

/// Receives events.
pub trait EventSink: Send + Sync {
    /// Called for each event, in order; must not block.
    fn emit(&self, event: Event);
}

/// Watches events on their way to a sink without taking them (metrics, counters).
pub trait EventObserver: Send + Sync {
    /// Called for each event, in order; must not block.
    fn observe(&self, event: &Event);
}

/// Logs events and nothing else.
pub struct LogEvents;

impl EventSink for LogEvents {
    fn emit(&self, event: Event) {
        self.observe(&event);
    }
}

impl EventObserver for LogEvents {
    fn observe(&self, event: &Event) {
        tracing::debug!(event = event.name().as_str(), request = ?event.request_id, user = ?event.user_id, channel = ?event.channel_id, data = %event.data.to_json(), "event");
    }
}

/// Keeps every event, for tests and status pages.
#[derive(Default)]
pub struct RecordedEvents(std::sync::Mutex<Vec<Event>>);

impl RecordedEvents {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().expect("events lock").clone()
    }
}

impl EventSink for RecordedEvents {
    fn emit(&self, event: Event) {
        self.0.lock().expect("events lock").push(event);
    }
}
