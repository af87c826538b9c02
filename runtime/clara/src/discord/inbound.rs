//! A Discord message arriving: whether clara answers it, stop phrases, and turning it into
//! the turn's input (mentions tidied, the reply chain, attachments).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use clara_config::model::adapters::{ChannelMode, DiscordConfig};
use clara_config::model::common::EventName;
use clara_config::model::common::fill;
use clara_core::engine::{Conversation, Event, Generation, Incoming};
use clara_core::llm::Message as ChatMessage;
use clara_core::store::ChannelModeSetting;
use serde_json::json;
use tokio::sync::mpsc;
use twilight_http::request::channel::reaction::RequestReactionType;
use twilight_model::channel::Message;
use twilight_model::channel::message::AllowedMentions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, UserMarker};

use super::attachments::{AttachmentContext, prepare_all};
use super::bot::{ADAPTER, Bot};
use super::gate::{Facts, Verdict, configured_mode, decide};
use super::lanes::{Admission, NOTICE_AFTER, Pending};

/// Takes a shard's messages in the order Discord sent them: each is admitted to its channel's
/// lane before the next is looked at, so a channel's queue (and a batch) keeps that order.
/// The work of a turn happens in the lanes, not here.
pub fn arrivals(bot: Arc<Bot>) -> mpsc::UnboundedSender<Message> {
    let (arrivals, mut received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = received.recv().await {
            on_message(&bot, message).await;
        }
    });
    arrivals
}

/// Handles one MESSAGE_CREATE.
async fn on_message(bot: &Arc<Bot>, message: Message) {
    if !bot.first_sight(message.id) {
        tracing::debug!(id = %message.id, "a message seen before (a resume replays events)");
        return;
    }
    let Some(identity) = bot.identity() else {
        return;
    };
    let generation = bot.live.current();
    let config = &generation.config.clara.value.adapters.discord;
    let is_dm = message.guild_id.is_none();
    let addressed = message.mentions.iter().any(|m| m.id == identity.user)
        || message
            .referenced_message
            .as_ref()
            .is_some_and(|replied| replied.author.id == identity.user);
    // Bots are never answered whatever the mode, so their messages (clara's own echoes
    // included) cost no store read.
    let mode = if is_dm || message.author.bot {
        ChannelMode::Active
    } else {
        channel_mode(&generation, config, message.channel_id).await
    };
    let roles: Vec<String> = message
        .member
        .as_ref()
        .map(|m| m.roles.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    let guild = message.guild_id.map(|g| g.to_string());
    let channel = message.channel_id.to_string();
    let verdict = decide(
        config,
        &Facts {
            from_bot: message.author.bot,
            is_dm,
            addressed,
            guild_id: guild.as_deref(),
            channel_id: &channel,
            roles: &roles,
            mode,
        },
    );
    let Verdict::Answer { addressed } = verdict else {
        tracing::debug!(id = %message.id, ?verdict, "not answered");
        return;
    };
    let text = tidy_mentions(&message, identity.user);
    if generation.is_stop_phrase(ADAPTER, &text) {
        stop(bot, &generation, message);
        return;
    }
    let channel_id = message.channel_id;
    let pending = Pending {
        message: Arc::new(message),
        addressed,
        arrived: Instant::now(),
    };
    let window = generation.dedupe_window(ADAPTER);
    match bot.lanes.admit(channel_id, pending.clone(), window) {
        Admission::Start => super::turn::work_channel(bot.clone(), channel_id),
        Admission::Queued(_) if config.queue_notices => {
            tokio::spawn(queued_notice(bot.clone(), pending));
        }
        Admission::Queued(_) => {}
        Admission::Duplicate => {
            let reaction = config.duplicate_reaction.clone();
            if !reaction.is_empty() {
                let bot = bot.clone();
                tokio::spawn(async move {
                    react(&bot, channel_id, pending.message.id, &reaction).await;
                });
            }
        }
    }
}

/// The channel's mode: an admin's setting in the store, else `clara.toml`'s.
pub async fn channel_mode(
    generation: &Generation,
    config: &DiscordConfig,
    channel: Id<ChannelMarker>,
) -> ChannelMode {
    let channel = channel.to_string();
    mode_of(
        stored_mode(generation, &channel).await.as_ref(),
        config,
        &channel,
    )
}

/// An admin's setting for the channel, if any (an unreadable store counts as none, logged).
pub async fn stored_mode(generation: &Generation, channel: &str) -> Option<ChannelModeSetting> {
    generation
        .services
        .store
        .channel_mode(ADAPTER, channel)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(channel, %error, "channel mode unreadable; using clara.toml's");
            None
        })
}

