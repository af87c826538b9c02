//! Tool manifests (`tools.d/NAME.toml|yaml`): one tool, or one MCP server, per file.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::approval::{ApprovalMode, default_approval_timeout_secs, default_approvers};
use super::common::{all_tools, yes};

/// A tool manifest. The tool's name is `name`, or the file stem. An MCP server's tools appear
/// as `NAME__TOOL`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolManifest {
    /// Tool name as the model sees it (letters, digits, `_`, `-`). Defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// What the tool does, for the model. Required for `command` and `http` tools.
    #[serde(default)]
    pub description: Option<String>,
    /// Offer this tool. A disabled manifest is checked but not loaded.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// JSON Schema of the arguments (an object schema). Not used by `mcp` servers, whose
    /// tools describe themselves.
    #[serde(default)]
    pub parameters: Option<serde_json::Map<String, serde_json::Value>>,
    /// Status text shown while the tool runs, e.g. `Looking up issues`.
    #[serde(default)]
    pub label: Option<String>,
    /// Emoji shown with the status text.
    #[serde(default)]
    pub emoji: Option<String>,
    /// Seconds one call may take before it is stopped (at most a day, 86400).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 0.001, max = 86400.0))]
    pub timeout: f64,
    /// Largest result kept from one call, in bytes.
    #[serde(default = "default_max_output_bytes")]
    #[schemars(range(min = 1))]
    pub max_output_bytes: u64,
    /// Only admins may use this tool.
    #[serde(default)]
    pub admin_only: bool,
    /// Only these user ids may use this tool (e.g. `discord-1234`). Empty: everyone.
    #[serde(default)]
    pub allowed_users: Vec<String>,
    /// When a call waits for a person's yes: `never`, `first_use` (once per user) or `always`.
    /// For an MCP server, every tool it offers.
    #[serde(default)]
    pub approval: ApprovalMode,
    /// Who may approve: `requester` (whoever sent the message), `admins`, or user ids.
    #[serde(default = "default_approvers")]
    pub approvers: Vec<String>,
    /// Seconds to wait for an answer; none by then denies the call.
    #[serde(default = "default_approval_timeout_secs")]
    #[schemars(range(min = 1, max = 86400))]
    pub approval_timeout_secs: u32,
    /// How the tool runs.
    pub runner: Runner,
}

/// How an HTTP tool authenticates as the calling user.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpAuth {
    /// The connection (`[connections.NAME]` in clara.toml) whose token is sent. A user who
    /// has not connected it gets a link to connect instead of a call.
    pub connection: String,
    /// A host variable holding a token sent for users who have not connected (or for
    /// everyone while the connection is not set up), e.g. `GITHUB_TOKEN`: the operator's
    /// account instead of a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_env: Option<String>,
}

