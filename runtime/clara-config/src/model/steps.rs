//! The six built-in pipeline steps and their options. Every MyPalClara constant that shapes a
//! turn is an option here, with MyPalClara's value (or a fixed version of it) as the default.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Tier, ToolCallMode, all_tools, yes};
use super::prompts;

/// One step of a pipeline, chosen by `type`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Normalise the incoming message, drop bots, detect stop phrases, drop duplicates, and
    /// store it before any model call.
    Ingest(IngestStep),
    /// Assemble the prompt: instructions, persona, context, memories, history.
    BuildContext(BuildContextStep),
    /// Choose the model tier from a message prefix or a classifier call.
    ClassifyTier(ClassifyTierStep),
    /// Call the model, streaming.
    LlmCall(LlmCallStep),
    /// Run the tool calls the model asked for and call it again, bounded.
    ToolLoop(ToolLoopStep),
    /// Store the exchange, then extract and reconcile long-term memories.
    WriteMemory(WriteMemoryStep),
}

impl Step {
    /// The step's `type` as written in pipeline files.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Ingest(_) => "ingest",
            Step::BuildContext(_) => "build_context",
            Step::ClassifyTier(_) => "classify_tier",
            Step::LlmCall(_) => "llm_call",
            Step::ToolLoop(_) => "tool_loop",
            Step::WriteMemory(_) => "write_memory",
        }
    }
}

/// Options of the `ingest` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IngestStep {
    /// Ignore messages from bots (clara itself included).
    #[serde(default = "yes")]
    pub drop_bots: bool,
    /// Remove mentions of clara from the text.
    #[serde(default = "yes")]
    pub strip_mentions: bool,
    /// Prefix channel messages with the author's display name, `[Name]: text`.
    #[serde(default = "yes")]
    pub name_prefix: bool,
    /// Phrases that cancel the channel's running turn and clear its queue
    /// (`DISCORD_STOP_PHRASES`).
    #[serde(default = "default_stop_phrases")]
    pub stop_phrases: Vec<String>,
    /// How a message is compared with the stop phrases (case-insensitive, mentions removed).
    #[serde(default)]
    pub stop_phrase_match: PhraseMatch,
    /// The same text from the same user in the same channel within this many seconds is
    /// dropped as a duplicate; 0 disables.
    #[serde(default = "default_dedupe_window_secs")]
    pub dedupe_window_secs: u32,
    /// Longest message kept, in characters; the rest is cut with a note.
    #[serde(default = "default_max_message_chars")]
    #[schemars(range(min = 1))]
    pub max_message_chars: u32,
}

impl Default for IngestStep {
    fn default() -> Self {
        Self {
            drop_bots: true,
            strip_mentions: true,
            name_prefix: true,
            stop_phrases: default_stop_phrases(),
            stop_phrase_match: PhraseMatch::default(),
            dedupe_window_secs: default_dedupe_window_secs(),
            max_message_chars: default_max_message_chars(),
        }
    }
}

/// How a message is compared with a phrase.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PhraseMatch {
    /// The whole message is the phrase.
    #[default]
    Exact,
    /// The phrase appears anywhere in the message.
    Contains,
}

/// Options of the `build_context` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildContextStep {
    /// Which conversation's messages become the history.
    #[serde(default)]
    pub history_source: HistorySource,
    /// Recent messages included, oldest first.
    #[serde(default = "default_history_messages")]
    pub history_messages: u32,
    /// Prefix the user's history messages with the time they were sent.
    #[serde(default = "yes")]
    pub history_timestamps: bool,
    /// strftime format of those times (e.g. `%-I:%M %p` gives `9:05 AM`).
    #[serde(default = "default_timestamp_format")]
    pub timestamp_format: String,
    /// strftime format of `now` in the context block.
    #[serde(default = "default_now_format")]
    pub now_format: String,
    /// IANA time zone for shown times. Defaults to `defaults.timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Include the previous session's summary and its last messages.
    #[serde(default = "yes")]
    pub previous_session: bool,
    /// Include the reply chain the message answers (Discord).
    #[serde(default = "yes")]
    pub reply_chain: bool,
    /// Include long-term memories.
    #[serde(default = "yes")]
    pub memories: bool,
    /// Only the last this many characters of the message are used as the memory search query.
    #[serde(default = "default_memory_query_chars")]
    #[schemars(range(min = 1))]
    pub memory_query_chars: u32,
    /// Key memories (identity, relationships, health, work, home) always included, at most.
    #[serde(default = "default_key_memories")]
    pub key_memories: u32,
    /// User memories found by search, at most.
    #[serde(default = "default_user_memories")]
    pub user_memories: u32,
    /// Project memories found by search, at most.
    #[serde(default = "default_project_memories")]
    pub project_memories: u32,
    /// Memories scoring below this (0 to 1) are left out.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_memory_score: f32,
    /// System instructions before the persona (tera template).
    #[serde(default = "default_instructions_template")]
    pub instructions_template: String,
    /// The current-context block (tera template).
    #[serde(default = "default_context_template")]
    pub context_template: String,
    /// The memory block (tera template); left out of the prompt when it renders empty.
    #[serde(default = "default_memories_template")]
    pub memories_template: String,
}