/// The mode `stored` sets, else `clara.toml`'s for `channel`.
pub fn mode_of(
    stored: Option<&ChannelModeSetting>,
    config: &DiscordConfig,
    channel: &str,
) -> ChannelMode {
    match stored.map(|setting| setting.mode.as_str()) {
        Some("active") => ChannelMode::Active,
        Some("off") => ChannelMode::Off,
        Some("mention") => ChannelMode::Mention,
        Some(other) => {
            tracing::warn!(channel, mode = other, "unknown stored channel mode ignored");
            configured_mode(config, channel)
        }
        None => configured_mode(config, channel),
    }
}

/// A stop phrase: the channel's running turn stops and its queue empties at once; 🛑 says
/// something was stopped, 👌 that nothing was running.
fn stop(bot: &Arc<Bot>, generation: &Generation, message: Message) {
    let stopped = bot.lanes.stop(message.channel_id);
    let something = stopped.was_running || !stopped.cleared.is_empty();
    let marks = bot.clone();
    let waiting: Vec<_> = stopped
        .cleared
        .iter()
        .filter(|p| !p.addressed)
        .map(|p| p.message.id)
        .collect();
    let (channel, id) = (message.channel_id, message.id);
    tokio::spawn(async move {
        react(&marks, channel, id, if something { "🛑" } else { "👌" }).await;
        for waited in waiting {
            unreact(&marks, channel, waited, "⏳").await;
        }
    });
    generation.services.events.emit(Event {
        platform: Some(ADAPTER.to_owned()),
        user_id: Some(user_id(message.author.id)),
        channel_id: Some(conversation(&message, None).id),
        ..Event::global(
            EventName::MessageCancelled,
            json!({
                "reason": "stop_phrase",
                "was_running": stopped.was_running,
                "cleared": stopped.cleared.len(),
            }),
        )
    });
}

/// Tells an author whose message still waits after [`NOTICE_AFTER`] where it is: a notice
/// for messages to clara, a ⏳ reaction in active channels.
async fn queued_notice(bot: Arc<Bot>, pending: Pending) {
    tokio::time::sleep(NOTICE_AFTER).await;
    let message = &pending.message;
    let Some(position) = bot.lanes.position(message.channel_id, message.id) else {
        return;
    };
    let notices = bot.config().notices;
    if pending.addressed && !notices.queued.is_empty() {
        let text = fill(&notices.queued, &[("position", &position.to_string())]);
        let quiet = AllowedMentions::default();
        let sent = bot
            .http
            .create_message(message.channel_id)
            .content(&text)
            .reply(message.id)
            .fail_if_not_exists(false)
            .allowed_mentions(Some(&quiet))
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "the queue notice could not be sent");
        }
    } else {
        react(&bot, message.channel_id, message.id, "⏳").await;
    }
}

/// Adds a reaction, logging a failure.
pub async fn react(bot: &Bot, channel: Id<ChannelMarker>, message: Id<MessageMarker>, emoji: &str) {
    let emoji = RequestReactionType::Unicode { name: emoji };
    if let Err(error) = bot.http.create_reaction(channel, message, &emoji).await {
        tracing::warn!(%error, "a reaction could not be added");
    }
}

/// Removes clara's reaction, logging a failure.
pub async fn unreact(
    bot: &Bot,
    channel: Id<ChannelMarker>,
    message: Id<MessageMarker>,
    emoji: &str,
) {
    let emoji = RequestReactionType::Unicode { name: emoji };
    if let Err(error) = bot
        .http
        .delete_current_user_reaction(channel, message, &emoji)
        .await
    {
        tracing::debug!(%error, "a reaction could not be removed");
    }
}

/// The message text with clara's own mentions removed and other people's shown as `@name`.
pub fn tidy_mentions(message: &Message, me: Id<UserMarker>) -> String {
    let mut text = message.content.clone();
    for form in [format!("<@{me}>"), format!("<@!{me}>")] {
        text = text.replace(&form, "");
    }
    for mention in message.mentions.iter().filter(|m| m.id != me) {
        let name = mention
            .member
            .as_ref()
            .and_then(|m| m.nick.clone())
            .unwrap_or_else(|| mention.name.clone());
        for form in [format!("<@{}>", mention.id), format!("<@!{}>", mention.id)] {
            text = text.replace(&form, &format!("@{name}"));
        }
    }
    text.trim().to_owned()
}

