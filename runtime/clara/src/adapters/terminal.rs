//! The terminal as an adapter: `clara chat`'s platform name, its connect and disconnect
//! events, the tool status lines it prints, and the outlet that prints what hooks and tasks
//! deliver to it.

use std::io::Write;
use std::sync::Arc;

use clara_config::model::hook::Delivery;
use clara_core::engine::event_data::{AdapterConnected, AdapterDisconnected, EventData};
use clara_core::engine::{Conversation, Event, EventSink};
use clara_core::llm::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::tool_status_line;
use crate::hooks::HookBus;
use crate::live::{Live, Outlet};

/// The terminal's platform name in events, outlets and sessions.
pub const ADAPTER: &str = "chat";

/// Fires `adapter:connected` for `user` in `conversation`.
pub fn connected(events: &dyn EventSink, user: &str, conversation: &Conversation) {
    let data = EventData::AdapterConnected(AdapterConnected {
        adapter: ADAPTER.to_owned(),
        shard: None,
        detail: None,
        node: None,
    });
    events.emit(event(data, user, conversation));
}

/// Fires `adapter:disconnected` for `user` in `conversation`.
pub fn disconnected(events: &dyn EventSink, user: &str, conversation: &Conversation) {
    let data = EventData::AdapterDisconnected(AdapterDisconnected {
        adapter: ADAPTER.to_owned(),
        shard: None,
        detail: None,
        node: None,
    });
    events.emit(event(data, user, conversation));
}

fn event(data: EventData, user: &str, conversation: &Conversation) -> Event {
    Event {
        platform: Some(ADAPTER.to_owned()),
        user_id: Some(user.to_owned()),
        channel_id: Some(conversation.id.clone()),
        ..Event::global(data)
    }
}

/// Prints a status line to stderr when a tool of `conversation`'s turn starts (with
/// `adapters.chat.tool_status`, read for each event so an edit applies at once), until `stop`.
pub async fn show_tool_status(
    bus: Arc<HookBus>,
    live: Arc<Live>,
    conversation: String,
    stop: CancellationToken,
) {
    let mut events = bus.subscribe();
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            next = events.recv() => match next {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        let EventData::ToolStart(start) = &event.data else {
            continue;
        };
        let ours = event.platform.as_deref() == Some(ADAPTER)
            && event.channel_id.as_deref() == Some(conversation.as_str());
        let generation = live.current();
        let chat = &generation.config.clara.value.adapters.chat;
        if !ours || !chat.tool_status || chat.tool_status_line.is_empty() {
            continue;
        }
        eprintln!("{}", tool_status_line(&chat.tool_status_line, start));
    }
}

/// The terminal as a place pipelines run by hooks post to (`deliver = { adapter = "chat" }`).
pub struct Terminal;

impl Outlet for Terminal {
    fn post<'a>(
        &'a self,
        _to: &'a Delivery,
        text: &'a str,
        _mention: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")
                .and_then(|()| out.flush())
                .map_err(|e| e.to_string())
        })
    }
}
