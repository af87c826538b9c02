//! One WebSocket connection: the handshake (connection cap, frame size, bearer secret),
//! `register`, keepalive, and the frames a node sends. Writing goes through an [`Outbox`]
//! drained by its own task, so a client that stops reading is dropped instead of stalling
//! the turns that write to it (see [`Outbox`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clara_core::engine::Event;
use clara_core::engine::EventSink;
use clara_core::engine::event_data::{AdapterConnected, AdapterDisconnected, EventData, Node};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::approvals;
use super::approver::GatewayApprover;
use super::mcp_frames::{self, Change};
use super::outbox::Outbox;
use super::protocol::{self, ClientFrame, ErrorCode, Register};
use super::turn::{self, Shared};
use super::{ADAPTER, Settings};

/// The two steps of stopping a listener: no new connections, then closing the open ones
/// (in between, the turns under way can still send their replies).
#[derive(Clone, Default)]
pub struct Stops {
    /// Stops accepting.
    pub accepting: CancellationToken,
    /// Closes every connection.
    pub closing: CancellationToken,
}

/// Accepts connections until `stops.accepting`, then returns once the open ones are gone
/// (`stops.closing` closes them).
pub async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    stops: Stops,
) {
    let slots = Arc::new(Semaphore::new(settings.config.max_connections as usize));
    let open = tokio_util::task::TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = stops.accepting.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "gateway accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let slot = slots.clone().try_acquire_owned().ok();
        let (shared, settings, stop) = (shared.clone(), settings.clone(), stops.closing.clone());
        open.spawn(async move {
            let full = slot.is_none();
            if let Err(error) = serve(stream, &shared, &settings, full, stop).await {
                tracing::debug!(%peer, %error, "gateway connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    open.close();
    open.wait().await;
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// How long the frames queued when a connection ends may take to go out.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// The handshake's verdict on a client's `Authorization` header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bearer {
    Absent,
    Right,
    Wrong,
}

async fn serve(
    stream: TcpStream,
    shared: &Arc<Shared>,
    settings: &Settings,
    full: bool,
    stop: CancellationToken,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let limits = &settings.config;
    let mut bearer = Bearer::Absent;
    // The signature tungstenite asks of a handshake callback.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if full {
            let mut refused = ErrorResponse::new(Some("too many gateway connections".into()));
            *refused.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return Err(refused);
        }
        if let Some(value) = request.headers().get("authorization") {
            let presented = value.to_str().unwrap_or("").trim();
            let token = presented
                .strip_prefix("Bearer ")
                .unwrap_or(presented)
                .trim();
            bearer = match &settings.secret {
                Some(secret) if same(token, secret) => Bearer::Right,
                Some(_) => Bearer::Wrong,
                None => Bearer::Absent,
            };
        }
        Ok(response)
    };
    let max = usize::try_from(limits.max_message_bytes).unwrap_or(usize::MAX);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    // A client that opens a socket and says nothing must not hold its slot.
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config));
    let socket = tokio::select! {
        socket = tokio::time::timeout(Duration::from_secs(u64::from(limits.register_timeout_secs)), handshake) => match socket {
            Ok(socket) => socket?,
            Err(_) => return Ok(()),
        },
        () = stop.cancelled() => return Ok(()),
    };
    let (mut sink, mut source) = socket.split();
    let (frames, mut outgoing) = mpsc::channel::<Value>(limits.send_buffer as usize);
    let closing = stop.child_token();
    let outbox = Outbox::new(frames, closing.clone());
    let heard = Arc::new(AtomicU64::new(0));
    // The node's platform once it registers, for the frame counters.
    let platform: Arc<OnceLock<String>> = Arc::default();
    let started = Instant::now();
    let keepalive = Duration::from_secs(u64::from(limits.keepalive_secs));
    // The writer: frames in order, pings on the keepalive, and a close when the connection
    // ends for any reason.
    let writer = {
        let (closing, heard) = (closing.clone(), heard.clone());
        let (metrics, platform) = (shared.observers.metrics.clone(), platform.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(if keepalive.is_zero() {
                Duration::from_secs(3600)
            } else {
                keepalive
            });
            ticks.tick().await;
            loop {
                tokio::select! {
                    () = closing.cancelled() => break,
                    frame = outgoing.recv() => {
                        let Some(frame) = frame else { break };
                        metrics.gateway_frame(platform_of(&platform), false);
                        // A client that stopped reading blocks the send; the full outbox
                        // then cancels `closing`, which must end it.
                        let sent = tokio::select! {
                            biased;
                            sent = sink.send(Message::text(frame.to_string())) => sent.is_ok(),
                            () = closing.cancelled() => false,
                        };
                        if !sent {
                            break;
                        }
                    }
                    _ = ticks.tick(), if !keepalive.is_zero() => {
                        let silent = started
                            .elapsed()
                            .as_secs()
                            .saturating_sub(heard.load(Ordering::Relaxed));
                        if silent > 3 * keepalive.as_secs() {
                            tracing::debug!("a gateway client went silent; disconnecting it");
                            break;
                        }
                        let sent = tokio::select! {
                            biased;
                            sent = sink.send(Message::Ping(Vec::new().into())) => sent.is_ok(),
                            () = closing.cancelled() => false,
                        };
                        if !sent {
                            break;
                        }
                    }
                }
            }
            // Whatever was queued before the end still goes out (an error frame explaining
            // a close, most of all), for a moment: a client that stopped reading would
            // otherwise hold this task forever.
            let flush = async {
                while let Ok(frame) = outgoing.try_recv() {
                    if sink.send(Message::text(frame.to_string())).await.is_err() {
                        break;
                    }
                }
                let _ = sink.close().await;
            };
            let _ = tokio::time::timeout(LAST_WORDS, flush).await;
            closing.cancel();
        })
    };
    let conn = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let mut client = Client {
        conn,
        shared: shared.clone(),
        outbox: outbox.clone(),
        node: None,
        authorized: settings.secret.is_none() || bearer == Bearer::Right,
        secret: settings.secret.clone(),
        in_flight: Arc::new(AtomicU32::new(0)),
        max_in_flight: limits.max_pending_per_connection,
        admins: limits.admin_users.clone(),
    };
    if bearer == Bearer::Wrong {
        outbox.send(protocol::error(
            None,
            ErrorCode::Unauthorized,
            "the Authorization header does not carry the gateway's secret",
        ));
        closing.cancel();
    }
    let register_by =
        tokio::time::sleep(Duration::from_secs(u64::from(limits.register_timeout_secs)));
    tokio::pin!(register_by);
    loop {
        let next = tokio::select! {
            () = closing.cancelled() => break,
            () = &mut register_by, if client.node.is_none() => {
                outbox.send(protocol::error(None, ErrorCode::NotRegistered, "no register frame in time"));
                break;
            }
            next = source.next() => next,
        };
        heard.store(started.elapsed().as_secs(), Ordering::Relaxed);
        match next {
            Some(Ok(Message::Text(text))) => {
                shared
                    .observers
                    .metrics
                    .gateway_frame(platform_of(&platform), true);
                if !client.on_text(text.as_str()) {
                    break;
                }
                if let Some(registered) = &client.node {
                    let _ = platform.set(registered.clone());
                }
            }
            Some(Ok(Message::Binary(_))) => {
                outbox.send(protocol::error(
                    None,
                    ErrorCode::InvalidMessage,
                    "frames are JSON text; binary frames are not read",
                ));
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                // Oversized frames end here: tungstenite refuses them before reading them.
                outbox.send(protocol::error(
                    None,
                    ErrorCode::InvalidMessage,
                    &error.to_string(),
                ));
                break;
            }
        }
    }
    closing.cancel();
    let _ = writer.await;
    if let Some(node) = shared.nodes.unregister(conn) {
        shared.publish_nodes();
        shared.emit_node(
            EventData::AdapterDisconnected(AdapterDisconnected {
                adapter: ADAPTER.to_owned(),
                shard: None,
                detail: None,
                node: Some(node_of(&node)),
            }),
            &node.platform,
        );
    }
    Ok(())
}

