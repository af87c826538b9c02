//! Gateway turns: a `message` frame becomes a turn in its conversation's lane (shared rules
//! with Discord: one turn at a time per conversation, queue positions, duplicates, stop
//! phrases, cancels that never strand the queue), answered as `response_start`,
//! `response_chunk`, `tool_start`/`tool_result` and `response_end` frames under the
//! client's request id.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clara_config::model::common::Tier;
use clara_core::engine::event_data::EventData;
use clara_core::engine::{ApprovalRequest, Conversation, Incoming, Outcome, SentFile, TurnEnd};
use clara_core::lanes::{Admission, Cancelled, Lanes, Pending, StopSignal, Work};
use clara_core::llm::Message;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::approvals::Waiting;
use super::nodes::Nodes;
use super::outbox::Outbox;
use super::protocol::{self, Attachment, ErrorCode, MessageFrame};
use crate::adapters::Observers;
use crate::live::Live;

/// A message as it waits in its lane.
#[derive(Clone)]
pub struct Request {
    /// The connection it came on.
    pub conn: u64,
    /// That connection's platform.
    pub platform: String,
    /// The frame.
    pub frame: MessageFrame,
    /// Frames back to its client.
    pub outbox: Outbox,
    /// The connection's count of messages in flight, given back when this one is done.
    pub in_flight: Arc<AtomicU32>,
    /// Whether its author may use admin-only tools.
    pub is_admin: bool,
}

/// Where one running turn's tool events go.
struct Route {
    conn: u64,
    outbox: Outbox,
    id: String,
    request_id: String,
    /// The engine's id for the turn, from its `message:received`: tool events of any other
    /// turn in the conversation (one that ended a moment ago, another adapter's) are not ours.
    turn: Option<String>,
    tools: u32,
    started: HashMap<u32, Instant>,
}

/// What every connection and turn of one gateway shares.
pub struct Shared {
    /// The running configuration.
    pub live: Arc<Live>,
    /// The event bus and `/health`.
    pub observers: Observers,
    /// Connected nodes.
    pub nodes: Arc<Nodes>,
    /// Per-conversation lanes, keyed `platform/conversation`.
    lanes: Lanes<String, Arc<Request>>,
    /// The turns under way, so stopping can wait for them.
    pub work: TaskTracker,
    routes: Mutex<HashMap<String, Route>>,
    /// `(connection, request id)` → the lane it waits or runs in.
    requests: Mutex<HashMap<(u64, String), String>>,
    started: Instant,
    /// Tool calls waiting for a node's approval.
    pub waiting: Waiting,
}

impl Shared {
    /// A gateway's shared state.
    pub fn new(live: Arc<Live>, observers: Observers, nodes: Arc<Nodes>) -> Shared {
        Shared {
            live,
            observers,
            nodes,
            lanes: Lanes::default(),
            work: TaskTracker::new(),
            routes: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            started: Instant::now(),
            waiting: Waiting::default(),
        }
    }

    /// The connection, outbox and client request id of the running turn an approval is for.
    pub fn route_of(&self, request: &ApprovalRequest) -> Option<(u64, Outbox, String)> {
        let key = lane_key(&request.platform, &request.conversation.id);
        let routes = self.routes.lock().expect("no panics while held");
        let route = routes.get(&key)?;
        Some((route.conn, route.outbox.clone(), route.request_id.clone()))
    }

    /// The gateway's `status` frame.
    pub fn status(&self) -> Value {
        let running = self.routes.lock().expect("no panics while held").len();
        let waiting = self
            .requests
            .lock()
            .expect("no panics while held")
            .len()
            .saturating_sub(running);
        json!({
            "type": "status",
            "active_requests": running,
            "queue_length": waiting,
            "uptime_seconds": self.started.elapsed().as_secs(),
            "nodes": self.nodes.all().len(),
        })
    }
}

/// The conversation a frame belongs to, as sessions and lanes know it.
fn conversation(frame: &MessageFrame) -> Conversation {
    if frame.channel.kind == "dm" {
        Conversation {
            id: format!("dm-{}", frame.user.id),
            is_dm: true,
            channel_name: None,
            server_name: None,
        }
    } else {
        Conversation {
            id: format!("channel-{}", frame.channel.id),
            is_dm: false,
            channel_name: frame.channel.name.clone(),
            server_name: frame.channel.guild_name.clone(),
        }
    }
}

