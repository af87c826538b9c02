//! Adapter settings in `clara.toml`: Discord, the WebSocket gateway and the terminal chat.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{fill, human_size, yes};
use super::discord_notices::DiscordNotices;
use super::gateway::GatewayConfig;

/// The chat surfaces clara answers on.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdaptersConfig {
    /// The Discord bot.
    #[serde(default)]
    pub discord: DiscordConfig,
    /// The WebSocket gateway for platform adapters and `clara chat --connect`.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The terminal adapter behind `clara chat`.
    #[serde(default)]
    pub chat: ChatConfig,
}

/// The Discord bot (twilight).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Start the Discord adapter in `clara run`.
    #[serde(default)]
    pub enabled: bool,
    /// Environment variable holding the bot token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Server ids where every channel is allowed (`DISCORD_ALLOWED_SERVERS`). Empty: no
    /// server-wide allowance.
    #[serde(default)]
    pub allowed_servers: Vec<String>,
    /// Channel ids clara may answer in (`DISCORD_ALLOWED_CHANNELS`). Empty: every channel.
    #[serde(default)]
    pub allowed_channels: Vec<String>,
    /// Role ids a member needs for clara to answer (`DISCORD_ALLOWED_ROLES`). Empty: anyone.
    #[serde(default)]
    pub allowed_roles: Vec<String>,
    /// Name of the role that may use admin commands, besides Manage Channels.
    #[serde(default = "default_admin_role")]
    pub admin_role: String,
    /// Mode of channels not listed in `channels`.
    #[serde(default)]
    pub default_channel_mode: ChannelMode,
    /// Per-channel settings by channel id. An admin's `/clara channel` command overrides these
    /// at run time.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelSettings>,
    /// How many messages of a reply chain become part of the turn.
    #[serde(default = "default_reply_chain_limit")]
    pub reply_chain_limit: u32,
    /// Stream replies by editing the sent message as text arrives.
    #[serde(default = "yes")]
    pub stream: bool,
    /// Shortest time between two edits of a streamed reply, in milliseconds.
    #[serde(default = "default_edit_interval_ms")]
    #[schemars(range(min = 200))]
    pub edit_interval_ms: u32,
    /// Split replies longer than this many characters (Discord's limit is 2000).
    #[serde(default = "default_split_chars")]
    #[schemars(range(min = 100, max = 2000))]
    pub split_chars: u32,
    /// Seconds between typing-indicator refreshes while a turn runs.
    #[serde(default = "default_typing_refresh_secs")]
    #[schemars(range(min = 1, max = 10))]
    pub typing_refresh_secs: u32,
    /// Post "queued (position N)" notices when a channel is busy.
    #[serde(default = "yes")]
    pub queue_notices: bool,
    /// In active channels, answer a backlog of queued messages in one combined turn.
    #[serde(default = "yes")]
    pub batch_active_channels: bool,
    /// Post `-# 🔧 …` status lines while tools run.
    #[serde(default = "yes")]
    pub tool_status: bool,
    /// The reaction put on a message that repeats one the same user sent moments ago (within
    /// the message pipeline's `ingest.dedupe_window_secs`), which is not answered again.
    /// Empty: no reaction.
    #[serde(default = "default_duplicate_reaction")]
    pub duplicate_reaction: String,
    /// The lines the adapter posts about its own work (queue, backlog, stop).
    #[serde(default)]
    pub notices: DiscordNotices,
    /// Attachment handling.
    #[serde(default)]
    pub attachments: AttachmentLimits,
    /// Which shards this instance runs; leave out to run them all.
    #[serde(default)]
    pub shards: Option<ShardRange>,
    /// Gateway to connect to instead of Discord's (`ws://` or `wss://`), e.g. a gateway proxy.
    #[serde(default)]
    pub gateway_url: Option<String>,
    /// `host:port` of a plain-HTTP REST proxy (such as twilight-http-proxy) that API calls go
    /// through instead of discord.com.
    #[serde(default)]
    pub api_proxy: Option<String>,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            token_env: default_token_env(),
            allowed_servers: Vec::new(),
            allowed_channels: Vec::new(),
            allowed_roles: Vec::new(),
            admin_role: default_admin_role(),
            default_channel_mode: ChannelMode::default(),
            channels: BTreeMap::new(),
            reply_chain_limit: default_reply_chain_limit(),
            stream: true,
            edit_interval_ms: default_edit_interval_ms(),
            split_chars: default_split_chars(),
            typing_refresh_secs: default_typing_refresh_secs(),
            queue_notices: true,
            batch_active_channels: true,
            tool_status: true,
            duplicate_reaction: default_duplicate_reaction(),
            notices: DiscordNotices::default(),
            attachments: AttachmentLimits::default(),
            shards: None,
            gateway_url: None,
            api_proxy: None,
        }
    }
}

