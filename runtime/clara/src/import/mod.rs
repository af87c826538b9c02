//! Moving in from MyPalClara (`clara import mypalclara`): its sessions and messages become
//! clara's, with their times, users (`discord-…` ids are the same in both) and conversations
//! (`default` and `dm-…` contexts are the user's direct conversation, `…channel-ID` contexts
//! the channel); its memories become clara's, with their projects and times, keeping their
//! vectors when clara embeds with the same model (else clara run embeds them again). Every
//! record is marked once imported, so a second run adds nothing.

mod mypalclara_db;

use std::collections::{HashMap, HashSet};

use clara_core::llm::Role;
use clara_core::store::{NewMemory, Store};
use serde_json::Value;

pub use mypalclara_db::{Database, memories_from_json};
use mypalclara_db::{OldMemory, Read};

/// The model MyPalClara embeds with (its vectors have 1536 dimensions).
const MYPALCLARA_EMBEDDING_MODEL: &str = "text-embedding-3-small";

/// Memories of these kinds are MyPalClara's bookkeeping (moods, topics), not facts.
const NOT_FACTS: &[&str] = &["emotional_context", "topic_mention"];

/// What an import does (or, in a dry run, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Sessions added.
    pub sessions: u64,
    /// Messages added.
    pub messages: u64,
    /// Memories added.
    pub memories: u64,
    /// Memories added with their vectors kept.
    pub vectors_kept: u64,
    /// Records already imported by an earlier run (or memories the user already has).
    pub already: u64,
    /// Records left out, and why, counted.
    pub left_out: Vec<(String, u64)>,
    /// The users seen.
    pub users: u64,
}

impl Summary {
    fn leave_out(&mut self, why: &str) {
        match self.left_out.iter_mut().find(|(w, _)| w == why) {
            Some((_, n)) => *n += 1,
            None => self.left_out.push((why.to_owned(), 1)),
        }
    }
}

/// How to import.
pub struct Options<'a> {
    /// The name the records' marks go by (one per MyPalClara installation).
    pub source: &'a str,
    /// Count only; write nothing.
    pub dry_run: bool,
    /// The model clara embeds with and its dimensions, when embeddings are on.
    pub embedding: Option<(&'a str, usize)>,
}

/// What is read, ready to import.
pub struct Found {
    /// The main database's contents.
    pub read: Read,
    /// The memory store's points.
    pub memories: Vec<OldMemory>,
}

impl Found {
    /// How many records there are (for progress).
    pub fn total(&self) -> u64 {
        (self.read.sessions.len() + self.read.messages.len() + self.memories.len()) as u64
    }
}