fn lane_key(platform: &str, conversation: &str) -> String {
    format!("{platform}/{conversation}")
}

/// Admits a message to its lane, starting the lane's worker when it was idle.
pub fn submit(shared: &Arc<Shared>, request: Request) {
    let generation = shared.live.current();
    let frame = &request.frame;
    let conversation = conversation(frame);
    let key = lane_key(&request.platform, &conversation.id);
    shared
        .nodes
        .saw(request.conn, &frame.user.id, &frame.channel.id);
    if generation.is_stop_phrase(&request.platform, &frame.content) {
        let stopped = shared.lanes.stop(&key);
        for cleared in &stopped.cleared {
            finish_request(shared, &cleared.message);
            cleared
                .message
                .outbox
                .send(cancelled(&cleared.message.frame.id, "stop_phrase"));
        }
        request.outbox.send(json!({
            "type": "cancelled",
            "request_id": frame.id,
            "reason": "stop_phrase",
            "stopped_running": stopped.was_running,
            "cleared": stopped.cleared.len(),
        }));
        return;
    }
    let window = generation.dedupe_window(&request.platform);
    let pending = Pending {
        author: frame.user.id.clone(),
        text: frame.content.clone(),
        message: Arc::new(request.clone()),
        addressed: true,
        arrived: Instant::now(),
    };
    // One lookup both refuses an id still in flight on this connection and claims it.
    match shared
        .requests
        .lock()
        .expect("no panics while held")
        .entry((request.conn, frame.id.clone()))
    {
        Entry::Occupied(_) => {
            request.outbox.send(protocol::error(
                Some(&frame.id),
                ErrorCode::InvalidMessage,
                "a message with this id is already waiting or being answered on this connection",
            ));
            return;
        }
        Entry::Vacant(slot) => {
            slot.insert(key.clone());
        }
    }
    request.in_flight.fetch_add(1, Ordering::Relaxed);
    match shared.lanes.admit(key.clone(), pending, window) {
        Admission::Start => work_lane(shared.clone(), key),
        Admission::Queued(position) => {
            request.outbox.send(json!({
                "type": "status",
                "request_id": frame.id,
                "active_requests": 1,
                "queue_length": position,
            }));
        }
        Admission::Duplicate => {
            finish_request(shared, &request);
            request.outbox.send(protocol::error(
                Some(&frame.id),
                ErrorCode::Duplicate,
                "the same message from this user is already being answered",
            ));
        }
    }
}

/// Cancels a message of connection `conn`: `cancelled` at once when it was waiting, from its
/// turn when it was running, `not_found` when it is neither.
pub fn cancel(shared: &Shared, conn: u64, request_id: &str, outbox: &Outbox) {
    let key = shared
        .requests
        .lock()
        .expect("no panics while held")
        .get(&(conn, request_id.to_owned()))
        .cloned();
    let found = key.and_then(|key| {
        shared
            .lanes
            .cancel(&key, |r| r.conn == conn && r.frame.id == request_id)
    });
    match found {
        Some(Cancelled::Waiting(pending)) => {
            finish_request(shared, &pending.message);
            outbox.send(cancelled(request_id, "cancelled"));
        }
        // Its turn sends `cancelled` as it stops.
        Some(Cancelled::Running) => {}
        None => {
            outbox.send(protocol::error(
                Some(request_id),
                ErrorCode::NotFound,
                "no message with that id is waiting or being answered",
            ));
        }
    }
}

fn cancelled(request_id: &str, reason: &str) -> Value {
    json!({ "type": "cancelled", "request_id": request_id, "reason": reason })
}

/// Forgets a finished (answered, cancelled, refused) request.
fn finish_request(shared: &Shared, request: &Request) {
    request.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared
        .requests
        .lock()
        .expect("no panics while held")
        .remove(&(request.conn, request.frame.id.clone()));
}

/// Answers a lane's messages one turn at a time until it is empty.
fn work_lane(shared: Arc<Shared>, key: String) {
    let tracker = shared.work.clone();
    tracker.spawn(async move {
        while let Some((work, mut signal)) = shared.lanes.next(&key, false) {
            let requests = match work {
                Work::One { pending, .. } => vec![pending],
                Work::Batch { pending, .. } => pending,
            };
            for pending in requests {
                run(&shared, &key, &pending.message, &mut signal).await;
                finish_request(&shared, &pending.message);
            }
        }
    });
}

