//! `clara.toml`: the wiring of one clara instance (providers, stores, memory, sessions, adapters).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::adapters::AdaptersConfig;
use super::backup::BackupConfig;
use super::budget::Budget;
use super::common::yes;
use super::connection::Connection;
use super::email::EmailConfig;
use super::mcp::McpConfig;
use super::pricing::{Price, lookup, shipped_price};
use super::provider::{EmbeddingsConfig, ProviderConfig};
use super::store::{StoreConfig, default_stores};

/// The root config file, `clara.toml`. Every value can be overridden with a
/// `CLARA_SECTION__KEY` environment variable (e.g. `CLARA_SESSIONS__IDLE_TIMEOUT_MINUTES=60`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClaraConfig {
    /// Process-level settings. Changing any of these needs a restart.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// What a turn uses when a pipeline or persona does not say otherwise.
    #[serde(default)]
    pub defaults: Defaults,
    /// LLM providers by name. Pipelines, fallbacks and embeddings refer to these names.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// The embeddings endpoint for vector memory search. Without it (or with
    /// `enabled = false`) memory search uses full text only.
    #[serde(default)]
    pub embeddings: Option<EmbeddingsConfig>,
    /// Databases by name. The default is one embedded SQLite store called `main`.
    #[serde(default = "default_stores")]
    pub stores: BTreeMap<String, StoreConfig>,
    /// Long-term memory: extraction model and search tuning.
    #[serde(default)]
    pub memory: MemoryConfig,
    /// Conversation sessions: idle timeout and carry-over between sessions.
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// The chat surfaces clara answers on.
    #[serde(default)]
    pub adapters: AdaptersConfig,
    /// The status HTTP endpoint (`/health`, `/metrics`).
    #[serde(default)]
    pub status: StatusConfig,
    /// Per-user local file storage used by the built-in file tools.
    #[serde(default)]
    pub files: FilesConfig,
    /// Model prices in US dollars per million tokens, by model name, over the table clara
    /// ships (`[pricing."claude-sonnet-4"] input = 3.0`, `output = 15.0`, …).
    #[serde(default)]
    pub pricing: BTreeMap<String, Price>,
    /// Budgets by name: caps on model spending that apply to every pipeline and background
    /// job (a `budget` step adds a pipeline's own).
    #[serde(default)]
    pub budgets: BTreeMap<String, Budget>,
    /// OAuth 2.0 providers users connect their own accounts to, by name (`google`, `github`):
    /// HTTP tools with `auth = { connection = "NAME" }` call as the user.
    #[serde(default)]
    pub connections: BTreeMap<String, Connection>,
    /// Watching users' inboxes for messages worth an alert.
    #[serde(default)]
    pub email: EmailConfig,
    /// Installing MCP servers and searching registries for them.
    #[serde(default)]
    pub mcp: McpConfig,
    /// Where `clara backup` puts snapshots of the stores, and how long they stay.
    #[serde(default)]
    pub backup: BackupConfig,
    /// Tracing every turn: the timelines `/turns` serves, and export to an OpenTelemetry
    /// collector.
    #[serde(default)]
    pub telemetry: super::telemetry::TelemetryConfig,
    /// The web console on the status endpoint.
    #[serde(default)]
    pub console: super::console::ConsoleConfig,
}

impl ClaraConfig {
    /// What `model` costs on `provider`: the provider's own `pricing`, else `[pricing]`, else
    /// the shipped table; each by the exact name, then without a `vendor/` prefix.
    pub fn price(&self, provider: &str, model: &str) -> Option<Price> {
        self.providers
            .get(provider)
            .and_then(|p| lookup(&p.pricing, model))
            .or_else(|| lookup(&self.pricing, model))
            .or_else(|| shipped_price(model))
    }

    /// The provider a call uses when nothing names one: `defaults.provider`, or the only
    /// provider configured.
    pub fn default_provider(&self) -> Option<&str> {
        self.defaults.provider.as_deref().or_else(|| {
            (self.providers.len() == 1)
                .then(|| self.providers.keys().next().map(String::as_str))
                .flatten()
        })
    }

    /// The provider memory extraction calls: `memory.provider`, else the default one, so
    /// switching the default provider moves memory with it.
    pub fn memory_provider(&self) -> Option<&str> {
        self.memory
            .provider
            .as_deref()
            .or_else(|| self.default_provider())
    }

