//! A Discord message arriving: whether clara answers it, stop phrases, channel modes, and
//! its place in the channel's lane.

use std::sync::Arc;
use std::time::Instant;

use clara_config::model::adapters::{ChannelMode, DiscordConfig};
use clara_config::model::common::fill;
use clara_core::engine::event_data::{EventData, MessageCancelled};
use clara_core::engine::{Event, Generation};
use clara_core::lanes::{Admission, NOTICE_AFTER};
use clara_core::store::ChannelModeSetting;
use tokio::sync::mpsc;
use twilight_model::channel::Message;
use twilight_model::channel::message::AllowedMentions;
use twilight_model::id::Id;
use twilight_model::id::marker::ChannelMarker;

use super::bot::Pending;
use super::bot::{ADAPTER, Bot};
use super::gate::{Facts, Verdict, configured_mode, decide};
use super::incoming::{conversation, tidy_mentions, user_id};
use super::reactions::{react, unreact};

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
        author: message.author.id.to_string(),
        text: message.content.clone(),
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
        Some(name) => ChannelMode::named(name).unwrap_or_else(|| {
            tracing::warn!(channel, mode = name, "unknown stored channel mode ignored");
            configured_mode(config, channel)
        }),
        None => configured_mode(config, channel),
    }
}

/// A stop phrase: the channel's running turn stops and its queue empties at once; 🛑 says
/// something was stopped, 👌 that nothing was running.
fn stop(bot: &Arc<Bot>, generation: &Generation, message: Message) {
    let stopped = bot.lanes.stop(&message.channel_id);
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
        ..Event::global(EventData::MessageCancelled(MessageCancelled {
            reason: "stop_phrase".to_owned(),
            was_running: Some(stopped.was_running),
            cleared: Some(stopped.cleared.len()),
        }))
    });
}

/// Tells an author whose message still waits after [`NOTICE_AFTER`] where it is: a notice
/// for messages to clara, a ⏳ reaction in active channels.
async fn queued_notice(bot: Arc<Bot>, pending: Pending) {
    tokio::time::sleep(NOTICE_AFTER).await;
    let message = &pending.message;
    let Some(position) = bot
        .lanes
        .position(&message.channel_id, |m| m.id == message.id)
    else {
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