/// How a tool runs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Runner {
    /// Run a program. Arguments arrive as JSON on stdin and/or in templated argv; stdout is
    /// the result.
    Command {
        /// The program to run (looked up on `PATH`), or with `shell = true` a shell command
        /// line (tera template).
        program: String,
        /// Arguments, each a tera template over `args` (the call's arguments).
        #[serde(default)]
        args: Vec<String>,
        /// Pass the call's arguments as JSON on stdin.
        #[serde(default)]
        stdin: StdinMode,
        /// Run `program` through `sh -c`. Off by default: no shell sees model-written text.
        #[serde(default)]
        shell: bool,
        /// Working directory, relative to the root.
        #[serde(default)]
        working_dir: Option<String>,
        /// Environment variables set for the program (not secrets).
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Host environment variables passed through (secrets go here, by name). Nothing else
        /// of the host environment is visible to the program except `PATH`.
        #[serde(default)]
        secrets_env: Vec<String>,
        /// Give the program the calling user's file folder (the one the built-in file tools
        /// use) as `CLARA_USER_FILES`, an absolute path, and `[files] max_file_bytes` as
        /// `CLARA_MAX_FILE_BYTES`: for tools that read or write the user's files.
        #[serde(default)]
        user_files: bool,
    },
    /// Call an HTTP endpoint.
    Http {
        /// HTTP method.
        #[serde(default)]
        method: HttpMethod,
        /// URL (tera template over `args` and `env`).
        url: String,
        /// Headers (tera templates over `args` and `env`, e.g. `Bearer {{ env.GITHUB_TOKEN }}`).
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Query parameters (tera templates); empty values are left out.
        #[serde(default)]
        query: BTreeMap<String, String>,
        /// Send the call's arguments as a JSON body.
        #[serde(default)]
        body: BodyMode,
        /// JSON pointer (`/items`) picking the part of a JSON response given to the model.
        #[serde(default)]
        extract: Option<String>,
        /// Host environment variables available to templates as `env.NAME`.
        #[serde(default)]
        secrets_env: Vec<String>,
        /// Call as the user: `{ connection = "google" }` sends their token for that
        /// connection as `Authorization: Bearer …`.
        #[serde(default)]
        auth: Option<HttpAuth>,
    },
    /// An MCP server: over stdio when `command` is set, over streamable HTTP when `url` is.
    Mcp {
        /// Program that starts a stdio server (e.g. `npx`).
        #[serde(default)]
        command: Option<String>,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Environment variables set for the server (not secrets).
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Working directory, relative to the root.
        #[serde(default)]
        working_dir: Option<String>,
        /// URL of a streamable-HTTP server.
        #[serde(default)]
        url: Option<String>,
        /// Headers for an HTTP server (tera templates over `env`).
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Authorize with the HTTP server's own OAuth (the MCP authorization spec): clara
        /// keeps the grant under this manifest's name, sealed in the store with `[runtime]
        /// secret_key_env`, and renews it. `clara mcp auth NAME` or the `mcp_oauth_start`
        /// tool makes it; the manifest never holds a token.
        #[serde(default)]
        oauth: bool,
        /// Host environment variables passed to the server process or its header templates.
        #[serde(default)]
        secrets_env: Vec<String>,
        /// Which of the server's tools to offer: names or globs.
        #[serde(default = "all_tools")]
        tools: Vec<String>,
    },
}

/// How a command tool receives its arguments on stdin.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StdinMode {
    /// The arguments as one JSON object.
    #[default]
    Json,
    /// Nothing.
    None,
}

/// An HTTP method.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    #[default]
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

/// What an HTTP tool sends as its body.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BodyMode {
    /// The arguments not used in the URL or query, as JSON (no body for GET and DELETE).
    #[default]
    Json,
    /// No body.
    None,
    /// The file from the calling user's folder that the `filename` argument names, as it is
    /// (its type from its extension): a raw upload.
    File,
    /// `multipart/related`: the arguments not used in the URL or query (without `filename`)
    /// as JSON, then that file: Google's upload with metadata (Drive's `uploadType=multipart`).
    Related,
}

impl BodyMode {
    /// Whether the body carries a file from the user's folder.
    pub fn sends_file(self) -> bool {
        matches!(self, BodyMode::File | BodyMode::Related)
    }
}

fn default_timeout() -> f64 {
    30.0
}
fn default_max_output_bytes() -> u64 {
    1024 * 1024
}

/// Tools built into clara. Manifests may not reuse these names.
pub const BUILTIN_TOOLS: &[&str] = &[
    "connect",
    "connection_status",
    "disconnect",
    "memory_search",
    "memory_remember",
    "memory_forget",
    "save_to_local",
    "list_local_files",
    "read_local_file",
    "delete_local_file",
    "send_local_file",
    "email_connect_imap",
    "email_list_accounts",
    "email_disconnect",
    "email_set_quiet_hours",
    "email_recent_alerts",
    "email_status",
    "email_set_alert_channel",
    "email_list_presets",
    "email_apply_preset",
    "email_add_rule",
    "email_list_rules",
    "email_remove_rule",
];

/// The separator between an MCP server's name and its tools' names (`github__list_issues`).
pub const MCP_SEPARATOR: &str = "__";
