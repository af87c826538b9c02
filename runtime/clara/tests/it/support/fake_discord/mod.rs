//! A fake Discord on 127.0.0.1: a WebSocket gateway and a REST API that speak Discord's real
//! protocol, so tests drive clara's twilight-based adapter over real sockets without mocking
//! any of our code.
//!
//! Point twilight at it with `ConfigBuilder::new(token, intents).proxy_url(fake.ws_url())` and
//! `Client::builder().token(token).proxy(fake.rest_proxy(), true)`. The gateway answers
//! IDENTIFY with READY plus a GUILD_CREATE per registered guild, ACKs every heartbeat, and
//! replays missed dispatches on RESUME. REST keeps a per-channel message store and records
//! every request.
//!
//! Layout: `gateway.rs` (the WebSocket server and sessions), `controls.rs` (what a test does
//! on the gateway), `rest.rs` (the HTTP server, recording, failure injection and the recorded
//! path layout), `routes.rs` and `interactions.rs` (the REST routes), `store.rs` (messages,
//! reactions, commands, files), `payloads.rs` (JSON shapes twilight accepts), `builders.rs`
//! (user messages and slash commands).

#![allow(dead_code)] // each test binary uses its own subset

mod builders;
mod controls;
mod gateway;
mod interactions;
mod payloads;
mod rest;
mod routes;
mod store;

#[allow(unused_imports)] // re-exports: each test binary uses its own subset
pub use builders::*;
#[allow(unused_imports)]
pub use gateway::{ConnectionInfo, Identify, Resume};
#[allow(unused_imports)]
pub use payloads::{
    APP_ID, BOT_ID, BOT_NAME, GuildSpec, bot_user, dm_channel_id, next_snowflake, user_json,
};
#[allow(unused_imports)]
pub use rest::{Failure, RestRequest};
#[allow(unused_imports)]
pub use store::{FakeInteraction, FakeMessage, Reaction};

use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Everything the fake knows, shared by the gateway and REST tasks and the test.
#[derive(Default)]
struct State {
    ws_url: String,
    rest_url: String,
    gateway: gateway::GatewayState,
    rest: rest::RestState,
    store: store::Store,
    guilds: Vec<GuildSpec>,
}

/// The running fake. Dropping it stops both servers and every open connection.
pub struct FakeDiscord {
    state: Arc<Mutex<State>>,
    ws_url: String,
    rest_addr: String,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeDiscord {
    /// Binds the gateway and the REST server on free ports and serves in the background.
    pub async fn start() -> FakeDiscord {
        let ws = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake gateway");
        let rest = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake REST");
        let ws_url = format!("ws://{}", ws.local_addr().unwrap());
        let rest_addr = rest.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            ws_url: ws_url.clone(),
            rest_url: format!("http://{rest_addr}"),
            ..State::default()
        }));
        let tasks = vec![
            tokio::spawn(gateway::accept_loop(ws, Arc::clone(&state))),
            tokio::spawn(rest::accept_loop(rest, Arc::clone(&state))),
        ];
        FakeDiscord {
            state,
            ws_url,
            rest_addr,
            tasks,
        }
    }

    /// `ws://127.0.0.1:PORT`: the shard's `proxy_url` and READY's `resume_gateway_url`.
    pub fn ws_url(&self) -> String {
        self.ws_url.clone()
    }

    /// `127.0.0.1:PORT`, for twilight-http's `.proxy(addr, true)`.
    pub fn rest_proxy(&self) -> String {
        self.rest_addr.clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    /// The `heartbeat_interval` later HELLOs announce (default 41250 ms, Discord's).
    pub fn set_heartbeat_interval(&self, ms: u64) {
        self.state().gateway.heartbeat_interval = Some(ms);
    }

    /// Registers a guild: shards that own it get its GUILD_CREATE after READY (now, if one is
    /// already connected, as when a bot joins a server). `roles` are `(id, name, permission
    /// bits)`; an `@everyone` role with the guild's id is added unless given.
    pub fn add_guild(
        &self,
        id: u64,
        name: &str,
        owner_id: u64,
        roles: &[(u64, &str, u64)],
        channels: &[(u64, &str)],
    ) {
        let guild = GuildSpec {
            id,
            name: name.to_owned(),
            owner_id,
            roles: roles
                .iter()
                .map(|(i, n, b)| (*i, (*n).to_owned(), *b))
                .collect(),
            channels: channels
                .iter()
                .map(|(i, n)| (*i, (*n).to_owned()))
                .collect(),
        };
        let mut state = self.state();
        state.guilds.push(guild.clone());
        if let Some(session) = state.session_for_guild(Some(id)) {
            state.dispatch_in(session, "GUILD_CREATE", guild.to_json());
        }
    }

    /// Every request the REST server received, in arrival order.
    pub fn requests(&self) -> Vec<RestRequest> {
        self.state().rest.requests.clone()
    }

    /// The requests with this method (any case) whose path starts with `path_prefix` (paths
    /// are recorded without `/api/v10` and without the query: `/channels/2000/messages`).
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<RestRequest> {
        let requests = self.state().rest.requests.clone();
        let matching = requests.into_iter().filter(|r| r.is(method, path_prefix));
        matching.collect()
    }

    /// The requests no route answered (they got a 404), so tests can assert there were none.
    pub fn unhandled_requests(&self) -> Vec<RestRequest> {
        let requests = self.state().rest.requests.clone();
        requests.into_iter().filter(|r| !r.handled).collect()
    }

    /// Waits until `done(self)` holds, checking every 10 ms; on timeout panics with `what` and
    /// a dump of the fake's gateway and REST history.
    pub async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&FakeDiscord) -> bool,
        within: Duration,
    ) {
        let deadline = Instant::now() + within;
        while !done(self) {
            if Instant::now() >= deadline {
                panic!(
                    "fake_discord: timed out after {within:?} waiting for {what}\n{}",
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until some shard has identified and been sent READY on a connection still open.
    pub async fn wait_identified(&self, within: Duration) {
        let ready = |fake: &FakeDiscord| fake.connections().iter().any(|c| c.open && c.identified);
        self.wait_for("a shard to identify", ready, within).await;
    }

    /// A readable history of the gateway connections and the REST requests.
    pub fn dump(&self) -> String {
        let mut out = String::from("gateway connections:\n");
        for (i, c) in self.connections().iter().enumerate() {
            out += &format!("  #{i} {c:?}\n");
        }
        out += "REST requests:\n";
        for r in self.requests() {
            let body = if r.body.is_null() {
                String::new()
            } else {
                r.body.to_string()
            };
            out += &format!("  {} {} -> {} {body}\n", r.method, r.path, r.status);
        }
        out
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        // Connections live in JoinSets owned by these tasks, so they are aborted with them.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A JSON snowflake string (or number) as a u64.
fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
}