impl Default for BuildContextStep {
    fn default() -> Self {
        Self {
            history_source: HistorySource::default(),
            history_messages: default_history_messages(),
            history_timestamps: true,
            timestamp_format: default_timestamp_format(),
            now_format: default_now_format(),
            timezone: None,
            previous_session: true,
            reply_chain: true,
            memories: true,
            memory_query_chars: default_memory_query_chars(),
            key_memories: default_key_memories(),
            user_memories: default_user_memories(),
            project_memories: default_project_memories(),
            min_memory_score: 0.0,
            instructions_template: default_instructions_template(),
            context_template: default_context_template(),
            memories_template: default_memories_template(),
        }
    }
}

/// Where a pipeline's history comes from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    /// The session the message belongs to.
    #[default]
    CurrentSession,
    /// The session that just ended (for `session_end` pipelines).
    EndedSession,
}

/// Options of the `classify_tier` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyTierStep {
    /// Message prefixes that pick a tier (case-insensitive, at the start of the message).
    #[serde(default)]
    pub prefixes: TierPrefixes,
    /// Remove the prefix from the text the model sees.
    #[serde(default = "yes")]
    pub strip_prefix: bool,
    /// Without a prefix, ask the low tier to classify the message (`AUTO_TIER_SELECTION`).
    #[serde(default)]
    pub classifier: bool,
    /// The classifier's prompt (tera template; variables `message`, `context`).
    #[serde(default = "default_classifier_prompt")]
    pub classifier_prompt: String,
    /// Earlier messages the classifier sees.
    #[serde(default = "default_classifier_context_messages")]
    pub classifier_context_messages: u32,
    /// Characters of the message the classifier sees.
    #[serde(default = "default_classifier_message_chars")]
    pub classifier_message_chars: u32,
    /// Characters of each earlier message the classifier sees.
    #[serde(default = "default_classifier_context_chars")]
    pub classifier_context_chars: u32,
    /// Tier used when the classifier fails or answers something unreadable.
    #[serde(default = "default_fallback_tier")]
    pub fallback_tier: Tier,
}

impl Default for ClassifyTierStep {
    fn default() -> Self {
        Self {
            prefixes: TierPrefixes::default(),
            strip_prefix: true,
            classifier: false,
            classifier_prompt: default_classifier_prompt(),
            classifier_context_messages: default_classifier_context_messages(),
            classifier_message_chars: default_classifier_message_chars(),
            classifier_context_chars: default_classifier_context_chars(),
            fallback_tier: default_fallback_tier(),
        }
    }
}

/// Prefixes per tier.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierPrefixes {
    /// Prefixes selecting the high tier.
    #[serde(default = "default_high_prefixes")]
    pub high: Vec<String>,
    /// Prefixes selecting the mid tier.
    #[serde(default = "default_mid_prefixes")]
    pub mid: Vec<String>,
    /// Prefixes selecting the low tier.
    #[serde(default = "default_low_prefixes")]
    pub low: Vec<String>,
}

impl Default for TierPrefixes {
    fn default() -> Self {
        Self {
            high: default_high_prefixes(),
            mid: default_mid_prefixes(),
            low: default_low_prefixes(),
        }
    }
}

