//! Per-message state: what came in, and everything the steps add as they run.

use clara_config::model::common::Tier;

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
}

/// One message on its way through a pipeline.
#[derive(Debug)]
pub struct Turn {
    /// What arrived.
    pub incoming: Incoming,
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
    /// A fresh turn for `incoming`.
    pub fn new(incoming: Incoming) -> Self {
        let text = incoming.text.clone();
        Turn {
            incoming,
            text,
            session: None,
            user_message_id: None,
            tier: None,
            prompt: Vec::new(),
            response: None,
            reply: String::new(),
            ended: None,
        }
    }
}
