//! The fake gateway: HELLO, IDENTIFY → READY + GUILD_CREATEs, heartbeat ACKs, RESUME with
//! replay, and message delivery shaped by intents.
//!
//! Each IDENTIFY opens a session with its own sequence counter and a log of every dispatch.
//! Dispatches go to a session, not a connection: while a session is between connections they
//! are only logged, and a RESUME replays everything after the client's seq, as Discord does.
//! All frames for a connection go through one channel, written in seq order by its task.

use super::payloads::ready_json;
use super::{State, id_of};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Discord's default heartbeat interval.
const DEFAULT_HEARTBEAT_MS: u64 = 41_250;
const GUILD_MESSAGES: u64 = 1 << 9;
const DIRECT_MESSAGES: u64 = 1 << 12;
const MESSAGE_CONTENT: u64 = 1 << 15;

/// One IDENTIFY as received.
#[derive(Debug, Clone)]
pub struct Identify {
    /// As sent, `Bot ` prefix included.
    pub token: String,
    pub intents: u64,
    /// `[shard id, shard count]`.
    pub shard: [u64; 2],
    /// Index into [`FakeDiscord::connections`].
    pub connection: usize,
    /// The whole `d`.
    pub d: Value,
}

/// One RESUME as received.
#[derive(Debug, Clone)]
pub struct Resume {
    pub token: String,
    pub session_id: String,
    pub seq: u64,
    pub connection: usize,
    /// False when the session was unknown or invalidated (the fake then sent op 9).
    pub accepted: bool,
}

/// What happened on one gateway connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub open: bool,
    /// `[id, count]` once it identified or resumed.
    pub shard: Option<[u64; 2]>,
    pub identified: bool,
    pub resumed: bool,
    pub session_id: Option<String>,
    /// The close code the client sent (twilight sends 4000 before resuming, 1000 to end).
    pub client_close_code: Option<u16>,
    /// The close code the fake sent (`FakeDiscord::close`).
    pub server_close_code: Option<u16>,
}

pub(super) enum Out {
    Frame(String),
    Close(u16),
}

pub(super) struct Conn {
    pub(super) tx: UnboundedSender<Out>,
    pub(super) info: ConnectionInfo,
    pub(super) session: Option<usize>,
}

pub(super) struct Session {
    pub(super) id: String,
    pub(super) shard: [u64; 2],
    pub(super) seq: u64,
    pub(super) intents: u64,
    /// Every dispatch sent in this session, as `(seq, frame)`, for replay on RESUME.
    pub(super) log: Vec<(u64, String)>,
    pub(super) conn: Option<usize>,
    pub(super) valid: bool,
}

#[derive(Default)]
pub(super) struct GatewayState {
    pub(super) heartbeat_interval: Option<u64>,
    pub(super) connections: Vec<Conn>,
    pub(super) sessions: Vec<Session>,
    pub(super) identifies: Vec<Identify>,
    pub(super) resumes: Vec<Resume>,
    pub(super) heartbeats: usize,
    pub(super) received: Vec<Value>,
    /// How many coming dispatches to log without sending (see `lose_next_dispatches`).
    pub(super) lose: usize,
    /// The bot's own REST messages are not echoed back as dispatches.
    pub(super) no_echo: bool,
}

/// Discord's rule for which shard receives a guild's events; DMs go to shard 0.
fn shard_of(guild: Option<u64>, count: u64) -> u64 {
    guild.map_or(0, |g| (g >> 22) % count.max(1))
}

pub(super) fn frame(op: u8, d: Value) -> String {
    json!({"op": op, "d": d, "s": null, "t": null}).to_string()
}

impl State {
    /// The newest live session of the shard that owns `guild`.
    pub(super) fn session_for_guild(&self, guild: Option<u64>) -> Option<usize> {
        let sessions = &self.gateway.sessions;
        (0..sessions.len()).rev().find(|&i| {
            sessions[i].valid && sessions[i].shard[0] == shard_of(guild, sessions[i].shard[1])
        })
    }