/// Options of the `llm_call` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmCallStep {
    /// Provider to call. Defaults to `defaults.provider`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Provider for tool-bound calls (MyPalClara's `TOOL_BASE_URL` / `TOOL_API_KEY`).
    /// Defaults to `provider`.
    #[serde(default)]
    pub tool_provider: Option<String>,
    /// A fixed tier for this call, overriding prefixes and the classifier.
    #[serde(default)]
    pub tier: Option<Tier>,
    /// Stream the reply as it is generated.
    #[serde(default = "yes")]
    pub stream: bool,
    /// Reply token limit. Defaults to the provider's.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature. Defaults to the provider's.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f32>,
    /// Tool-call mode. Defaults to the provider's.
    #[serde(default)]
    pub tool_call_mode: Option<ToolCallMode>,
    /// An instruction added as the last user message (tera template), for pipelines that ask
    /// the model for something other than a reply, such as a summary.
    #[serde(default)]
    pub instruction: Option<String>,
}

impl Default for LlmCallStep {
    fn default() -> Self {
        Self {
            provider: None,
            tool_provider: None,
            tier: None,
            stream: true,
            max_tokens: None,
            temperature: None,
            tool_call_mode: None,
            instruction: None,
        }
    }
}

/// Options of the `tool_loop` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolLoopStep {
    /// Tools this pipeline may use: names or globs. Intersected with the persona's list.
    #[serde(default = "all_tools")]
    pub tools: Vec<String>,
    /// Most model rounds with tool calls (`GATEWAY_MAX_TOOL_ITERATIONS`); then the model is
    /// asked to sum up.
    #[serde(default = "default_max_rounds")]
    #[schemars(range(min = 1))]
    pub max_rounds: u32,
    /// Most tool calls in one turn, across rounds.
    #[serde(default = "default_max_calls_per_turn")]
    #[schemars(range(min = 1))]
    pub max_calls_per_turn: u32,
    /// Longest tool result passed to the model, in characters (`GATEWAY_MAX_TOOL_RESULT_CHARS`).
    #[serde(default = "default_max_result_chars")]
    #[schemars(range(min = 100))]
    pub max_result_chars: u32,
    /// Appended to a cut result (tera template; `total_chars`, `shown_chars`).
    #[serde(default = "default_truncation_note")]
    pub truncation_note: String,
    /// Sent when the rounds are used up, asking the model to sum up.
    #[serde(default = "default_limit_reached_prompt")]
    pub limit_reached_prompt: String,
    /// Answer the model's own "shall I go ahead?" questions with a yes, a bounded number of
    /// times (`AUTO_CONTINUE_ENABLED`, `AUTO_CONTINUE_MAX`).
    #[serde(default)]
    pub auto_continue: AutoContinue,
}

impl Default for ToolLoopStep {
    fn default() -> Self {
        Self {
            tools: all_tools(),
            max_rounds: default_max_rounds(),
            max_calls_per_turn: default_max_calls_per_turn(),
            max_result_chars: default_max_result_chars(),
            truncation_note: default_truncation_note(),
            limit_reached_prompt: default_limit_reached_prompt(),
            auto_continue: AutoContinue::default(),
        }
    }
}

/// Automatic "yes, go ahead" to a model that stops to ask for permission.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoContinue {
    /// Turn it on.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Most automatic continuations per turn.
    #[serde(default = "default_auto_continue_max")]
    pub max: u32,
    /// Regular expressions (case-insensitive) matched against the end of the reply.
    #[serde(default = "default_auto_continue_patterns")]
    pub patterns: Vec<String>,
    /// How many trailing characters of the reply the patterns look at.
    #[serde(default = "default_auto_continue_tail_chars")]
    pub tail_chars: u32,
    /// The reply sent on the user's behalf.
    #[serde(default = "default_auto_continue_reply")]
    pub reply: String,
}

impl Default for AutoContinue {
    fn default() -> Self {
        Self {
            enabled: true,
            max: default_auto_continue_max(),
            patterns: default_auto_continue_patterns(),
            tail_chars: default_auto_continue_tail_chars(),
            reply: default_auto_continue_reply(),
        }
    }
}

