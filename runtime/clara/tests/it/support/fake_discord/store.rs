//! What the fake Discord remembers: messages per channel (the bot's and the users' the test
//! injected), reactions, typing, registered commands, interaction responses and served files.

use super::{FakeDiscord, id_of};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A message as the fake stores it.
#[derive(Debug, Clone)]
pub struct FakeMessage {
    pub id: u64,
    pub channel_id: u64,
    pub author_id: u64,
    /// Posted over REST by the bot, not injected by the test.
    pub from_bot: bool,
    /// The current content.
    pub content: String,
    /// Every content it had, in order: the original first, then one per edit.
    pub edits: Vec<String>,
    /// The id of the message it replies to.
    pub reference: Option<u64>,
    pub deleted: bool,
    /// Filenames of its attachments.
    pub attachments: Vec<String>,
    /// The full message object as the fake last returned it.
    pub json: Value,
}

/// A reaction the bot added (`added`) or removed, with the emoji decoded (`👀`, `name:id`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub channel: u64,
    pub message: u64,
    pub emoji: String,
    pub added: bool,
}

/// What the bot did with one interaction.
#[derive(Debug, Clone, Default)]
pub struct FakeInteraction {
    pub channel_id: u64,
    /// Every callback body (`{"type": 4, "data": {...}}`) in order.
    pub callbacks: Vec<Value>,
    /// The original response, created by the first callback and edited via `@original`.
    pub original: Option<FakeMessage>,
    /// Follow-up messages (`POST /webhooks/{app}/{token}`).
    pub followups: Vec<FakeMessage>,
}

pub(super) struct Stored {
    pub json: Value,
    pub from_bot: bool,
    pub edits: Vec<String>,
    pub deleted: bool,
    pub attachments: Vec<String>,
}

impl Stored {
    pub(super) fn new(json: Value, from_bot: bool) -> Stored {
        let edits = vec![json["content"].as_str().unwrap_or_default().to_owned()];
        let files = json["attachments"].as_array().cloned().unwrap_or_default();
        let attachments = files
            .iter()
            .filter_map(|a| a["filename"].as_str().map(str::to_owned))
            .collect();
        Stored {
            json,
            from_bot,
            edits,
            deleted: false,
            attachments,
        }
    }

    /// Applies a PATCH body (content, embeds, …) and returns the updated message.
    pub(super) fn edit(&mut self, body: &Value) -> Value {
        if let Some(content) = body.get("content") {
            let content = content.as_str().unwrap_or_default().to_owned();
            self.json["content"] = json!(content);
            self.edits.push(content);
        }
        if let Some(embeds) = body.get("embeds") {
            self.json["embeds"] = super::rest::embeds_of(embeds);
        }
        if let Some(components) = body.get("components") {
            self.json["components"] = components.clone();
        }
        self.json["edited_timestamp"] = json!(super::payloads::timestamp());
        self.json.clone()
    }

    fn view(&self) -> FakeMessage {
        let json = &self.json;
        FakeMessage {
            id: id_of(&json["id"]).unwrap_or(0),
            channel_id: id_of(&json["channel_id"]).unwrap_or(0),
            author_id: id_of(&json["author"]["id"]).unwrap_or(0),
            from_bot: self.from_bot,
            content: json["content"].as_str().unwrap_or_default().to_owned(),
            edits: self.edits.clone(),
            reference: id_of(&json["message_reference"]["message_id"]),
            deleted: self.deleted,
            attachments: self.attachments.clone(),
            json: json.clone(),
        }
    }
}

pub(super) struct InteractionLog {
    pub channel_id: u64,
    /// The message whose component was used, for a component interaction.
    pub message_id: Option<u64>,
    pub callbacks: Vec<Value>,
    pub original: Option<Stored>,
    pub followups: Vec<Stored>,
}

#[derive(Default)]
pub(super) struct Store {
    messages: BTreeMap<u64, Vec<Stored>>,
    pub reactions: Vec<Reaction>,
    pub typing: Vec<u64>,
    /// Registered commands by guild (`None`: global).
    pub commands: BTreeMap<Option<u64>, Vec<Value>>,
    pub interactions: BTreeMap<String, InteractionLog>,
    /// Served files by path (`/attachments/N/name`): bytes and content type.
    pub files: BTreeMap<String, (Vec<u8>, String)>,
}

impl Store {
    pub(super) fn insert(&mut self, channel: u64, json: Value, from_bot: bool) {
        self.messages
            .entry(channel)
            .or_default()
            .push(Stored::new(json, from_bot));
    }

