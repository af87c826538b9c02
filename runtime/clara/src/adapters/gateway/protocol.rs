//! The gateway's frames, as MyPalClara's adapters send and expect them (JSON text frames
//! tagged by `type`), plus the `secret` in `register` that its protocol lacked.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A frame from an adapter.
#[derive(Deserialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Introduces the node; the first frame of a connection.
    Register(Register),
    /// Application-level keepalive.
    Ping {
        /// Echoed back.
        #[serde(default)]
        timestamp: Value,
    },
    /// A user's message.
    Message(Box<MessageFrame>),
    /// Stops a queued or running message.
    Cancel {
        /// The message's `id`.
        request_id: String,
        /// Why, for logs.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Asks for the gateway's status (the adapter's own figures are ignored).
    Status {},
    /// Lists MCP servers.
    McpList {
        /// Echoed in the response.
        request_id: String,
    },
    /// One MCP server's state, or counts over all.
    McpStatus {
        /// Echoed in the response.
        request_id: String,
        /// The server; all when absent.
        #[serde(default)]
        server_name: Option<String>,
    },
    /// Restarts an MCP server (for an admin).
    McpRestart {
        /// Echoed in the response.
        request_id: String,
        /// The server.
        server_name: String,
        /// The user asking: one of `[gateway] admin_users`.
        #[serde(default)]
        requested_by: Option<String>,
    },
    /// Installs an MCP server (for an admin).
    McpInstall {
        /// Echoed in the response.
        request_id: String,
        /// Where it comes from: `npm:PKG`, `github.com/OWNER/REPO`, a URL, …
        source: String,
        /// Its name; the source suggests one.
        #[serde(default)]
        name: Option<String>,
        /// The user asking.
        #[serde(default)]
        requested_by: Option<String>,
    },
    /// Removes an MCP server (for an admin).
    McpUninstall {
        /// Echoed in the response.
        request_id: String,
        /// The server.
        server_name: String,
        /// The user asking.
        #[serde(default)]
        requested_by: Option<String>,
    },
    /// Turns an MCP server on or off (for an admin).
    McpEnable {
        /// Echoed in the response.
        request_id: String,
        /// The server.
        server_name: String,
        /// On or off.
        enabled: bool,
        /// The user asking.
        #[serde(default)]
        requested_by: Option<String>,
    },
    /// A person's answer to an `approval_request`.
    ApprovalResponse {
        /// The request's `approval_id`.
        approval_id: String,
        /// `approve` or `deny`.
        action: String,
        /// Who answered.
        user: User,
    },
}

/// `register`.
#[derive(Deserialize, Debug)]
pub struct Register {
    /// The node's own id (`discord-1a2b3c4d`).
    pub node_id: String,
    /// `discord`, `teams`, `cli`…
    pub platform: String,
    /// What the node can show (`streaming`, `attachments`…).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The session id a reconnecting node had.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The gateway's secret, when it has one (or an `Authorization: Bearer` header).
    #[serde(default)]
    pub secret: Option<String>,
}

/// `message`.
#[derive(Deserialize, Debug, Clone)]
pub struct MessageFrame {
    /// The request id every answering frame carries.
    pub id: String,
    /// The author.
    pub user: User,
    /// Where it was written.
    pub channel: Channel,
    /// The text.
    #[serde(default)]
    pub content: String,
    /// Images and files.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Earlier messages this one replies to, oldest first.
    #[serde(default)]
    pub reply_chain: Vec<ChainMessage>,
    /// `high`, `mid` or `low`.
    #[serde(default)]
    pub tier_override: Option<String>,
}

/// The author of a message.
#[derive(Deserialize, Debug, Clone)]
pub struct User {
    /// Stable id (`discord-1234`).
    pub id: String,
    /// Name to call them by.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Account name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Where a message was written.
#[derive(Deserialize, Debug, Clone)]
pub struct Channel {
    /// Stable id.
    pub id: String,
    /// `dm`, `server` (the default) or `group`.
    #[serde(default = "server", rename = "type")]
    pub kind: String,
    /// Channel name.
    #[serde(default)]
    pub name: Option<String>,
    /// Server name.
    #[serde(default)]
    pub guild_name: Option<String>,
}

fn server() -> String {
    "server".to_owned()
}

/// An attachment: an image or file as base64, or a text file's content.
#[derive(Deserialize, Debug, Clone)]
pub struct Attachment {
    /// `image`, `file` or `text`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    #[serde(default)]
    pub filename: String,
    /// `image/png`…
    #[serde(default)]
    pub media_type: Option<String>,
    /// The bytes, base64.
    #[serde(default)]
    pub base64_data: Option<String>,
    /// A text file's content.
    #[serde(default)]
    pub content: Option<String>,
}

/// One message of a reply chain.
#[derive(Deserialize, Debug, Clone)]
pub struct ChainMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// Its text.
    #[serde(default)]
    pub content: String,
}

/// An `error` frame's code.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON.
    InvalidJson,
    /// An unknown type or a frame missing what its type needs.
    InvalidMessage,
    /// A frame other than `register` or `ping` before `register`.
    NotRegistered,
    /// A cancel or MCP request for something unknown.
    NotFound,
    /// The turn failed before it could answer.
    ProcessingError,
    /// No secret, or the wrong one.
    Unauthorized,
    /// The connection has too many messages in flight.
    RateLimited,
    /// The same message from the same user is already being answered.
    Duplicate,
    /// Something the gateway does not offer.
    Unsupported,
}

/// An `error` frame.
pub fn error(request_id: Option<&str>, code: ErrorCode, message: &str) -> Value {
    serde_json::json!({
        "type": "error",
        "request_id": request_id,
        "code": code,
        "message": message,
        "recoverable": !matches!(code, ErrorCode::Unauthorized),
    })
}

/// Why a text frame is not a frame: bad JSON, or JSON that is not a known frame.
pub fn parse(text: &str) -> Result<ClientFrame, (ErrorCode, String)> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| (ErrorCode::InvalidJson, e.to_string()))?;
    serde_json::from_value(value).map_err(|e| (ErrorCode::InvalidMessage, e.to_string()))
}

/// The time now as the protocol writes it (ISO 8601).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mypalclaras_message_frame_parses() {
        let frame = parse(
            r#"{"type":"message","id":"msg-1a2b3c4d","user":{"id":"discord-1","platform_id":"1","name":"ann"},
                "channel":{"id":"c1","type":"dm"},"content":"hi","attachments":[],"reply_chain":[],
                "tier_override":null,"metadata":{}}"#,
        )
        .unwrap();
        let ClientFrame::Message(message) = frame else {
            panic!("not a message")
        };
        assert_eq!(message.channel.kind, "dm");
        assert_eq!(message.user.name.as_deref(), Some("ann"));
    }

    #[test]
    fn bad_frames_get_their_codes() {
        assert_eq!(parse("{nope").unwrap_err().0, ErrorCode::InvalidJson);
        assert_eq!(
            parse(r#"{"type":"teleport"}"#).unwrap_err().0,
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            parse(r#"{"type":"message","id":"x"}"#).unwrap_err().0,
            ErrorCode::InvalidMessage
        );
    }
}