/// One turn, its frames to the client that sent it. A client that vanished mid-turn misses
/// the frames; the turn still runs to its end and its reply is stored.
async fn run(shared: &Shared, key: &str, request: &Request, signal: &mut StopSignal) {
    let frame = &request.frame;
    let generation = shared.live.current();
    let id = format!("resp-{:08x}", rand::random::<u32>());
    let tier: Option<Tier> = frame
        .tier_override
        .as_deref()
        .and_then(|t| serde_json::from_value(json!(t)).ok());
    request.outbox.send(json!({
        "type": "response_start",
        "id": id,
        "request_id": frame.id,
        "model_tier": tier,
    }));
    shared.routes.lock().expect("no panics while held").insert(
        key.to_owned(),
        Route {
            conn: request.conn,
            outbox: request.outbox.clone(),
            id: id.clone(),
            request_id: frame.id.clone(),
            turn: None,
            tools: 0,
            started: HashMap::new(),
        },
    );
    let incoming = incoming(request, tier);
    let accumulated = Mutex::new(String::new());
    let stream = |delta: &str| {
        let mut text = accumulated.lock().expect("no panics while held");
        text.push_str(delta);
        request.outbox.send(json!({
            "type": "response_chunk",
            "id": id,
            "request_id": frame.id,
            "chunk": delta,
            "accumulated": *text,
        }));
    };
    let outcome = tokio::select! {
        outcome = generation.handle_message(incoming, &stream) => Some(outcome),
        () = signal.stopped() => None,
    };
    let tool_count = shared
        .routes
        .lock()
        .expect("no panics while held")
        .remove(key)
        .map_or(0, |route| route.tools);
    let end = |text: &str, files: &[SentFile]| {
        json!({
            "type": "response_end",
            "id": id,
            "request_id": frame.id,
            "full_text": text,
            "files": files.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
            "file_data": file_data(files),
            "tool_count": tool_count,
            "tokens_used": null,
        })
    };
    let out = match outcome {
        None => cancelled(&frame.id, "cancelled"),
        Some(Ok(Outcome::Replied { reply, files, .. })) => end(&reply, &files),
        Some(Ok(Outcome::Failed { reply, .. })) => end(&reply, &[]),
        Some(Ok(Outcome::Ended(TurnEnd::Duplicate))) => protocol::error(
            Some(&frame.id),
            ErrorCode::Duplicate,
            "the same message was answered moments ago",
        ),
        Some(Ok(Outcome::Ended(_))) => end("", &[]),
        Some(Err(error)) => {
            // The details (store, configuration) are for the operator's log, not the client.
            tracing::error!(%error, "a gateway message could not be answered");
            protocol::error(
                Some(&frame.id),
                ErrorCode::ProcessingError,
                "the message could not be answered; the log of the clara it was sent to says why",
            )
        }
    };
    request.outbox.send(out);
}

/// The most file bytes one `response_end` carries: with base64 and the rest of the frame it
/// stays under the 16 MiB a WebSocket client takes in one frame by default.
const MAX_FILE_DATA_BYTES: usize = 10 * 1024 * 1024;

/// The files sent with a reply as `file_data` entries, as many as fit in one frame; the rest
/// are named in `files` only (and the operator's log says so).
fn file_data(files: &[SentFile]) -> Vec<Value> {
    let mut room = MAX_FILE_DATA_BYTES;
    let mut data = Vec::with_capacity(files.len());
    for file in files {
        if file.bytes.len() > room {
            tracing::warn!(file = %file.name, bytes = file.bytes.len(), "a file is too large for the gateway frame; sent by name only");
            continue;
        }
        room -= file.bytes.len();
        data.push(json!({
            "filename": file.name,
            "content_base64": STANDARD.encode(&file.bytes),
            "media_type": file.media_type,
        }));
    }
    data
}

