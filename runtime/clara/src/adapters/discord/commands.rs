//! The `/clara` slash commands: `channel` (admins set how clara answers in a channel; the
//! setting is stored, so it survives restarts and every instance sees it), `status`, `tools`
//! and the `mcp` group (see `mcp_command`). Replies are ephemeral: only the person who asked
//! sees them.

use std::sync::Arc;

use clara_core::store::ChannelModeSetting;
use serde_json::json;
use twilight_model::application::command::Command;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::channel::message::MessageFlags;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

use super::bot::{ADAPTER, Bot, Identity};
use super::inbound::{channel_mode, mode_of, stored_mode};
use super::incoming::user_id;
use super::mcp_command::{self, McpRequest};

/// The commands clara registers, as Discord's API describes them.
fn definitions() -> Vec<Command> {
    let mode = json!({
        "type": 3, "name": "mode", "description": "How clara answers here", "required": true,
        "choices": [
            {"name": "active: answer every message", "value": "active"},
            {"name": "mention: answer mentions and replies", "value": "mention"},
            {"name": "off: answer nothing", "value": "off"},
            {"name": "default: back to clara.toml's setting", "value": "default"}
        ]
    });
    serde_json::from_value(json!([{
        "name": "clara", "description": "clara's settings and status", "type": 1,
        "version": "1", "default_member_permissions": null,
        "options": [
            {"type": 1, "name": "channel", "description": "Set how clara answers in this channel (admins)", "options": [mode]},
            {"type": 1, "name": "status", "description": "Connection, this channel's mode, busy channels"},
            {"type": 1, "name": "tools", "description": "The tools clara can use"},
            mcp_command::definition()
        ]
    }]))
    .expect("the command definitions are valid")
}

/// Registers the commands globally, once per connection.
pub async fn register(bot: Arc<Bot>, identity: Identity) {
    let commands = definitions();
    let registered = bot
        .http
        .interaction(identity.application)
        .set_global_commands(&commands)
        .await;
    match registered {
        Ok(_) => tracing::info!("slash commands registered"),
        Err(error) => tracing::warn!(%error, "slash commands could not be registered"),
    }
}

/// Answers one interaction: a slash command, or a click on an approval's buttons.
pub async fn handle(bot: Arc<Bot>, interaction: Interaction) {
    if let Some(InteractionData::MessageComponent(_)) = &interaction.data {
        if let Some((who, is_admin)) = clicker(&bot, &interaction) {
            bot.approvals.click(&interaction, who, is_admin).await;
        }
        return;
    }
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        return;
    };
    if data.name != "clara" {
        return;
    }
    if let Some(group) = data.options.first().filter(|o| o.name == "mcp") {
        let request = McpRequest::parse(&group.value);
        return mcp(&bot, &interaction, request).await;
    }
    let text = match subcommand(data) {
        Some(("channel", mode)) => set_mode(&bot, &interaction, mode.as_deref()).await,
        Some(("status", _)) => status(&bot, &interaction).await,
        Some(("tools", _)) => tools(&bot),
        _ => "I don't know that command.".to_owned(),
    };
    respond(&bot, &interaction, Some(text)).await;
}

/// Answers the interaction with `text`, seen only by who asked; without text, says the answer
/// follows (Discord's "thinking…"), for [`finish`] to fill in.
async fn respond(bot: &Bot, interaction: &Interaction, text: Option<String>) {
    let kind = if text.is_some() {
        InteractionResponseType::ChannelMessageWithSource
    } else {
        InteractionResponseType::DeferredChannelMessageWithSource
    };
    let response = InteractionResponse {
        kind,
        data: Some(InteractionResponseData {
            content: text,
            flags: Some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }),
    };
    let answered = bot
        .http
        .interaction(interaction.application_id)
        .create_response(interaction.id, &interaction.token, &response)
        .await;
    if let Err(error) = answered {
        tracing::warn!(%error, "a slash command could not be answered");
    }
}

/// Fills in an answer [`respond`] said would follow.
async fn finish(bot: &Bot, interaction: &Interaction, text: &str) {
    // Discord takes 2000 characters in a message.
    let text: String = text.chars().take(2000).collect();
    let edited = bot
        .http
        .interaction(interaction.application_id)
        .update_response(&interaction.token)
        .content(Some(&text))
        .await;
    if let Err(error) = edited {
        tracing::warn!(%error, "a slash command's answer could not be filled in");
    }
}

/// `/clara mcp …`: changes only for admins; slow work answered when done.
async fn mcp(bot: &Bot, interaction: &Interaction, request: Option<McpRequest>) {
    let Some(request) = request else {
        return respond(
            bot,
            interaction,
            Some("I don't know that command.".to_owned()),
        )
        .await;
    };
    let clicked = clicker(bot, interaction);
    if request.changes_anything() && !clicked.as_ref().is_some_and(|(_, admin)| *admin) {
        let denied = format!(
            "Permission denied: changing MCP servers needs Manage Channels or the `{}` role, in a server channel.",
            bot.config().admin_role
        );
        return respond(bot, interaction, Some(denied)).await;
    }
    let asker = clicked.map(|(user, _)| user).unwrap_or_default();
    if request.is_slow() {
        respond(bot, interaction, None).await;
        let text = request.answer(bot, &asker).await;
        finish(bot, interaction, &text).await;
    } else {
        let text = request.answer(bot, &asker).await;
        respond(bot, interaction, Some(text)).await;
    }
}