    /// The provider that serves embeddings: `embeddings.provider`, else the default one.
    pub fn embeddings_provider(&self) -> Option<&str> {
        let embeddings = self.embeddings.as_ref()?;
        embeddings
            .provider
            .as_deref()
            .or_else(|| self.default_provider())
    }
}

/// Process-level settings; a change to any of them is refused by hot reload and needs a restart.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// This instance's id in events (`CLARA_NODE_ID`). Defaults to the host name.
    #[serde(default)]
    pub node_id: Option<String>,
    /// What is logged (to stderr), as a filter: `warn`, `info`, or `clara=debug,info`.
    /// `RUST_LOG`, when set, wins.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// How log lines are written: `pretty` for people, `json` (one object per line) for a log
    /// collector.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Watch the root and hot-reload changed files.
    #[serde(default = "yes")]
    pub watch: bool,
    /// How long to wait for a burst of file changes to settle before reloading, in milliseconds.
    #[serde(default = "default_reload_debounce_ms")]
    #[schemars(range(min = 10, max = 5000))]
    pub reload_debounce_ms: u32,
    /// How long shutdown waits for in-flight turns to finish, in seconds.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u32,
    /// How many hook actions may run at the same time.
    #[serde(default = "default_hook_concurrency")]
    #[schemars(range(min = 1))]
    pub hook_concurrency: u32,
    /// The environment variable holding the key that encrypts users' connection tokens at
    /// rest and signs OAuth links: any long random string (`openssl rand -hex 32`).
    /// Connections are off without it.
    #[serde(default = "default_secret_key_env")]
    pub secret_key_env: String,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            node_id: None,
            log_level: default_log_level(),
            log_format: LogFormat::default(),
            watch: true,
            reload_debounce_ms: default_reload_debounce_ms(),
            shutdown_grace_secs: default_shutdown_grace_secs(),
            hook_concurrency: default_hook_concurrency(),
            secret_key_env: default_secret_key_env(),
        }
    }
}

/// How log lines are written.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Defaults that pipelines and personas inherit.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The persona a pipeline uses when it names none (a file stem in `personas/`).
    #[serde(default = "default_persona")]
    pub persona: String,
    /// The provider an `llm_call` step uses when it names none. May be left out when exactly
    /// one provider is configured.
    #[serde(default)]
    pub provider: Option<String>,
    /// The store sessions, history and memory live in.
    #[serde(default = "default_store")]
    pub store: String,
    /// IANA time zone for times shown to the model and for cron schedules
    /// (MyPalClara's `DEFAULT_TIMEZONE`).
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            persona: default_persona(),
            provider: None,
            store: default_store(),
            timezone: default_timezone(),
        }
    }
}

/// Long-term memory settings shared by every pipeline.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// Turn long-term memory on or off everywhere.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Provider for fact extraction and reconciliation (MyPalClara's `ROOK_PROVIDER`).
    /// Defaults to `defaults.provider`, so memory follows a switch of the default provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// Model for extraction (`ROOK_MODEL`). Defaults to the provider's low-tier model (its
    /// base model when it has no tiers). A fallback provider never gets this name: it uses
    /// its own low tier.
    #[serde(default)]
    pub model: Option<String>,
    /// Sampling temperature for extraction calls.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: f32,
    /// Token limit for extraction calls.
    #[serde(default = "default_memory_max_tokens")]
    pub max_tokens: u32,
    /// Candidates taken from each side (full text, vector) before rank fusion.
    #[serde(default = "default_search_candidates")]
    #[schemars(range(min = 1))]
    pub search_candidates: u32,
    /// The `k` of reciprocal rank fusion; larger values flatten the ranking.
    #[serde(default = "default_rrf_k")]
    #[schemars(range(min = 1))]
    pub rrf_k: u32,
    /// Name of the project memories are filed under when none is given (`DEFAULT_PROJECT`).
    #[serde(default = "default_project")]
    pub default_project: String,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            provider: None,
            model: None,
            temperature: 0.0,
            max_tokens: default_memory_max_tokens(),
            search_candidates: default_search_candidates(),
            rrf_k: default_rrf_k(),
            default_project: default_project(),
        }
    }
}

/// Conversation sessions.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Minutes without a message after which the next message starts a new session
    /// (`SESSION_IDLE_MINUTES`). The old session is summarised by the pipelines triggered on
    /// `session_end`.
    #[serde(default = "default_idle_timeout_minutes")]
    #[schemars(range(min = 1))]
    pub idle_timeout_minutes: u32,
    /// How many of the previous session's last messages carry over as a snapshot
    /// (`CARRYOVER_MESSAGE_COUNT`).
    #[serde(default = "default_snapshot_messages")]
    pub snapshot_messages: u32,
    /// Whether people in a server channel share one session or each have their own.
    #[serde(default)]
    pub channel_scope: ChannelScope,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: default_idle_timeout_minutes(),
            snapshot_messages: default_snapshot_messages(),
            channel_scope: ChannelScope::default(),
        }
    }
}

