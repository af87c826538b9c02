//! Per-message state: what came in, and everything the steps add as they run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clara_config::model::common::Tier;
use clara_config::model::steps::RateLimitStep;

use super::event_data::EventData;
use super::events::Event;
use super::meter::{Meter, NamedBudget, TurnSpend};
use super::sent_file::SentFiles;

use crate::llm::{ChatResponse, Message};
use crate::store::Session;

/// Where a message was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// Stable id: `dm-<user>` or `channel-<id>`.
    pub id: String,
    /// A private conversation with clara.
    pub is_dm: bool,
    /// Channel name, for channels.
    pub channel_name: Option<String>,
    /// Server name, for channels.
    pub server_name: Option<String>,
}

/// A message as an adapter hands it to the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    /// `discord`, `chat`, …
    pub platform: String,
    /// The author's id, e.g. `discord-1234` or `cli-user`.
    pub user_id: String,
    /// The author's display name.
    pub user_name: String,
    /// Whether the author is a bot.
    pub from_bot: bool,
    /// Whether the author may use admin-only tools (the adapter decides: a Discord admin
    /// role, the operator at the terminal).
    pub is_admin: bool,
    /// Where it was written.
    pub conversation: Conversation,
    /// The text.
    pub text: String,
    /// Attached images: (media type, base64).
    pub images: Vec<(String, String)>,
    /// Earlier messages of the reply chain this message answers, oldest first.
    pub reply_chain: Vec<Message>,
    /// The text already names the author of each line (`[Name]: text`, a batch of channel
    /// messages answered together), so `ingest` adds no name prefix of its own.
    pub authors_named: bool,
    /// How many attached text files the adapter put into `text`.
    pub text_files: usize,
    /// The tier the adapter asks for (the gateway's `tier_override`); it wins over a prefix
    /// and the classifier.
    pub tier_override: Option<Tier>,
}

impl Conversation {
    /// A private conversation with `user_id`.
    pub fn dm(user_id: &str) -> Conversation {
        Conversation {
            id: format!("dm-{user_id}"),
            is_dm: true,
            channel_name: None,
            server_name: None,
        }
    }

    /// A server channel, by its id (which also stands for its name where none is known).
    pub fn channel(channel_id: &str) -> Conversation {
        Conversation {
            id: format!("channel-{channel_id}"),
            is_dm: false,
            channel_name: Some(channel_id.to_owned()),
            server_name: None,
        }
    }
}

impl Incoming {
    /// A plain text message from a person: no attachments, no reply chain, no tier asked for.
    pub fn text(
        platform: &str,
        user_id: &str,
        user_name: &str,
        conversation: Conversation,
        text: String,
    ) -> Incoming {
        Incoming {
            platform: platform.to_owned(),
            user_id: user_id.to_owned(),
            user_name: user_name.to_owned(),
            from_bot: false,
            is_admin: false,
            conversation,
            text,
            images: Vec::new(),
            reply_chain: Vec::new(),
            authors_named: false,
            text_files: 0,
            tier_override: None,
        }
    }
}

/// One message on its way through a pipeline.
#[derive(Debug)]
pub struct Turn {
    /// What arrived.
    pub incoming: Incoming,
    /// This turn's id in events and logs (`msg-` and 8 hex digits).
    pub request_id: String,
    /// Run by a hook, a task or the job worker, not by a user's message.
    pub automated: bool,
    /// A step has answered already (a rate limit's reply): the steps after it are skipped
    /// and `reply` goes out as it is.
    pub answered: bool,
    /// The text as the steps have shaped it (prefixes stripped, names added).
    pub text: String,
    /// The session it belongs to, once `ingest` has stored it.
    pub session: Option<Session>,
    /// The stored id of the user's message.
    pub user_message_id: Option<i64>,
    /// The chosen tier (`None` is the provider's base model).
    pub tier: Option<Tier>,
    /// The prompt `build_context` assembled.
    pub prompt: Vec<Message>,
    /// The last model response.
    pub response: Option<ChatResponse>,
    /// The reply the user gets.
    pub reply: String,
    /// Set when a step decided the message needs no answer (a bot, a duplicate, a stop phrase).
    pub ended: Option<TurnEnd>,
    /// The caps of the `budget` step the turn passed, over and above `[budgets]`.
    pub(crate) budgets: Vec<Arc<NamedBudget>>,
    /// What the turn's model calls have spent, for per-turn caps.
    pub(crate) spent: TurnSpend,
    /// The tool call limit of the `rate_limit` step the turn passed.
    pub(crate) tool_limit: Option<Arc<RateLimitStep>>,
    /// Files its tools sent, delivered with the reply.
    pub(crate) files: SentFiles,
}

/// Why a turn ended without a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnEnd {
    /// The author is a bot.
    FromBot,
    /// The same message arrived moments ago.
    Duplicate,
    /// A stop phrase: cancel what runs in this conversation.
    StopPhrase,
    /// Nothing to say: the message was empty.
    Empty,
}

impl Turn {
    /// Who a model call of this turn, run by `pipeline` for `purpose`, is counted for.
    pub(crate) fn meter<'a>(&'a self, pipeline: &'a str, purpose: &'static str) -> Meter<'a> {
        Meter {
            user_id: Some(&self.incoming.user_id),
            conversation: Some(&self.incoming.conversation.id),
            pipeline: Some(pipeline),
            purpose,
            turn: Some((&self.incoming.platform, &self.request_id)),
            automated: self.automated,
            budgets: &self.budgets,
            spent: Some(&self.spent),
        }
    }

    /// What the turn's model calls are for, in the usage log: a user's message (`turn`), a
    /// session's summary (`summary`), or a task or hook (`task`).
    pub(crate) fn purpose(&self) -> &'static str {
        match (self.automated, self.incoming.platform.as_str()) {
            (false, _) => "turn",
            (true, "session") => "summary",
            (true, _) => "task",
        }
    }

    /// A fresh turn for `incoming`.
    pub fn new(incoming: Incoming) -> Self {
        let text = incoming.text.clone();
        let tier = incoming.tier_override;
        Turn {
            incoming,
            request_id: new_request_id(),
            automated: false,
            answered: false,
            text,
            session: None,
            user_message_id: None,
            tier,
            prompt: Vec::new(),
            response: None,
            reply: String::new(),
            ended: None,
            budgets: Vec::new(),
            spent: TurnSpend::default(),
            tool_limit: None,
            files: SentFiles::default(),
        }
    }
}

impl Turn {
    /// An event about this turn, with its platform, user, conversation and request id.
    pub fn event(&self, data: EventData) -> Event {
        Event {
            platform: Some(self.incoming.platform.clone()),
            user_id: Some(self.incoming.user_id.clone()),
            channel_id: Some(self.incoming.conversation.id.clone()),
            request_id: Some(self.request_id.clone()),
            automated: self.automated,
            data,
        }
    }
}

/// A request id unlikely to repeat: a counter mixed with the start time (splitmix64), so ids
/// from two processes started at different moments differ too.
fn new_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32
    });
    let mut z = seed.wrapping_add(
        NEXT.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("msg-{:08x}", z as u32)
}