/// The author's name as the channel shows it: server nickname, display name, username.
pub fn display_name(message: &Message) -> String {
    message
        .member
        .as_ref()
        .and_then(|m| m.nick.clone())
        .or_else(|| message.author.global_name.clone())
        .unwrap_or_else(|| message.author.name.clone())
}

/// clara's id for a Discord user.
pub fn user_id(user: Id<UserMarker>) -> String {
    format!("discord-{user}")
}

/// The conversation a message belongs to (names from the server cache when known).
pub fn conversation(
    message: &Message,
    names: Option<(Option<String>, Option<String>)>,
) -> Conversation {
    match message.guild_id {
        None => Conversation {
            id: format!("dm-{}", user_id(message.author.id)),
            is_dm: true,
            channel_name: None,
            server_name: None,
        },
        Some(_) => {
            let (server_name, channel_name) = names.unwrap_or_default();
            Conversation {
                id: format!("channel-{}", message.channel_id),
                is_dm: false,
                channel_name,
                server_name,
            }
        }
    }
}

/// The turn's input for one message: tidied text plus attachments, the reply chain, images.
pub async fn incoming(bot: &Bot, generation: &Generation, message: &Message) -> Incoming {
    let me = bot.identity().map(|i| i.user);
    let config = &generation.config.clara.value;
    let discord = &config.adapters.discord;
    let user = user_id(message.author.id);
    let mut text = me.map_or_else(|| message.content.clone(), |me| tidy_mentions(message, me));
    let prepared = prepare_all(
        &AttachmentContext {
            client: bot.live.http_client(),
            limits: &discord.attachments,
            root: &generation.config.root,
            files: &config.files,
            user_id: &user,
        },
        &message.attachments,
    )
    .await;
    if !prepared.text.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&prepared.text);
    }
    let is_admin = match (message.guild_id, &message.member) {
        (Some(guild), Some(member)) => bot.is_admin(
            guild,
            message.author.id,
            &member.roles,
            member.permissions,
            &discord.admin_role,
        ),
        _ => false,
    };
    let names = message.guild_id.map(|g| bot.names(g, message.channel_id));
    Incoming {
        platform: ADAPTER.to_owned(),
        user_id: user,
        user_name: display_name(message),
        from_bot: message.author.bot,
        is_admin,
        conversation: conversation(message, names),
        text,
        images: prepared.images,
        reply_chain: reply_chain(bot, message, discord.reply_chain_limit as usize).await,
        authors_named: false,
        text_files: prepared.text_files,
    }
}

/// The messages this one replies to, oldest first, at most `limit`: the first comes with the
/// message, the rest are fetched one hop at a time (stopping at a loop or an error).
async fn reply_chain(bot: &Bot, message: &Message, limit: usize) -> Vec<ChatMessage> {
    let me = bot.identity().map(|i| i.user);
    let mut chain = Vec::new();
    let mut seen = HashSet::from([message.id]);
    let mut next: Option<Message> = message.referenced_message.as_deref().cloned();
    while chain.len() < limit {
        let current = match next.take() {
            Some(current) => current,
            None => break,
        };
        if !seen.insert(current.id) {
            break;
        }
        let text = me.map_or_else(|| current.content.clone(), |me| tidy_mentions(&current, me));
        chain.push(if Some(current.author.id) == me {
            ChatMessage::assistant(text)
        } else if current.guild_id.is_some() || message.guild_id.is_some() {
            ChatMessage::user(format!("[{}]: {text}", display_name(&current)))
        } else {
            ChatMessage::user(text)
        });
        let parent = current
            .referenced_message
            .as_deref()
            .cloned()
            .map(Ok)
            .or_else(|| {
                current
                    .reference
                    .as_ref()
                    .and_then(|r| r.message_id)
                    .map(Err)
            });
        next = match parent {
            Some(Ok(parent)) => Some(parent),
            Some(Err(id)) => fetch(bot, current.channel_id, id).await,
            None => None,
        };
    }
    chain.reverse();
    chain
}

async fn fetch(bot: &Bot, channel: Id<ChannelMarker>, id: Id<MessageMarker>) -> Option<Message> {
    let response = bot.http.message(channel, id).await;
    match response {
        Ok(response) => response.model().await.ok(),
        Err(error) => {
            tracing::debug!(%error, "the reply chain ends at a message that cannot be read");
            None
        }
    }
}