/// The engine's view of a `message` frame.
fn incoming(request: &Request, tier: Option<Tier>) -> Incoming {
    let frame = &request.frame;
    let mut text = frame.content.clone();
    let mut images = Vec::new();
    let mut text_files = 0;
    for attachment in &frame.attachments {
        match attached(attachment) {
            Attached::Image(media_type, data) => images.push((media_type, data)),
            Attached::Text(content) => {
                text_files += 1;
                let name = &attachment.filename;
                text.push_str(&format!(
                    "\n\n--- Attached file: {name} ---\n{content}\n--- End of {name} ---"
                ));
            }
            Attached::Unread(why) => {
                text.push_str(&format!(
                    "\n\n[Attachment: {} ({why})]",
                    attachment.filename
                ));
            }
        }
    }
    let reply_chain = frame
        .reply_chain
        .iter()
        .map(|m| match m.role.as_str() {
            "assistant" => Message::assistant(m.content.clone()),
            _ => Message::user(m.content.clone()),
        })
        .collect();
    let user = &frame.user;
    Incoming {
        platform: request.platform.clone(),
        user_id: user.id.clone(),
        user_name: user
            .display_name
            .clone()
            .or_else(|| user.name.clone())
            .unwrap_or_else(|| user.id.clone()),
        from_bot: false,
        is_admin: request.is_admin,
        conversation: conversation(frame),
        text,
        images,
        reply_chain,
        authors_named: false,
        text_files,
        tier_override: tier,
    }
}

enum Attached {
    Image(String, String),
    Text(String),
    Unread(&'static str),
}

fn attached(attachment: &Attachment) -> Attached {
    match (
        attachment.kind.as_str(),
        &attachment.base64_data,
        &attachment.content,
    ) {
        ("image", Some(data), _) => {
            let media_type = attachment
                .media_type
                .clone()
                .unwrap_or_else(|| image_type(&attachment.filename).to_owned());
            Attached::Image(media_type, data.clone())
        }
        (_, _, Some(content)) => Attached::Text(content.clone()),
        (_, Some(data), None) => match STANDARD.decode(data) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(content) => Attached::Text(content),
                Err(_) => Attached::Unread("not text"),
            },
            Err(_) => Attached::Unread("not valid base64"),
        },
        _ => Attached::Unread("no content"),
    }
}

fn image_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    match lower.rsplit('.').next() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "image/png",
    }
}

/// Turns `tool:*` events of gateway turns into `tool_start` and `tool_result` frames, until
/// `stop`.
pub async fn route_tool_events(shared: Arc<Shared>, stop: CancellationToken) {
    let mut events = shared.observers.bus.subscribe();
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            next = events.recv() => match next {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "gateway tool frames skipped");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        let (Some(platform), Some(channel)) = (&event.platform, &event.channel_id) else {
            continue;
        };
        let mut routes = shared.routes.lock().expect("no panics while held");
        let Some(route) = routes.get_mut(&lane_key(platform, channel)) else {
            continue;
        };
        if let EventData::MessageReceived(_) = &event.data {
            if route.turn.is_none() {
                route.turn.clone_from(&event.request_id);
            }
            continue;
        }
        if route.turn.is_none() || route.turn != event.request_id {
            continue;
        }
        let frame = match &event.data {
            EventData::ToolStart(start) => {
                route.tools += 1;
                route.started.insert(start.step, Instant::now());
                json!({
                    "type": "tool_start",
                    "id": route.id,
                    "request_id": route.request_id,
                    "tool_name": start.tool,
                    "step": start.step,
                    "description": start.label,
                    "emoji": start.emoji.as_deref().unwrap_or("🔧"),
                })
            }
            EventData::ToolEnd(end) => tool_result(route, &end.tool, end.step, true, None),
            EventData::ToolError(failed) => {
                tool_result(route, &failed.tool, failed.step, false, Some(&failed.error))
            }
            _ => continue,
        };
        route.outbox.send(frame);
    }
}

fn tool_result(
    route: &mut Route,
    tool: &str,
    step: u32,
    success: bool,
    preview: Option<&str>,
) -> Value {
    let duration_ms = route
        .started
        .remove(&step)
        .map(|at| at.elapsed().as_millis() as u64);
    json!({
        "type": "tool_result",
        "id": route.id,
        "request_id": route.request_id,
        "tool_name": tool,
        "success": success,
        "output_preview": preview,
        "duration_ms": duration_ms,
    })
}