/// The platform frames are counted under.
fn platform_of(cell: &OnceLock<String>) -> &str {
    cell.get().map_or("unregistered", String::as_str)
}

fn node_of(node: &super::nodes::Node) -> Node {
    Node {
        node_id: node.node_id.clone(),
        platform: node.platform.clone(),
        session_id: node.session_id.clone(),
    }
}

/// Compares secrets without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What the reader knows about its client.
struct Client {
    conn: u64,
    shared: Arc<Shared>,
    outbox: Outbox,
    /// Set by `register`: the node's platform.
    node: Option<String>,
    authorized: bool,
    secret: Option<String>,
    in_flight: Arc<AtomicU32>,
    max_in_flight: u32,
    admins: Vec<String>,
}

impl Client {
    /// Handles one text frame; `false` ends the connection.
    fn on_text(&mut self, text: &str) -> bool {
        let frame = match protocol::parse(text) {
            Ok(frame) => frame,
            Err((code, message)) => {
                self.outbox.send(protocol::error(None, code, &message));
                return true;
            }
        };
        match frame {
            ClientFrame::Register(register) => return self.register(register),
            ClientFrame::Ping { timestamp } => {
                self.outbox
                    .send(json!({ "type": "pong", "timestamp": timestamp }));
                return true;
            }
            _ => {}
        }
        let Some(platform) = self.node.clone() else {
            let request_id = request_id_of(&frame);
            self.outbox.send(protocol::error(
                request_id.as_deref(),
                ErrorCode::NotRegistered,
                "send a register frame first",
            ));
            return true;
        };
        match frame {
            ClientFrame::Register(_) | ClientFrame::Ping { .. } => {}
            ClientFrame::Message(message) => {
                if self.in_flight.load(Ordering::Relaxed) >= self.max_in_flight {
                    self.outbox.send(protocol::error(
                        Some(&message.id),
                        ErrorCode::RateLimited,
                        "too many messages in flight on this connection; wait for replies",
                    ));
                    return true;
                }
                let is_admin = self.admins.contains(&message.user.id);
                turn::submit(
                    &self.shared,
                    turn::Request {
                        conn: self.conn,
                        platform,
                        frame: *message,
                        outbox: self.outbox.clone(),
                        in_flight: self.in_flight.clone(),
                        is_admin,
                    },
                );
            }
            ClientFrame::Cancel { request_id, reason } => {
                tracing::debug!(request_id, ?reason, "gateway cancel");
                turn::cancel(&self.shared, self.conn, &request_id, &self.outbox);
            }
            ClientFrame::Status {} => {
                self.outbox.send(self.shared.status());
            }
            ClientFrame::McpList { request_id } => {
                self.outbox
                    .send(mcp_frames::list(&self.shared, &request_id));
            }
            ClientFrame::McpStatus {
                request_id,
                server_name,
            } => {
                self.outbox.send(mcp_frames::status(
                    &self.shared,
                    &request_id,
                    server_name.as_deref(),
                ));
            }
            ClientFrame::McpRestart {
                request_id,
                server_name,
                requested_by,
            } => self.change(request_id, Change::Restart(server_name), requested_by),
            ClientFrame::McpInstall {
                request_id,
                source,
                name,
                requested_by,
            } => self.change(request_id, Change::Install { source, name }, requested_by),
            ClientFrame::McpUninstall {
                request_id,
                server_name,
                requested_by,
            } => self.change(request_id, Change::Uninstall(server_name), requested_by),
            ClientFrame::McpEnable {
                request_id,
                server_name,
                enabled,
                requested_by,
            } => self.change(
                request_id,
                Change::Enable(server_name, enabled),
                requested_by,
            ),
            ClientFrame::ApprovalResponse {
                approval_id,
                action,
                user,
            } => {
                let is_admin = self.admins.contains(&user.id);
                approvals::answer(
                    &self.shared.waiting,
                    self.conn,
                    &self.outbox,
                    &approval_id,
                    action == "approve",
                    &user.id,
                    is_admin,
                );
            }
        }
        true
    }