    pub(super) fn session_for_shard(&self, shard: u64) -> Option<usize> {
        let sessions = &self.gateway.sessions;
        (0..sessions.len())
            .rev()
            .find(|&i| sessions[i].valid && sessions[i].shard[0] == shard)
    }

    /// Sends (or, between connections, only logs) a dispatch in `session`; returns its seq.
    pub(super) fn dispatch_in(&mut self, session: usize, event: &str, d: Value) -> u64 {
        let session = &mut self.gateway.sessions[session];
        session.seq += 1;
        let text = json!({"op": 0, "t": event, "s": session.seq, "d": d}).to_string();
        session.log.push((session.seq, text.clone()));
        match session.conn {
            Some(_) if self.gateway.lose > 0 => self.gateway.lose -= 1,
            Some(conn) => _ = self.gateway.connections[conn].tx.send(Out::Frame(text)),
            None => {}
        }
        session.seq
    }

    /// Dispatches a message event (`MESSAGE_CREATE`, `_UPDATE`, `_DELETE`) as Discord would for
    /// the session's intents: not at all without GUILD_MESSAGES / DIRECT_MESSAGES, and with
    /// content, embeds and attachments blanked without MESSAGE_CONTENT (unless it is a DM, the
    /// bot's own, or mentions the bot). Returns the seq, or `None` when nothing was sent.
    pub(super) fn deliver_message(
        &mut self,
        event: &str,
        guild: Option<u64>,
        mut d: Value,
    ) -> Option<u64> {
        let session = self.session_for_guild(guild)?;
        let intents = self.gateway.sessions[session].intents;
        let needed = if guild.is_some() {
            GUILD_MESSAGES
        } else {
            DIRECT_MESSAGES
        };
        if intents & needed == 0 {
            return None;
        }
        let bot = super::BOT_ID.to_string();
        let mentioned = d["mentions"]
            .as_array()
            .is_some_and(|m| m.iter().any(|u| u["id"] == bot.as_str()));
        let own = d["author"]["id"] == bot.as_str();
        if intents & MESSAGE_CONTENT == 0
            && guild.is_some()
            && !mentioned
            && !own
            && d.get("content").is_some()
        {
            for (key, empty) in [
                ("content", json!("")),
                ("embeds", json!([])),
                ("attachments", json!([])),
                ("components", json!([])),
            ] {
                d[key] = empty;
            }
        }
        Some(self.dispatch_in(session, event, d))
    }

    pub(super) fn send(&self, conn: usize, out: Out) {
        let _ = self.gateway.connections[conn].tx.send(out);
    }

    /// The open connections, or only those of `shard`.
    pub(super) fn open_connections(&self, shard: Option<u64>) -> Vec<usize> {
        let conns = &self.gateway.connections;
        let wanted = |c: &Conn| shard.is_none_or(|s| c.info.shard.is_some_and(|[id, _]| id == s));
        (0..conns.len())
            .filter(|&i| conns[i].info.open && wanted(&conns[i]))
            .collect()
    }

