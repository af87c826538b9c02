//! One shard's event loop: what arrives from Discord's gateway goes to the right handler,
//! and the connection's state goes to `/health` and the adapter events. twilight reconnects
//! and resumes on its own; the loop ends only when the shard is closed for good.

use std::sync::Arc;
use std::time::Duration;

use clara_core::engine::event_data::{
    AdapterConnected, AdapterDisconnected, Connected, Disconnected, EventData,
};
use tokio_util::sync::CancellationToken;
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{CloseFrame, Event, EventTypeFlags, Shard, StreamExt as _};

use crate::errors::error_chain;
use twilight_model::gateway::payload::incoming::GuildCreate;

use super::bot::{ADAPTER, Bot, Guild, Identity, ShardState};
use super::{commands, inbound};

/// How long a closing shard waits for Discord to acknowledge the close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Runs `shard` until it is closed for good or `stop` turns true; then it closes the
/// connection (without reconnecting) and returns.
pub async fn run(mut shard: Shard, bot: Arc<Bot>, stop: CancellationToken) {
    let id = shard.id().number();
    bot.set_shard(id, ShardState::Starting);
    let mut last_close: Option<String> = None;
    let arrivals = inbound::arrivals(bot.clone());
    loop {
        let next = tokio::select! {
            item = shard.next_event(EventTypeFlags::all()) => Some(item),
            () = stop.cancelled() => None,
        };
        let Some(next) = next else {
            close(&mut shard).await;
            return;
        };
        let Some(item) = next else {
            break;
        };
        let event = match item {
            Ok(event) => event,
            Err(error) => {
                let reason = error_chain(&error);
                // Discord cannot be reached: say why, on /health too, while twilight retries.
                if matches!(error.kind(), ReceiveMessageErrorType::Reconnect) {
                    tracing::warn!(shard = id, reason, "cannot reach Discord; retrying");
                    bot.set_shard(id, ShardState::Reconnecting(reason));
                } else {
                    tracing::warn!(shard = id, reason, "a gateway event could not be read");
                }
                continue;
            }
        };
        match event {
            Event::Ready(ready) => {
                let identity = Identity {
                    user: ready.user.id,
                    application: ready.application.id,
                };
                if bot.set_identity(identity) {
                    tokio::spawn(commands::register(bot.clone(), identity));
                }
                tracing::info!(shard = id, user = %ready.user.name, "connected to Discord");
                bot.set_shard(id, ShardState::Connected);
                bot.emit_connection(connected(id, Some(ready.user.name.clone()), false));
            }
            Event::Resumed => {
                tracing::info!(shard = id, "resumed the Discord session");
                bot.set_shard(id, ShardState::Connected);
                bot.emit_connection(connected(id, None, true));
            }
            Event::GatewayClose(frame) => {
                let reason = close_reason(frame.as_ref());
                tracing::warn!(shard = id, reason, "disconnected from Discord");
                bot.set_shard(id, ShardState::Reconnecting(reason.clone()));
                bot.emit_connection(EventData::AdapterDisconnected(AdapterDisconnected {
                    adapter: ADAPTER.to_owned(),
                    shard: Some(id),
                    detail: Some(Disconnected {
                        reason: reason.clone(),
                    }),
                    node: None,
                }));
                last_close = Some(reason);
            }
            Event::MessageCreate(message) => {
                let _ = arrivals.send(message.message);
            }
            Event::InteractionCreate(interaction) => {
                tokio::spawn(commands::handle(bot.clone(), (*interaction).0));
            }
            Event::GuildCreate(created) => {
                if let GuildCreate::Available(guild) = *created {
                    let known = Guild {
                        name: guild.name,
                        owner: Some(guild.owner_id),
                        roles: guild
                            .roles
                            .into_iter()
                            .map(|r| (r.id, (r.name, r.permissions)))
                            .collect(),
                        channels: guild
                            .channels
                            .into_iter()
                            .chain(guild.threads)
                            .filter_map(|c| Some((c.id, c.name?)))
                            .collect(),
                    };
                    bot.set_guild(guild.id, known);
                }
            }
            Event::GuildDelete(gone) => bot.remove_guild(gone.id),
            Event::RoleCreate(role) => bot.update_guild(role.guild_id, |g| {
                g.roles
                    .insert(role.role.id, (role.role.name, role.role.permissions));
            }),
            Event::RoleUpdate(role) => bot.update_guild(role.guild_id, |g| {
                g.roles
                    .insert(role.role.id, (role.role.name, role.role.permissions));
            }),
            Event::RoleDelete(role) => bot.update_guild(role.guild_id, |g| {
                g.roles.remove(&role.role_id);
            }),
            Event::ChannelCreate(channel) => remember_channel(&bot, &channel.0),
            Event::ChannelUpdate(channel) => remember_channel(&bot, &channel.0),
            _ => {}
        }
    }
    let reason = last_close.unwrap_or_else(|| "the gateway connection ended".to_owned());
    tracing::error!(shard = id, reason, "Discord closed the connection for good");
    bot.set_shard(id, ShardState::Failed(reason));
}

/// Closes the connection and waits (briefly) until it is closed, so twilight does not
/// reconnect.
async fn close(shard: &mut Shard) {
    shard.close(CloseFrame::NORMAL);
    let closed = async {
        while let Some(item) = shard.next_event(EventTypeFlags::all()).await {
            if matches!(item, Ok(Event::GatewayClose(_))) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, closed).await;
}

fn remember_channel(bot: &Bot, channel: &twilight_model::channel::Channel) {
    if let (Some(guild), Some(name)) = (channel.guild_id, channel.name.clone()) {
        bot.update_guild(guild, |g| {
            g.channels.insert(channel.id, name);
        });
    }
}

/// Discord's close code and reason, with a hint for the ones a user must fix.
fn close_reason(frame: Option<&CloseFrame<'_>>) -> String {
    let Some(frame) = frame else {
        return "the connection dropped".to_owned();
    };
    let hint = match frame.code {
        4004 => " (the bot token is wrong: check DISCORD_BOT_TOKEN)",
        4013 | 4014 => {
            " (intents not allowed: enable the Message Content intent in the Developer Portal)"
        }
        _ => "",
    };
    format!("close code {} {}{hint}", frame.code, frame.reason)
}

/// `adapter:connected` for shard `id`.
fn connected(id: u32, user: Option<String>, resumed: bool) -> EventData {
    EventData::AdapterConnected(AdapterConnected {
        adapter: ADAPTER.to_owned(),
        shard: Some(id),
        detail: Some(Connected { user, resumed }),
        node: None,
    })
}