    /// Answers an MCP request this gateway does not serve (`kind` is the frame's type).
    /// Makes a change to the MCP servers for `requested_by` beside the connection's other
    /// frames (an install takes a while), answering when it is done.
    fn change(&self, request_id: String, change: Change, requested_by: Option<String>) {
        let admin = requested_by.filter(|user| self.admins.contains(user));
        let (shared, outbox) = (self.shared.clone(), self.outbox.clone());
        self.shared.work.spawn(async move {
            outbox.send(mcp_frames::change(&shared, &request_id, change, admin).await);
        });
    }

    fn register(&mut self, register: Register) -> bool {
        if !self.authorized {
            let right = match (&self.secret, &register.secret) {
                (Some(secret), Some(presented)) => same(presented, secret),
                _ => false,
            };
            if !right {
                self.outbox.send(protocol::error(
                    None,
                    ErrorCode::Unauthorized,
                    "this gateway needs its secret in the register frame or an Authorization header",
                ));
                return false;
            }
            self.authorized = true;
        }
        if self.node.is_some() {
            self.outbox.send(protocol::error(
                None,
                ErrorCode::InvalidMessage,
                "this connection is registered already",
            ));
            return true;
        }
        let (session_id, reconnected) = self.shared.nodes.register(
            self.conn,
            register.node_id.clone(),
            register.platform.clone(),
            register.session_id.as_deref(),
            self.outbox.clone(),
        );
        // A platform an adapter of this process serves keeps its own approver.
        self.shared.live.approvers().register_if_absent(
            &register.platform,
            Arc::new(GatewayApprover(self.shared.clone())),
        );
        // Listed before the client hears back, so whatever it does next sees it registered.
        self.shared.publish_nodes();
        self.outbox.send(json!({
            "type": "registered",
            "node_id": register.node_id,
            "session_id": session_id,
            "server_time": protocol::now(),
            "reconnected": reconnected,
        }));
        self.shared.emit_node(
            EventData::AdapterConnected(AdapterConnected {
                adapter: ADAPTER.to_owned(),
                shard: None,
                detail: None,
                node: Some(Node {
                    node_id: register.node_id,
                    platform: register.platform.clone(),
                    session_id,
                }),
            }),
            &register.platform,
        );
        self.node = Some(register.platform);
        true
    }
}