/// When clara answers in a server channel.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChannelMode {
    /// Answer every message.
    Active,
    /// Answer when mentioned or replied to.
    #[default]
    Mention,
    /// Never answer.
    Off,
}

impl ChannelMode {
    /// Every mode, in the order they are offered.
    pub const ALL: [ChannelMode; 3] = [ChannelMode::Active, ChannelMode::Mention, ChannelMode::Off];

    /// The mode's name, as written in `clara.toml` and stored by `/clara channel`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelMode::Active => "active",
            ChannelMode::Mention => "mention",
            ChannelMode::Off => "off",
        }
    }

    /// The mode named `name`, if any.
    pub fn named(name: &str) -> Option<ChannelMode> {
        ChannelMode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// Settings for one Discord channel.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// When clara answers here.
    pub mode: ChannelMode,
}

/// Limits for attachments (MyPalClara's `DISCORD_MAX_*` settings).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AttachmentLimits {
    /// Longest image edge after resizing, in pixels.
    #[serde(default = "default_max_image_dimension")]
    #[schemars(range(min = 64))]
    pub max_image_dimension: u32,
    /// Largest image sent to a model after resizing, in bytes.
    #[serde(default = "default_max_image_bytes")]
    pub max_image_bytes: u64,
    /// Images per model request; more are sent in batches across calls.
    #[serde(default = "default_max_images_per_request")]
    #[schemars(range(min = 1))]
    pub max_images_per_request: u32,
    /// Largest text file inlined into the message, in bytes.
    #[serde(default = "default_max_text_file_bytes")]
    pub max_text_file_bytes: u64,
    /// Save every attachment to the sender's file storage.
    #[serde(default = "yes")]
    pub save_originals: bool,
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        Self {
            max_image_dimension: default_max_image_dimension(),
            max_image_bytes: default_max_image_bytes(),
            max_images_per_request: default_max_images_per_request(),
            max_text_file_bytes: default_max_text_file_bytes(),
            save_originals: true,
        }
    }
}

/// The shards one instance runs, so several instances can share one bot.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardRange {
    /// Shard ids run by this instance.
    pub ids: Vec<u32>,
    /// Total number of shards across all instances.
    #[schemars(range(min = 1))]
    pub total: u32,
}

