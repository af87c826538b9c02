//! A reply on its way to Discord: text streams in, the sent message is edited at most once per
//! interval, and text past the length limit continues in new messages (fences kept whole).
//! Each chunk is sent once; later flushes only edit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clara_core::engine::{SentFile, SentFiles};
use tokio::sync::mpsc;
use twilight_http::Client;
use twilight_model::channel::message::{AllowedMentions, Component, MessageFlags};
use twilight_model::http::attachment::Attachment;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker};

use super::split::{close_open_fence, split};

/// Discord's longest message, in characters.
const DISCORD_LIMIT: usize = 2000;

/// What reaches a reply while its turn runs.
#[derive(Debug)]
pub enum Update {
    /// More reply text.
    Text(String),
    /// A tool status line (`-# 🔧 Looking up issues… (step 2)`), posted on its own.
    Status(String),
}

/// How a reply is written.
#[derive(Clone, Debug)]
pub struct Style {
    /// Edit the message as text arrives.
    pub stream: bool,
    /// Shortest time between two edits.
    pub edit_interval: Duration,
    /// Longest message, in characters.
    pub limit: usize,
}

/// The messages of one reply.
pub struct Reply {
    http: Arc<Client>,
    channel: Id<ChannelMarker>,
    answering: Option<Id<MessageMarker>>,
    style: Style,
    text: String,
    sent: Vec<(Id<MessageMarker>, String)>,
    last_edit: Option<Instant>,
    failure: Option<String>,
}

impl Reply {
    /// A reply in `channel`, its first message answering `answering` (without pinging).
    pub fn new(
        http: Arc<Client>,
        channel: Id<ChannelMarker>,
        answering: Option<Id<MessageMarker>>,
        style: Style,
    ) -> Reply {
        Reply {
            http,
            channel,
            answering,
            style,
            text: String::new(),
            sent: Vec::new(),
            last_edit: None,
            failure: None,
        }
    }

    /// Applies updates until the sender is dropped, editing at the configured rate.
    pub async fn follow(&mut self, mut updates: mpsc::UnboundedReceiver<Update>) {
        let mut dirty = false;
        loop {
            let due = self
                .last_edit
                .map_or_else(Instant::now, |at| at + self.style.edit_interval);
            tokio::select! {
                update = updates.recv() => match update {
                    Some(Update::Text(delta)) => {
                        self.text.push_str(&delta);
                        dirty = self.style.stream;
                    }
                    Some(Update::Status(line)) => post_quietly(&self.http, self.channel, &line).await,
                    None => return,
                },
                () = tokio::time::sleep_until(due.into()), if dirty => {
                    self.flush(false).await;
                    dirty = false;
                }
            }
        }
    }

    /// The reply so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Makes `text` the whole reply and sends what is missing: the final word on what the
    /// messages say. Messages no longer needed (a final text shorter than what streamed) are
    /// deleted.
    pub async fn finish(&mut self, text: &str) -> Result<(), String> {
        self.text = text.to_owned();
        // A streaming edit that failed matters only if the final one fails too.
        self.failure = None;
        self.flush(true).await;
        let keep = split(&self.text, self.style.limit).len();
        while self.sent.len() > keep {
            let (id, _) = self.sent.pop().expect("more sent than kept");
            if let Err(error) = self.http.delete_message(self.channel, id).await {
                tracing::warn!(%error, "a message of a shortened reply could not be deleted");
            }
        }
        match self.failure.take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Puts link buttons (`(label, url)`, at most five) under the reply's last message.
    pub async fn add_link_buttons(&self, links: &[(String, String)]) -> Result<(), String> {
        let Some(&(id, _)) = self.sent.last() else {
            return Ok(());
        };
        if links.is_empty() {
            return Ok(());
        }
        let buttons: Vec<serde_json::Value> = links
            .iter()
            .take(5)
            .map(|(label, url)| serde_json::json!({"type": 2, "style": 5, "label": label, "url": url}))
            .collect();
        let row = serde_json::json!([{"type": 1, "components": buttons}]);
        let components: Vec<Component> =
            serde_json::from_value(row).map_err(|e| format!("the link buttons: {e}"))?;
        self.http
            .update_message(self.channel, id)
            .components(Some(&components))
            .await
            .map_err(|e| format!("adding the link buttons failed: {e}"))?;
        Ok(())
    }

    /// Sends `files` in one message after the reply's text (files go after what the reply
    /// says, and a failed upload leaves the text in place).
    pub async fn attach(&self, files: Vec<SentFile>) -> Result<(), String> {
        if files.is_empty() {
            return Ok(());
        }
        let attachments: Vec<Attachment> = files
            .into_iter()
            .zip(0u64..)
            .map(|(file, id)| Attachment::from_bytes(file.name, file.bytes, id))
            .collect();
        let quiet = AllowedMentions::default();
        // Discord takes ten attachments per message.
        for group in attachments.chunks(SentFiles::MAX) {
            self.http
                .create_message(self.channel)
                .attachments(group)
                .allowed_mentions(Some(&quiet))
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Whether any message of the reply is on Discord.
    pub fn started(&self) -> bool {
        !self.sent.is_empty()
    }

    /// Sends and edits messages so they show the text. Unless `last`, the final chunk is
    /// still growing: an open code fence is closed for display.
    async fn flush(&mut self, last: bool) {
        self.last_edit = Some(Instant::now());
        let chunks = split(&self.text, self.style.limit);
        let count = chunks.len();
        for (index, chunk) in chunks.into_iter().enumerate() {
            let shown = if last || index + 1 < count {
                chunk
            } else {
                close_open_fence(&chunk)
            };
            // Closing a fence can push a growing chunk past Discord's limit for a moment;
            // that edit waits for more text.
            if shown.chars().count() > DISCORD_LIMIT {
                continue;
            }
            match self.sent.get(index) {
                Some((_, current)) if *current == shown => {}
                Some(&(id, _)) => match self
                    .http
                    .update_message(self.channel, id)
                    .content(Some(&shown))
                    .await
                {
                    Ok(_) => self.sent[index].1 = shown,
                    Err(error) => self.fail(format!("editing the reply failed: {error}")),
                },
                None => match self.create(&shown, index == 0).await {
                    Ok(id) => self.sent.push((id, shown)),
                    Err(error) => {
                        self.fail(format!("sending the reply failed: {error}"));
                        return;
                    }
                },
            }
        }
    }

    async fn create(&self, content: &str, first: bool) -> Result<Id<MessageMarker>, String> {
        let quiet = AllowedMentions::default();
        let mut request = self
            .http
            .create_message(self.channel)
            .content(content)
            .allowed_mentions(Some(&quiet));
        if first && let Some(answering) = self.answering {
            request = request.reply(answering).fail_if_not_exists(false);
        }
        let response = request.await.map_err(|e| e.to_string())?;
        let message = response.model().await.map_err(|e| e.to_string())?;
        Ok(message.id)
    }

    fn fail(&mut self, failure: String) {
        tracing::error!(channel = %self.channel, "{failure}");
        self.failure.get_or_insert(failure);
    }
}

/// Posts a quiet `-#` line (a tool status, a queue or batch notice): no notification, no pings.
pub async fn post_quietly(http: &Client, channel: Id<ChannelMarker>, text: &str) {
    let quiet = AllowedMentions::default();
    let sent = http
        .create_message(channel)
        .content(text)
        .allowed_mentions(Some(&quiet))
        .flags(MessageFlags::SUPPRESS_NOTIFICATIONS)
        .await;
    if let Err(error) = sent {
        tracing::warn!(%error, "a notice could not be posted");
    }
}
