//! The JSON objects the fake sends: users, messages, guilds, channels, commands, READY.
//!
//! Each shape carries the fields twilight-model 0.18 needs to deserialize it (checked by the
//! `fake_discord_server` self-test). A missing required field does not fail loudly: the shard
//! drops the whole event as "could not be deserialized", so keep these complete.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// The bot's user id, as READY and `GET /users/@me` report it.
pub const BOT_ID: u64 = 1000;
/// The bot's username.
pub const BOT_NAME: &str = "clara";
/// The application id READY reports; deliberately not `BOT_ID`, so mixing them up shows.
pub const APP_ID: u64 = 1500;
/// The upload limit interactions report (25 MiB, Discord's default).
const ATTACHMENT_SIZE_LIMIT: u64 = 26_214_400;
/// Discord's epoch (2015-01-01) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

static LAST_SNOWFLAKE: AtomicU64 = AtomicU64::new(0);

/// A fresh snowflake: real-looking (its timestamp is now) and increasing across the process,
/// so ids the fake hands out order like Discord's and never repeat between fakes.
pub fn next_snowflake() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let candidate = (now - DISCORD_EPOCH_MS) << 22;
    let mut last = LAST_SNOWFLAKE.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(last + 1);
        match LAST_SNOWFLAKE.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// The channel id of the DM between the bot and `user`; the same user always gets the same one.
pub fn dm_channel_id(user: u64) -> u64 {
    user + 1_000_000_000
}

/// Now in the RFC 3339 form Discord uses (`2026-01-01T00:00:00.000000+00:00`).
pub fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

/// A user object. `public_flags` is always present because a mention without it makes
/// twilight drop the whole message.
pub fn user_json(id: u64, username: &str, global_name: Option<&str>, bot: bool) -> Value {
    json!({
        "id": id.to_string(), "username": username, "global_name": global_name,
        "discriminator": "0", "avatar": null, "bot": bot, "public_flags": 0,
    })
}

/// The bot's own user object.
pub fn bot_user() -> Value {
    let mut user = user_json(BOT_ID, BOT_NAME, None, true);
    user["mfa_enabled"] = json!(false);
    user["verified"] = json!(true);
    user["flags"] = json!(0);
    user
}

/// A guild member as it rides along on a message or interaction (no `user` inside).
pub fn member_json(roles: &[u64], nick: Option<&str>) -> Value {
    json!({
        "roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(), "nick": nick,
        "joined_at": "2025-01-01T00:00:00.000000+00:00", "premium_since": null,
        "deaf": false, "mute": false, "flags": 0, "pending": false,
        "communication_disabled_until": null, "avatar": null, "banner": null,
    })
}

/// The parts a message is made of; everything else gets Discord's defaults.
pub struct MessageParts<'a> {
    pub id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub author: Value,
    pub member: Option<Value>,
    pub content: &'a str,
    pub mentions: Vec<Value>,
    pub mention_roles: &'a [u64],
    pub attachments: Vec<Value>,
    pub embeds: Vec<Value>,
    /// A full message this one replies to (`type` 19 with `message_reference`).
    pub reply_to: Option<Value>,
    /// The id this one replies to when the full message is not known.
    pub reply_to_id: Option<u64>,
}

/// A full message object, as MESSAGE_CREATE and the REST responses carry it.
pub fn message_json(parts: MessageParts<'_>) -> Value {
    let reply_id = parts.reply_to_id.or_else(|| {
        let referenced = parts.reply_to.as_ref()?;
        referenced["id"].as_str()?.parse().ok()
    });
    let mut message = json!({
        "id": parts.id.to_string(), "channel_id": parts.channel_id.to_string(),
        "author": parts.author, "content": parts.content, "timestamp": timestamp(),
        "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": parts.mentions,
        "mention_roles": parts.mention_roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "attachments": parts.attachments, "embeds": parts.embeds, "pinned": false,
        "type": if reply_id.is_some() { 19 } else { 0 }, "flags": 0, "components": [],
    });
    if let Some(guild) = parts.guild_id {
        message["guild_id"] = json!(guild.to_string());
    }
    if let Some(member) = parts.member {
        message["member"] = member;
    }
    if let Some(reply_id) = reply_id {
        let mut reference = json!({
            "type": 0, "message_id": reply_id.to_string(),
            "channel_id": parts.channel_id.to_string(),
        });
        if let Some(guild) = parts.guild_id {
            reference["guild_id"] = json!(guild.to_string());
        }
        message["message_reference"] = reference;
        message["referenced_message"] = parts.reply_to.unwrap_or(Value::Null);
    }
    message
}

/// A role as GUILD_CREATE lists it.
pub fn role_json(id: u64, name: &str, permissions: u64, position: i64) -> Value {
    json!({
        "id": id.to_string(), "name": name, "permissions": permissions.to_string(),
        "position": position, "color": 0, "colors": {"primary_color": 0},
        "hoist": false, "managed": false, "mentionable": false, "flags": 0,
        "icon": null, "unicode_emoji": null,
    })
}

/// A guild text channel.
pub fn text_channel_json(id: u64, name: &str, guild: u64, position: i64) -> Value {
    json!({
        "id": id.to_string(), "type": 0, "guild_id": guild.to_string(), "name": name,
        "position": position, "permission_overwrites": [], "nsfw": false, "topic": null,
        "last_message_id": null, "rate_limit_per_user": 0, "parent_id": null, "flags": 0,
    })
}