/// How sessions are keyed in a shared channel.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelScope {
    /// One session per person per channel.
    #[default]
    PerUser,
    /// One session per channel, shared by everyone in it.
    Shared,
}

/// The status HTTP endpoint.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Serve `/health` and `/metrics` while `clara run` is up.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address to listen on, `host:port`. It has no authentication: anything other than a
    /// loopback address gets a warning at start-up.
    #[serde(default = "default_status_bind")]
    pub bind: String,
    /// Most connections served at once; more wait in the listen queue, using none of clara's
    /// file descriptors. A connection is closed after 30 s.
    #[serde(default = "default_status_max_connections")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_connections: u32,
    /// The address people's browsers reach this endpoint at (`https://clara.example.com`),
    /// for OAuth links and redirects; `http://` and `bind` when unset, which only works on
    /// this machine.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The page a connection link opens, before the provider's consent page: a link is for
    /// the person who asked for it, and whoever continues connects their own account to that
    /// person's assistant. `{title}` is the connection's title.
    #[serde(default = "default_connect_confirm_page")]
    pub connect_confirm_page: String,
    /// The label of that page's button on to the provider (`{title}`).
    #[serde(default = "default_connect_confirm_button")]
    pub connect_confirm_button: String,
    /// The page shown when a connection is made.
    #[serde(default = "default_connected_page")]
    pub connected_page: String,
    /// The page shown when a connection fails (`{reason}` says why).
    #[serde(default = "default_connect_failed_page")]
    pub connect_failed_page: String,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: default_status_bind(),
            max_connections: default_status_max_connections(),
            public_url: None,
            connect_confirm_page: default_connect_confirm_page(),
            connect_confirm_button: default_connect_confirm_button(),
            connected_page: default_connected_page(),
            connect_failed_page: default_connect_failed_page(),
        }
    }
}

fn default_status_max_connections() -> u32 {
    64
}

fn default_secret_key_env() -> String {
    "CLARA_SECRET_KEY".to_owned()
}

fn default_connect_confirm_page() -> String {
    "This link connects a {title} account to the assistant of the person who asked for it in \
     the chat. Continue only if that was you: whoever signs in next lets that person's \
     assistant use their {title} account."
        .to_owned()
}

fn default_connect_confirm_button() -> String {
    "Continue to {title}".to_owned()
}

fn default_connected_page() -> String {
    "Connected to {title}. You can close this tab and go back to the chat.".to_owned()
}

fn default_connect_failed_page() -> String {
    "Could not connect to {title}: {reason}. Ask for a new link in the chat and try again."
        .to_owned()
}

/// Per-user local file storage (`CLARA_FILES_DIR`, `CLARA_MAX_FILE_SIZE`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Folder for users' files, relative to the root.
    #[serde(default = "default_files_dir")]
    pub dir: String,
    /// Largest file a tool may save, in bytes.
    #[serde(default = "default_max_file_bytes")]
    #[schemars(range(min = 1))]
    pub max_file_bytes: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            dir: default_files_dir(),
            max_file_bytes: default_max_file_bytes(),
        }
    }
}

fn default_log_level() -> String {
    "warn".to_owned()
}
fn default_reload_debounce_ms() -> u32 {
    150
}
fn default_shutdown_grace_secs() -> u32 {
    30
}
fn default_hook_concurrency() -> u32 {
    8
}
fn default_persona() -> String {
    "clara".to_owned()
}
fn default_store() -> String {
    "main".to_owned()
}
fn default_timezone() -> String {
    "America/New_York".to_owned()
}
fn default_memory_max_tokens() -> u32 {
    8000
}
fn default_search_candidates() -> u32 {
    100
}
fn default_rrf_k() -> u32 {
    60
}
fn default_project() -> String {
    "Default Project".to_owned()
}
fn default_idle_timeout_minutes() -> u32 {
    30
}
fn default_snapshot_messages() -> u32 {
    10
}
fn default_status_bind() -> String {
    "127.0.0.1:8787".to_owned()
}
fn default_files_dir() -> String {
    "clara_files".to_owned()
}
fn default_max_file_bytes() -> u64 {
    50 * 1024 * 1024
}