/// Who clicked a button, and whether they are an admin where they clicked (never in a DM).
fn clicker(bot: &Bot, interaction: &Interaction) -> Option<(String, bool)> {
    match (interaction.guild_id, &interaction.member) {
        (Some(guild), Some(member)) => {
            let user = member.user.as_ref()?.id;
            let admin_role = bot.config().admin_role;
            let admin = bot.is_admin(guild, user, &member.roles, member.permissions, &admin_role);
            Some((user_id(user), admin))
        }
        _ => Some((user_id(interaction.user.as_ref()?.id), false)),
    }
}

/// The subcommand's name and its `mode` option, if any.
fn subcommand(data: &CommandData) -> Option<(&str, Option<String>)> {
    let option = data.options.first()?;
    let CommandOptionValue::SubCommand(options) = &option.value else {
        return None;
    };
    let mode = options.iter().find_map(|o| match &o.value {
        CommandOptionValue::String(value) if o.name == "mode" => Some(value.clone()),
        _ => None,
    });
    Some((option.name.as_str(), mode))
}

async fn set_mode(bot: &Bot, interaction: &Interaction, mode: Option<&str>) -> String {
    let (Some(guild), Some(member), Some(channel)) = (
        interaction.guild_id,
        interaction.member.as_ref(),
        interaction.channel.as_ref().map(|c| c.id),
    ) else {
        return "Channel modes are for server channels; in DMs I always answer.".to_owned();
    };
    let Some(user) = member.user.as_ref().map(|u| u.id) else {
        return "Discord did not say who asked.".to_owned();
    };
    let config = bot.config();
    if !bot.is_admin(
        guild,
        user,
        &member.roles,
        member.permissions,
        &config.admin_role,
    ) {
        return format!(
            "Permission denied: changing a channel's mode needs Manage Channels or the `{}` role.",
            config.admin_role
        );
    }
    let generation = bot.live.current();
    let store = &generation.services.store;
    let saved = match mode {
        Some("default") => store
            .clear_channel_mode(ADAPTER, &channel.to_string())
            .await
            .map(|_| ()),
        Some(mode @ ("active" | "mention" | "off")) => {
            store
                .set_channel_mode(&ChannelModeSetting {
                    platform: ADAPTER.to_owned(),
                    channel_id: channel.to_string(),
                    guild_id: Some(guild.to_string()),
                    mode: mode.to_owned(),
                    set_by: user_id(user),
                    updated_at: generation.services.clock.now(),
                })
                .await
        }
        _ => return "Choose active, mention, off or default.".to_owned(),
    };
    if let Err(error) = saved {
        tracing::error!(%error, "a channel mode could not be stored");
        return format!("The mode could not be saved: {error}");
    }
    let now = channel_mode(&generation, &config, channel).await;
    format!("This channel is now `{}`.", now.as_str())
}

async fn status(bot: &Bot, interaction: &Interaction) -> String {
    let generation = bot.live.current();
    let config = &generation.config.clara.value.adapters.discord;
    let report = bot.health.snapshot();
    let state = report.adapters.get(ADAPTER).map_or("unknown", |a| a.state);
    let mut lines = vec![format!("**clara** on Discord: {state}")];
    if let (Some(channel), Some(_)) = (interaction.channel.as_ref(), interaction.guild_id) {
        let channel = channel.id.to_string();
        let stored = stored_mode(&generation, &channel).await;
        let mode = mode_of(stored.as_ref(), config, &channel);
        let source = match stored {
            Some(setting) => format!("set by {}", setting.set_by),
            None if config.channels.contains_key(&channel) => "from clara.toml".to_owned(),
            None => "the default".to_owned(),
        };
        lines.push(format!("This channel: `{}` ({source})", mode.as_str()));
    }
    lines.push(format!("Channels busy right now: {}", bot.lanes.busy()));
    lines.join("\n")
}

fn tools(bot: &Bot) -> String {
    let generation = bot.live.current();
    let mut names: Vec<String> = generation
        .services
        .tools
        .iter()
        .map(|t| t.spec().name.clone())
        .chain(generation.services.tool_sources.iter().flat_map(|s| {
            s.tools()
                .iter()
                .map(|t| t.spec().name.clone())
                .collect::<Vec<_>>()
        }))
        .collect();
    names.sort();
    if names.is_empty() {
        return "No tools are set up.".to_owned();
    }
    format!("Tools ({}): {}", names.len(), names.join(", "))
}