/// The `request_id` (or a message's `id`) of a frame, for error frames about it.
fn request_id_of(frame: &ClientFrame) -> Option<String> {
    match frame {
        ClientFrame::Message(message) => Some(message.id.clone()),
        ClientFrame::Cancel { request_id, .. }
        | ClientFrame::McpList { request_id }
        | ClientFrame::McpStatus { request_id, .. }
        | ClientFrame::McpRestart { request_id, .. }
        | ClientFrame::McpInstall { request_id, .. }
        | ClientFrame::McpUninstall { request_id, .. }
        | ClientFrame::McpEnable { request_id, .. } => Some(request_id.clone()),
        ClientFrame::Register(_)
        | ClientFrame::Ping { .. }
        | ClientFrame::Status {}
        | ClientFrame::ApprovalResponse { .. } => None,
    }
}

/// Events about a node carry its platform.
pub(super) fn node_event(data: EventData, platform: &str) -> Event {
    Event {
        platform: Some(platform.to_owned()),
        ..Event::global(data)
    }
}

impl Shared {
    /// Lists the connected nodes in `/health`.
    pub(super) fn publish_nodes(&self) {
        let nodes: Vec<Value> = self
            .nodes
            .all()
            .into_iter()
            .map(|n| json!({ "node_id": n.node_id, "platform": n.platform, "session_id": n.session_id }))
            .collect();
        self.observers
            .health
            .set_detail(ADAPTER, "nodes", Value::Array(nodes));
    }

    /// Fires an event about a node.
    fn emit_node(&self, data: EventData, platform: &str) {
        self.observers.bus.emit(node_event(data, platform));
    }
}
