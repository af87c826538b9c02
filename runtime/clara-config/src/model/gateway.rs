//! `[adapters.gateway]`: the WebSocket gateway that platform adapters (MyPalClara's among
//! them) and `clara chat --connect` talk to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The WebSocket gateway, speaking MyPalClara's adapter protocol.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Serve the gateway in `clara run`.
    #[serde(default)]
    pub enabled: bool,
    /// `host:port` to listen on. Any address other than loopback needs `secret_env`.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Environment variable holding the secret a client must present (in its `register`
    /// frame's `secret`, or an `Authorization: Bearer` header). Unset: no secret, which is
    /// allowed only on a loopback address.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Largest frame a client may send, in bytes (images come base64 inside `message`).
    #[serde(default = "default_max_message_bytes")]
    #[schemars(range(min = 1024))]
    pub max_message_bytes: u64,
    /// Most connections at once; more are refused at the handshake.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 1))]
    pub max_connections: u32,
    /// Most messages one connection may have queued or being answered; past it a message is
    /// refused with a `rate_limited` error frame.
    #[serde(default = "default_max_pending")]
    #[schemars(range(min = 1))]
    pub max_pending_per_connection: u32,
    /// Frames waiting to be written to one client; a client that reads slower than this is
    /// disconnected (its turns still finish and are stored).
    #[serde(default = "default_send_buffer")]
    #[schemars(range(min = 8))]
    pub send_buffer: u32,
    /// Seconds between the server's WebSocket pings; a client silent for three of them is
    /// disconnected. 0: no pings.
    #[serde(default = "default_keepalive_secs")]
    pub keepalive_secs: u32,
    /// Seconds a new connection has to finish its WebSocket handshake, and then to send
    /// `register`, before it is closed (a silent socket gives its slot back).
    #[serde(default = "default_register_timeout_secs")]
    #[schemars(range(min = 1))]
    pub register_timeout_secs: u32,
    /// User ids (as clients send them in `user.id`) that may use admin-only tools and change
    /// MCP servers (as `requested_by` of the `mcp_*` frames).
    #[serde(default)]
    pub admin_users: Vec<String>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bind: default_bind(),
            secret_env: None,
            max_message_bytes: default_max_message_bytes(),
            max_connections: default_max_connections(),
            max_pending_per_connection: default_max_pending(),
            send_buffer: default_send_buffer(),
            keepalive_secs: default_keepalive_secs(),
            register_timeout_secs: default_register_timeout_secs(),
            admin_users: Vec::new(),
        }
    }
}

fn default_bind() -> String {
    "127.0.0.1:18789".to_owned()
}
fn default_max_message_bytes() -> u64 {
    16 * 1024 * 1024
}
fn default_max_connections() -> u32 {
    256
}
fn default_max_pending() -> u32 {
    32
}
fn default_send_buffer() -> u32 {
    1024
}
fn default_keepalive_secs() -> u32 {
    30
}
fn default_register_timeout_secs() -> u32 {
    10
}