    fn on_frame(&mut self, conn: usize, text: &str) {
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            return;
        };
        self.gateway.received.push(payload.clone());
        let d = &payload["d"];
        match payload["op"].as_u64() {
            Some(1) => {
                self.gateway.heartbeats += 1;
                self.send(conn, Out::Frame(frame(11, Value::Null)));
            }
            Some(2) => self.identify(conn, d),
            Some(6) => self.resume(conn, d),
            _ => {}
        }
    }

    fn identify(&mut self, conn: usize, d: &Value) {
        let shard = match d["shard"]
            .as_array()
            .map(|s| s.iter().map(Value::as_u64).collect::<Vec<_>>())
        {
            Some(ids) if ids.len() == 2 => [ids[0].unwrap_or(0), ids[1].unwrap_or(1)],
            _ => [0, 1],
        };
        let gw = &mut self.gateway;
        let id = format!("fake-session-{}", gw.sessions.len() + 1);
        gw.identifies.push(Identify {
            token: d["token"].as_str().unwrap_or_default().to_owned(),
            intents: d["intents"].as_u64().unwrap_or(0),
            shard,
            connection: conn,
            d: d.clone(),
        });
        let info = &mut gw.connections[conn].info;
        (info.identified, info.shard, info.session_id) = (true, Some(shard), Some(id.clone()));
        let session = gw.sessions.len();
        gw.connections[conn].session = Some(session);
        let intents = d["intents"].as_u64().unwrap_or(0);
        let log = Vec::new();
        gw.sessions.push(Session {
            id: id.clone(),
            shard,
            seq: 0,
            intents,
            log,
            conn: Some(conn),
            valid: true,
        });

        let guilds: Vec<Value> = (self.guilds.iter())
            .filter(|g| shard_of(Some(g.id), shard[1]) == shard[0])
            .map(super::payloads::GuildSpec::to_json)
            .collect();
        let ids: Vec<u64> = guilds.iter().filter_map(|g| id_of(&g["id"])).collect();
        let ready = ready_json(&id, &self.ws_url, shard, &ids);
        self.dispatch_in(session, "READY", ready);
        for guild in guilds {
            self.dispatch_in(session, "GUILD_CREATE", guild);
        }
    }

    fn resume(&mut self, conn: usize, d: &Value) {
        let session_id = d["session_id"].as_str().unwrap_or_default().to_owned();
        let seq = d["seq"].as_u64().unwrap_or(0);
        let gw = &mut self.gateway;
        let found = gw
            .sessions
            .iter()
            .position(|s| s.valid && s.id == session_id);
        gw.resumes.push(Resume {
            token: d["token"].as_str().unwrap_or_default().to_owned(),
            session_id: session_id.clone(),
            seq,
            connection: conn,
            accepted: found.is_some(),
        });
        let Some(session) = found else {
            self.send(conn, Out::Frame(frame(9, json!(false))));
            return;
        };
        let shard = gw.sessions[session].shard;
        let info = &mut gw.connections[conn].info;
        (info.resumed, info.shard, info.session_id) = (true, Some(shard), Some(session_id));
        gw.connections[conn].session = Some(session);
        gw.sessions[session].conn = Some(conn);
        let missed: Vec<String> = (gw.sessions[session].log.iter())
            .filter(|(s, _)| *s > seq)
            .map(|(_, text)| text.clone())
            .collect();
        for text in missed {
            self.send(conn, Out::Frame(text));
        }
        self.dispatch_in(session, "RESUMED", json!({}));
    }

    fn on_closed(&mut self, conn: usize, client_code: Option<u16>) {
        let c = &mut self.gateway.connections[conn];
        c.info.open = false;
        c.info.client_close_code = c.info.client_close_code.or(client_code);
        if let Some(session) = c.session {
            let session = &mut self.gateway.sessions[session];
            if session.conn == Some(conn) {
                session.conn = None;
            }
        }
    }
}

pub(super) async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            // Without nodelay, back-to-back frames (READY, GUILD_CREATE) arrive ~40 ms apart.
            let _ = stream.set_nodelay(true);
            connections.spawn(serve(stream, Arc::clone(&state)));
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (tx, mut rx) = unbounded_channel();
    let conn = {
        let mut state = state.lock().unwrap();
        let interval = state
            .gateway
            .heartbeat_interval
            .unwrap_or(DEFAULT_HEARTBEAT_MS);
        let _ = tx.send(Out::Frame(frame(
            10,
            json!({"heartbeat_interval": interval}),
        )));
        let info = ConnectionInfo {
            open: true,
            shard: None,
            identified: false,
            resumed: false,
            session_id: None,
            client_close_code: None,
            server_close_code: None,
        };
        state.gateway.connections.push(Conn {
            tx,
            info,
            session: None,
        });
        state.gateway.connections.len() - 1
    };
    let (mut sink, mut source) = ws.split();
    let mut client_code = None;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(text)) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code)) => {
                    let frame = CloseFrame { code: code.into(), reason: "fake discord".into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => state.lock().unwrap().on_frame(conn, text.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    client_code = frame.map(|f| u16::from(f.code));
                    // Send the queued close reply so the client is not left waiting for it.
                    let _ = tokio::time::timeout(Duration::from_millis(100), sink.close()).await;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    state.lock().unwrap().on_closed(conn, client_code);
}