/// Options of the `write_memory` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WriteMemoryStep {
    /// Store the reply in the session history (the user's message is stored by `ingest`).
    #[serde(default = "yes")]
    pub store_reply: bool,
    /// Extract facts about the user and reconcile them with existing memories. Runs after the
    /// reply is sent, from a durable queue.
    #[serde(default = "yes")]
    pub extract: bool,
    /// The extraction prompt (tera template; `messages`, `user_name`, `today`).
    #[serde(default = "default_extraction_prompt")]
    pub extraction_prompt: String,
    /// The reconciliation prompt (tera template; `existing`, `facts`).
    #[serde(default = "default_reconcile_prompt")]
    pub reconcile_prompt: String,
    /// Existing memories compared with each new fact.
    #[serde(default = "default_similar_per_fact")]
    #[schemars(range(min = 1))]
    pub similar_per_fact: u32,
    /// Save the model's reply as the session's summary instead of as a message
    /// (for `session_end` pipelines).
    #[serde(default)]
    pub save_as_session_summary: bool,
}

impl Default for WriteMemoryStep {
    fn default() -> Self {
        Self {
            store_reply: true,
            extract: true,
            extraction_prompt: default_extraction_prompt(),
            reconcile_prompt: default_reconcile_prompt(),
            similar_per_fact: default_similar_per_fact(),
            save_as_session_summary: false,
        }
    }
}

fn default_stop_phrases() -> Vec<String> {
    ["clara stop", "stop clara", "nevermind", "never mind"]
        .map(str::to_owned)
        .to_vec()
}
fn default_dedupe_window_secs() -> u32 {
    30
}
fn default_max_message_chars() -> u32 {
    100_000
}
fn default_history_messages() -> u32 {
    20
}
fn default_timestamp_format() -> String {
    "%-I:%M %p".to_owned()
}
fn default_now_format() -> String {
    "%A, %B %-d, %Y at %H:%M %Z".to_owned()
}
fn default_memory_query_chars() -> u32 {
    6000
}
fn default_key_memories() -> u32 {
    15
}
fn default_user_memories() -> u32 {
    35
}
fn default_project_memories() -> u32 {
    35
}
fn default_instructions_template() -> String {
    prompts::INSTRUCTIONS.to_owned()
}
fn default_context_template() -> String {
    prompts::CONTEXT.to_owned()
}
fn default_memories_template() -> String {
    prompts::MEMORIES.to_owned()
}
fn default_classifier_prompt() -> String {
    prompts::CLASSIFIER.to_owned()
}
fn default_classifier_context_messages() -> u32 {
    4
}
fn default_classifier_message_chars() -> u32 {
    500
}
fn default_classifier_context_chars() -> u32 {
    200
}
fn default_fallback_tier() -> Tier {
    Tier::Mid
}
fn default_high_prefixes() -> Vec<String> {
    vec!["!high".to_owned(), "!opus".to_owned()]
}
fn default_mid_prefixes() -> Vec<String> {
    vec!["!mid".to_owned(), "!sonnet".to_owned()]
}
fn default_low_prefixes() -> Vec<String> {
    ["!low", "!haiku", "!fast"].map(str::to_owned).to_vec()
}
fn default_max_rounds() -> u32 {
    75
}
fn default_max_calls_per_turn() -> u32 {
    200
}
fn default_max_result_chars() -> u32 {
    50_000
}
fn default_truncation_note() -> String {
    prompts::TRUNCATION_NOTE.to_owned()
}
fn default_limit_reached_prompt() -> String {
    prompts::LIMIT_REACHED.to_owned()
}
fn default_auto_continue_max() -> u32 {
    3
}
fn default_auto_continue_patterns() -> Vec<String> {
    // MyPalClara's list minus "let me know if" and "i can … if you like", which matched
    // ordinary sign-offs and made the model keep talking.
    [
        r"want me to .*\?",
        r"should i .*\?",
        r"shall i .*\?",
        r"would you like me to .*\?",
        r"ready to proceed\?",
        r"\bproceed\?",
        r"go ahead\?",
        r"do you want me to .*\?",
    ]
    .map(str::to_owned)
    .to_vec()
}
fn default_auto_continue_tail_chars() -> u32 {
    200
}
fn default_auto_continue_reply() -> String {
    "Yes, please proceed.".to_owned()
}
fn default_extraction_prompt() -> String {
    prompts::EXTRACTION.to_owned()
}
fn default_reconcile_prompt() -> String {
    prompts::RECONCILE.to_owned()
}
fn default_similar_per_fact() -> u32 {
    5
}