/// The terminal adapter (`clara chat`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// Allow `clara chat`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// User id when `--user` is not given.
    #[serde(default = "default_chat_user")]
    pub user: String,
    /// Talk in this channel when `--channel` is not given. Unset: a direct conversation.
    #[serde(default)]
    pub channel: Option<String>,
    /// Print the reply as it streams in.
    #[serde(default = "yes")]
    pub stream: bool,
    /// Print a status line (`🎲 Rolling dice…`) to stderr while a tool runs.
    #[serde(default = "yes")]
    pub tool_status: bool,
    /// That status line. `{emoji}` and `{label}` are the tool's (its manifest's `status`),
    /// `{step}` its number in the turn.
    #[serde(default = "default_tool_status_line")]
    pub tool_status_line: String,
    /// Printed to stderr instead of an answer when a line repeats one sent moments ago (within
    /// the message pipeline's `ingest.dedupe_window_secs`).
    #[serde(default = "default_duplicate_notice")]
    pub duplicate_notice: String,
    /// Printed when an interactive chat starts on a terminal. `{persona}`, `{provider}` and
    /// `{model}` are replaced by what answers. Piped input gets no greeting.
    #[serde(default = "default_greeting")]
    pub greeting: String,
    /// The prompt before each line typed on a terminal.
    #[serde(default = "default_prompt")]
    pub prompt: String,
    /// Printed on a terminal when the model's answer is empty.
    #[serde(default = "default_empty_notice")]
    pub empty_notice: String,
    /// Printed on a terminal when a stop phrase ended the turn without an answer.
    #[serde(default = "default_stop_notice")]
    pub stop_notice: String,
    /// Printed after the reply for each file a tool sent (`send_local_file`): `{name}`,
    /// `{size}` (e.g. `12.5 KB`) and `{path}`, where it is kept.
    #[serde(default = "default_file_notice")]
    pub file_notice: String,
    /// Where `clara chat --connect` keeps files a remote clara sends (relative to the root);
    /// a name already there gets ` (2)`, ` (3)`… rather than being replaced.
    #[serde(default = "default_received_dir")]
    pub received_dir: String,
    /// How a tool call waiting for approval is put to the person at the terminal (or piped
    /// input), on stderr; `{question}` is the tool loop's `approval_question`. A line starting
    /// with `y` approves; anything else denies.
    #[serde(default = "default_approval_prompt")]
    pub approval_prompt: String,
    /// Where lines typed on a terminal are remembered for ↑ (relative to the root; empty: not
    /// kept between chats).
    #[serde(default = "default_history_file")]
    pub history_file: String,
}

impl ChatConfig {
    /// The `file_notice` line for a file `name` of `bytes` kept at `path`.
    pub fn file_line(&self, name: &str, bytes: u64, path: &std::path::Path) -> String {
        fill(
            &self.file_notice,
            &[
                ("name", name),
                ("size", &human_size(bytes)),
                ("path", &path.display().to_string()),
            ],
        )
    }
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            user: default_chat_user(),
            channel: None,
            stream: true,
            tool_status: true,
            tool_status_line: default_tool_status_line(),
            duplicate_notice: default_duplicate_notice(),
            greeting: default_greeting(),
            prompt: default_prompt(),
            empty_notice: default_empty_notice(),
            stop_notice: default_stop_notice(),
            file_notice: default_file_notice(),
            received_dir: default_received_dir(),
            approval_prompt: default_approval_prompt(),
            history_file: default_history_file(),
        }
    }
}

fn default_greeting() -> String {
    "{persona} is listening ({provider}, {model}). Type a message and press Enter; ↑ recalls \
     earlier lines, Ctrl-D quits."
        .to_owned()
}
fn default_tool_status_line() -> String {
    "{emoji} {label}…".to_owned()
}
fn default_prompt() -> String {
    "you › ".to_owned()
}
fn default_empty_notice() -> String {
    "(no answer: the model replied with nothing)".to_owned()
}
fn default_approval_prompt() -> String {
    "{question} [y/N] ".to_owned()
}
fn default_file_notice() -> String {
    "📎 {name} ({size}): {path}".to_owned()
}
fn default_received_dir() -> String {
    "data/received".to_owned()
}
fn default_stop_notice() -> String {
    "(stopped)".to_owned()
}
fn default_history_file() -> String {
    "data/chat_history".to_owned()
}

fn default_token_env() -> String {
    "DISCORD_BOT_TOKEN".to_owned()
}
fn default_admin_role() -> String {
    "Clara-Admin".to_owned()
}
fn default_reply_chain_limit() -> u32 {
    10
}
fn default_edit_interval_ms() -> u32 {
    1000
}
fn default_split_chars() -> u32 {
    1980
}
fn default_typing_refresh_secs() -> u32 {
    8
}
fn default_max_image_dimension() -> u32 {
    1568
}
fn default_max_image_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_max_images_per_request() -> u32 {
    1
}
fn default_max_text_file_bytes() -> u64 {
    100 * 1024
}
fn default_chat_user() -> String {
    "cli-user".to_owned()
}
fn default_duplicate_reaction() -> String {
    "🔁".to_owned()
}
fn default_duplicate_notice() -> String {
    "(the same message came in moments ago, so it is not answered twice)".to_owned()
}
