//! A Discord message as the engine's input: the author, the conversation, mentions tidied,
//! the reply chain and attachments.

use std::collections::HashSet;

use clara_core::engine::{Conversation, Generation, Incoming};
use clara_core::llm::Message as ChatMessage;
use twilight_model::channel::Message;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, UserMarker};

use super::attachments::{AttachmentContext, prepare_all};
use super::bot::{ADAPTER, Bot};

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
        tier_override: None,
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
        let Some(current) = next.take() else {
            break;
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