    /// A live (not deleted) message.
    pub(super) fn get_mut(&mut self, channel: u64, id: u64) -> Option<&mut Stored> {
        let messages = self.messages.get_mut(&channel)?;
        messages
            .iter_mut()
            .find(|m| !m.deleted && id_of(&m.json["id"]) == Some(id))
    }

    pub(super) fn json_of(&mut self, channel: u64, id: u64) -> Option<Value> {
        self.get_mut(channel, id).map(|m| m.json.clone())
    }

    pub(super) fn delete(&mut self, channel: u64, id: u64) -> bool {
        self.get_mut(channel, id)
            .map(|m| m.deleted = true)
            .is_some()
    }

    /// The live messages of `channel`, newest first, as `GET /channels/{c}/messages` lists them.
    pub(super) fn history(&self, channel: u64) -> Vec<Value> {
        let messages = self
            .messages
            .get(&channel)
            .map(Vec::as_slice)
            .unwrap_or_default();
        messages
            .iter()
            .rev()
            .filter(|m| !m.deleted)
            .map(|m| m.json.clone())
            .collect()
    }

    pub(super) fn open_interaction(
        &mut self,
        token: &str,
        channel_id: u64,
        message_id: Option<u64>,
    ) {
        let log = InteractionLog {
            channel_id,
            message_id,
            callbacks: Vec::new(),
            original: None,
            followups: Vec::new(),
        };
        self.interactions.insert(token.to_owned(), log);
    }
}

impl FakeDiscord {
    /// The messages the bot posted in `channel`, oldest first, deleted ones included (flagged).
    pub fn messages_in(&self, channel: u64) -> Vec<FakeMessage> {
        let mut messages = self.all_messages_in(channel);
        messages.retain(|m| m.from_bot);
        messages
    }

    /// Every message in `channel`, the bot's and the injected users', oldest first.
    pub fn all_messages_in(&self, channel: u64) -> Vec<FakeMessage> {
        let state = self.state();
        let messages = state
            .store
            .messages
            .get(&channel)
            .map(Vec::as_slice)
            .unwrap_or_default();
        messages.iter().map(Stored::view).collect()
    }

    /// One message by id, deleted or not.
    pub fn message(&self, channel: u64, id: u64) -> Option<FakeMessage> {
        self.all_messages_in(channel)
            .into_iter()
            .find(|m| m.id == id)
    }

    /// The emojis currently on `message` from the bot (added and not removed since), in the
    /// order they were added.
    pub fn reactions_on(&self, channel: u64, message: u64) -> Vec<String> {
        let mut current: Vec<String> = Vec::new();
        for r in self
            .reactions()
            .iter()
            .filter(|r| r.channel == channel && r.message == message)
        {
            current.retain(|e| *e != r.emoji);
            if r.added {
                current.push(r.emoji.clone());
            }
        }
        current
    }

    /// Every reaction the bot added or removed, in order.
    pub fn reactions(&self) -> Vec<Reaction> {
        self.state().store.reactions.clone()
    }

    /// How many typing indicators the bot triggered in `channel`.
    pub fn typing_count(&self, channel: u64) -> usize {
        self.state()
            .store
            .typing
            .iter()
            .filter(|c| **c == channel)
            .count()
    }

    /// The commands registered for `guild` (`None`: globally), as the fake returned them.
    pub fn commands(&self, guild: Option<u64>) -> Vec<Value> {
        self.state()
            .store
            .commands
            .get(&guild)
            .cloned()
            .unwrap_or_default()
    }

    /// What the bot did with the interaction whose token is `token` (sent with
    /// [`FakeDiscord::send_interaction`]), or `None` for an unknown token.
    pub fn interaction(&self, token: &str) -> Option<FakeInteraction> {
        let state = self.state();
        let log = state.store.interactions.get(token)?;
        Some(FakeInteraction {
            channel_id: log.channel_id,
            callbacks: log.callbacks.clone(),
            original: log.original.as_ref().map(Stored::view),
            followups: log.followups.iter().map(Stored::view).collect(),
        })
    }

    /// Serves `bytes` at a fresh `http://127.0.0.1:PORT/attachments/N/NAME` and returns that
    /// URL, for an attachment the adapter should download.
    pub fn serve_file(&self, name: &str, bytes: &[u8], content_type: &str) -> String {
        let mut state = self.state();
        let path = format!("/attachments/{}/{name}", state.store.files.len() + 1);
        let url = format!("{}{path}", state.rest_url);
        state
            .store
            .files
            .insert(path, (bytes.to_vec(), content_type.to_owned()));
        url
    }
}
