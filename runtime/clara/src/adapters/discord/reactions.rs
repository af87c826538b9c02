//! Reactions clara adds to and takes off users' messages (queued, working, duplicate).

use twilight_http::request::channel::reaction::RequestReactionType;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker};

use super::bot::Bot;

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