/// Imports `found` into `store`, calling `progress(done)` as it goes.
pub async fn import(
    store: &dyn Store,
    found: &Found,
    options: &Options<'_>,
    progress: &dyn Fn(u64),
) -> Result<Summary, String> {
    let mut summary = Summary::default();
    let mut done = 0u64;
    let failed = |what: String| move |e: clara_core::store::StoreError| format!("{what}: {e}");
    let mut users = HashSet::new();
    let mut by_session: HashMap<&str, Vec<&mypalclara_db::OldMessage>> = HashMap::new();
    for message in &found.read.messages {
        by_session
            .entry(&message.session_id)
            .or_default()
            .push(message);
    }
    for old in &found.read.sessions {
        users.insert(old.user_id.clone());
        let marked = store
            .imported(options.source, "session", &old.id)
            .await
            .map_err(failed(format!("session {}", old.id)))?;
        let messages = by_session.remove(old.id.as_str()).unwrap_or_default();
        let session_id = match (marked, options.dry_run) {
            (Some(id), _) => {
                summary.already += 1;
                Some(id)
            }
            (None, true) => {
                summary.sessions += 1;
                None
            }
            (None, false) => {
                let conversation = conversation(&old.user_id, &old.context_id);
                let start =
                    || store.start_session(&old.user_id, &conversation, None, old.started_at);
                let (mut session, created) = start()
                    .await
                    .map_err(failed(format!("session {}", old.id)))?;
                if !created {
                    // The user is talking to clara there now: that session ends here, so the
                    // old messages go into one of their own and the next message starts anew.
                    let now = chrono::Utc::now().timestamp_millis();
                    store
                        .end_session(&session.id, now)
                        .await
                        .map_err(failed(format!("session {}", old.id)))?;
                    session = start()
                        .await
                        .map_err(failed(format!("session {}", old.id)))?
                        .0;
                }
                store
                    .mark_imported(options.source, "session", &old.id, &session.id)
                    .await
                    .map_err(failed(format!("session {}", old.id)))?;
                summary.sessions += 1;
                Some(session.id)
            }
        };
        done += 1;
        for message in &messages {
            let role = match message.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => {
                    summary.leave_out("messages of another role than user or assistant");
                    done += 1;
                    continue;
                }
            };
            let marked = store
                .imported(options.source, "message", &message.id)
                .await
                .map_err(failed(format!("message {}", message.id)))?;
            if marked.is_some() {
                summary.already += 1;
            } else if let Some(session_id) = session_id.as_deref().filter(|_| !options.dry_run) {
                let author = matches!(role, Role::User).then_some(old.user_id.as_str());
                let at = message.created_at.unwrap_or(old.last_activity_at);
                let id = store
                    .add_message(session_id, role, author, &message.content, at)
                    .await
                    .map_err(failed(format!("message {}", message.id)))?;
                store
                    .mark_imported(options.source, "message", &message.id, &id.to_string())
                    .await
                    .map_err(failed(format!("message {}", message.id)))?;
                summary.messages += 1;
            } else {
                summary.messages += 1;
            }
            done += 1;
            progress(done);
        }
        if let Some(session_id) = session_id.as_deref().filter(|_| !options.dry_run) {
            if let Some(text) = &old.summary {
                store
                    .set_summary(session_id, text)
                    .await
                    .map_err(failed(format!("session {}", old.id)))?;
            }
            // Imported sessions are history: the next message starts a new one.
            store
                .end_session(session_id, old.last_activity_at)
                .await
                .map_err(failed(format!("session {}", old.id)))?;
        }
        progress(done);
    }
    for messages in by_session.values() {
        for _ in messages {
            summary.leave_out("messages of a session that is not there");
            done += 1;
        }
    }
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    for old in &found.memories {
        done += 1;
        progress(done);
        let payload = &old.payload;
        let text = payload
            .get("data")
            .or_else(|| payload.get("memory"))
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        let Some(user_id) = payload.get("user_id").and_then(Value::as_str) else {
            summary.leave_out("memories without a user_id");
            continue;
        };
        if text.is_empty() {
            summary.leave_out("memories without text");
            continue;
        }
        if let Some(kind) = payload.get("memory_type").and_then(Value::as_str)
            && NOT_FACTS.contains(&kind)
        {
            summary.leave_out(&format!("`{kind}` memories (not facts)"));
            continue;
        }
        users.insert(user_id.to_owned());
        let marked = store
            .imported(options.source, "memory", &old.id)
            .await
            .map_err(failed(format!("memory {}", old.id)))?;
        if !known.contains_key(user_id) {
            let texts = store
                .memories_of(user_id)
                .await
                .map_err(failed(format!("memory {}", old.id)))?
                .into_iter()
                .map(|m| m.text)
                .collect();
            known.insert(user_id.to_owned(), texts);
        }
        let texts = known.get_mut(user_id).expect("just filled");
        if marked.is_some() || texts.contains(text) {
            summary.already += 1;
            continue;
        }
        texts.insert(text.to_owned());
        let embedding = options
            .embedding
            .filter(|(model, _)| same_model(model))
            .zip(old.vector.clone())
            .filter(|((_, dimensions), vector)| vector.len() == *dimensions)
            .map(|((model, _), vector)| (model.to_owned(), vector));
        if embedding.is_some() {
            summary.vectors_kept += 1;
        }
        summary.memories += 1;
        if options.dry_run {
            continue;
        }
        let project = payload.get("project_id").and_then(Value::as_str).map(|id| {
            found
                .read
                .projects
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_owned())
        });
        let is_key = match payload.get("is_key") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        let at = ["created_at", "updated_at"]
            .iter()
            .find_map(|k| {
                payload
                    .get(*k)
                    .and_then(Value::as_str)
                    .and_then(mypalclara_db::parse_time)
            })
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let new = NewMemory {
            user_id: user_id.to_owned(),
            project,
            text: text.to_owned(),
            is_key,
            embedding,
        };
        let memory = store
            .add_memory(new, at)
            .await
            .map_err(failed(format!("memory {}", old.id)))?;
        store
            .mark_imported(options.source, "memory", &old.id, &memory.id)
            .await
            .map_err(failed(format!("memory {}", old.id)))?;
    }
    if found.read.channel_summaries > 0 {
        summary.left_out.push((
            "channel summaries (clara summarises sessions instead)".to_owned(),
            found.read.channel_summaries as u64,
        ));
    }
    summary.users = users.len() as u64;
    Ok(summary)
}

/// Whether clara's embedding model is MyPalClara's (`openai/text-embedding-3-small` on a
/// router is the same model).
fn same_model(model: &str) -> bool {
    model.rsplit('/').next() == Some(MYPALCLARA_EMBEDDING_MODEL)
}

/// clara's conversation for a MyPalClara context of `user_id`.
fn conversation(user_id: &str, context: &str) -> String {
    if let Some(channel) = context
        .strip_prefix("discord-channel-")
        .or_else(|| context.strip_prefix("channel-"))
    {
        return format!("channel-{channel}");
    }
    if context == "default" || context.is_empty() {
        return format!("dm-{user_id}");
    }
    context.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_become_clara_conversations() {
        assert_eq!(conversation("discord-1", "default"), "dm-discord-1");
        assert_eq!(
            conversation("discord-1", "discord-channel-42"),
            "channel-42"
        );
        assert_eq!(conversation("discord-1", "channel-42"), "channel-42");
        assert_eq!(conversation("discord-1", "dm-discord-1"), "dm-discord-1");
        assert_eq!(conversation("discord-1", "teams-7"), "teams-7");
        assert!(same_model("openai/text-embedding-3-small"));
        assert!(same_model("text-embedding-3-small"));
        assert!(!same_model("text-embedding-3-large"));
    }
}