/// The DM channel with `user` (the recipient is omitted when the fake does not know them).
pub fn dm_channel_json(id: u64, recipient: Option<Value>) -> Value {
    let recipients: Vec<Value> = recipient.into_iter().collect();
    json!({"id": id.to_string(), "type": 1, "last_message_id": null, "recipients": recipients, "flags": 0})
}

/// A guild registered on the fake, sent as GUILD_CREATE when a shard that owns it is ready.
#[derive(Debug, Clone)]
pub struct GuildSpec {
    pub id: u64,
    pub name: String,
    pub owner_id: u64,
    /// `(id, name, permission bits)`; the `@everyone` role (id = guild id) is added if absent.
    pub roles: Vec<(u64, String, u64)>,
    /// `(id, name)` of its text channels.
    pub channels: Vec<(u64, String)>,
}

impl GuildSpec {
    /// Its roles as JSON, `@everyone` first.
    pub fn roles_json(&self) -> Vec<Value> {
        let mut roles = Vec::new();
        if !self.roles.iter().any(|(id, ..)| *id == self.id) {
            // VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY, like a fresh server.
            roles.push(role_json(self.id, "@everyone", 0x400 | 0x800 | 0x10000, 0));
        }
        for (position, (id, name, bits)) in self.roles.iter().enumerate() {
            roles.push(role_json(*id, name, *bits, position as i64 + 1));
        }
        roles
    }

    /// The full GUILD_CREATE `d`.
    pub fn to_json(&self) -> Value {
        let channels: Vec<Value> = (self.channels.iter().enumerate())
            .map(|(i, (id, name))| text_channel_json(*id, name, self.id, i as i64))
            .collect();
        // Two literals: one would exceed `json!`'s macro recursion limit.
        let mut guild = json!({
            "id": self.id.to_string(), "name": self.name, "owner_id": self.owner_id.to_string(),
            "roles": self.roles_json(), "channels": channels, "threads": [], "members": [],
            "voice_states": [], "presences": [], "emojis": [], "stickers": [], "features": [],
            "stage_instances": [], "guild_scheduled_events": [],
            "icon": null, "splash": null, "discovery_splash": null, "banner": null,
            "description": null, "afk_channel_id": null, "afk_timeout": 300,
            "application_id": null, "system_channel_id": null, "system_channel_flags": 0,
        });
        let settings = json!({
            "rules_channel_id": null, "public_updates_channel_id": null,
            "safety_alerts_channel_id": null, "vanity_url_code": null,
            "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0, "premium_tier": 0,
            "premium_subscription_count": 0, "premium_progress_bar_enabled": false,
            "preferred_locale": "en-US", "max_members": 500000, "max_video_channel_users": 25,
            "joined_at": "2025-01-01T00:00:00.000000+00:00", "large": false,
            "unavailable": false, "member_count": 2, "widget_enabled": false,
        });
        for (key, value) in settings.as_object().unwrap() {
            guild[key] = value.clone();
        }
        guild
    }
}

/// READY's `d` for a new session on `shard` (`[id, total]`) listing its guilds as unavailable,
/// as Discord does before their GUILD_CREATEs.
pub fn ready_json(session_id: &str, resume_url: &str, shard: [u64; 2], guilds: &[u64]) -> Value {
    let guilds: Vec<Value> = guilds
        .iter()
        .map(|id| json!({"id": id.to_string(), "unavailable": true}))
        .collect();
    json!({
        "v": 10, "user": bot_user(), "guilds": guilds, "session_id": session_id,
        "resume_gateway_url": resume_url, "shard": shard,
        "application": {"id": APP_ID.to_string(), "flags": 0},
    })
}

/// A registered application command as Discord returns it: the request's definition plus
/// the ids and version Discord assigns (`id` is kept when the name was registered before).
pub fn command_json(definition: &Value, id: u64, guild: Option<u64>) -> Value {
    let mut command = json!({
        "type": 1, "description": "", "options": [], "default_member_permissions": null,
        "nsfw": false,
    });
    if let Some(fields) = definition.as_object() {
        for (key, value) in fields {
            command[key] = value.clone();
        }
    }
    command["id"] = json!(id.to_string());
    command["application_id"] = json!(APP_ID.to_string());
    command["version"] = json!(next_snowflake().to_string());
    if let Some(guild) = guild {
        command["guild_id"] = json!(guild.to_string());
    }
    command
}

/// The interaction fields Discord always sends, around a builder's own.
pub fn interaction_base(id: u64, token: &str, guild: Option<u64>, user: u64) -> Value {
    // `authorizing_integration_owners` maps install type ("0" guild, "1" user) to its owner.
    let owners = match guild {
        Some(guild) => json!({"0": guild.to_string()}),
        None => json!({"1": user.to_string()}),
    };
    json!({
        "id": id.to_string(), "application_id": APP_ID.to_string(), "type": 2,
        "token": token, "version": 1, "locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": owners,
        "context": if guild.is_some() { 0 } else { 1 },
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        // Everything a text channel grants a bot; the adapter may check it before answering.
        "app_permissions": "2248473465835073",
    })
}

/// Discord's JSON error body.
pub fn error_json(code: u64, message: &str) -> Value {
    json!({"code": code, "message": message})
}
