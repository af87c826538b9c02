//! The REST routes the fake answers, with Discord's status codes and JSON error codes for the
//! failures an adapter must handle (unknown message 10008, empty message 50006, …).
//!
//! - `GET /gateway`, `GET /gateway/bot` (the fake's ws URL), `GET /users/@me` (the bot)
//! - `POST /users/@me/channels` `{recipient_id}` → the DM channel [`dm_channel_id`]
//! - `GET /guilds/{g}`, `GET /guilds/{g}/roles` for registered guilds
//! - `GET /channels/{c}`: a registered guild text channel, anything else a DM
//! - `GET /channels/{c}/messages` (every live message, newest first; `limit` is ignored)
//! - `POST /channels/{c}/messages` (JSON or multipart with files; a reply must reference a
//!   stored message unless `fail_if_not_exists` is false), `GET`/`PATCH`/`DELETE` one message
//! - `PUT`/`DELETE /channels/{c}/messages/{m}/reactions/{emoji}/@me`, `POST .../typing`
//! - commands and interaction webhooks: see `interactions.rs`
//! - `GET /attachments/N/NAME`: files from `serve_file` and uploads

use super::interactions::{callback, commands, followup, original};
use super::payloads::{
    BOT_ID, BOT_NAME, MessageParts, bot_user, dm_channel_id, dm_channel_json, message_json,
    next_snowflake, text_channel_json, user_json,
};
use super::rest::{Reply, embeds_of, percent_decode};
use super::store::Reaction;
use super::{State, id_of};
use serde_json::{Value, json};

type Files<'a> = &'a [(String, Vec<u8>)];

/// Answers one request; `path` is without `/api/v10` and query. No route: a 404 marked
/// unhandled.
pub(super) fn route(
    state: &mut State,
    method: &str,
    path: &str,
    body: &Value,
    files: Files,
) -> Reply {
    let reply = answer(state, method, path, body, files);
    reply.unwrap_or_else(|| Reply {
        handled: false,
        ..Reply::error(404, 0, "404: Not Found")
    })
}

fn answer(
    state: &mut State,
    method: &str,
    path: &str,
    body: &Value,
    files: Files,
) -> Option<Reply> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["gateway", "bot"]) => Some(gateway_bot(state)),
        ("GET", ["gateway"]) => Some(Reply::json(200, json!({"url": state.ws_url}))),
        ("GET", ["users", "@me"]) => Some(Reply::json(200, bot_user())),
        ("POST", ["users", "@me", "channels"]) => open_dm(body),
        ("GET", ["guilds", guild]) => guild_of(state, guild, false),
        ("GET", ["guilds", guild, "roles"]) => guild_of(state, guild, true),
        ("GET", ["channels", channel]) => channel_of(state, channel),
        ("GET", ["channels", channel, "messages"]) => {
            num(channel).map(|c| Reply::json(200, Value::Array(state.store.history(c))))
        }
        ("POST", ["channels", channel, "messages"]) => {
            num(channel).map(|c| create_message(state, c, body, files))
        }
        (_, ["channels", channel, "messages", message]) => {
            message_route(state, method, num(channel)?, num(message)?, body)
        }
        (
            _,
            [
                "channels",
                channel,
                "messages",
                message,
                "reactions",
                emoji,
                "@me",
            ],
        ) => react(state, method, num(channel)?, num(message)?, emoji),
        ("POST", ["channels", channel, "typing"]) => num(channel).map(|c| {
            state.store.typing.push(c);
            Reply::no_content()
        }),
        (_, ["applications", _, "commands"]) => commands(state, method, None, body),
        (_, ["applications", _, "guilds", guild, "commands"]) => {
            commands(state, method, Some(num(guild)?), body)
        }
        ("POST", ["interactions", _, token, "callback"]) => Some(callback(state, token, body)),
        (_, ["webhooks", _, token, "messages", "@original"]) => {
            original(state, method, token, body)
        }
        ("POST", ["webhooks", _, token]) => Some(followup(state, token, body)),
        ("GET", ["attachments", ..]) => state
            .store
            .files
            .get(path)
            .map(|(bytes, kind)| Reply::bytes(kind, bytes.clone())),
        _ => None,
    }
}

pub(super) fn num(segment: &str) -> Option<u64> {
    segment.parse().ok().filter(|id| *id != 0)
}

pub(super) fn unknown_message() -> Reply {
    Reply::error(404, 10008, "Unknown Message")
}

/// Discord's 400 for a bad field: `{"code": 50035, "errors": {field: {"_errors": [...]}}}`.
fn invalid_form(field: &str, code: &str, message: &str) -> Reply {
    let errors = json!({field: {"_errors": [{"code": code, "message": message}]}});
    Reply::json(
        400,
        json!({"code": 50035, "message": "Invalid Form Body", "errors": errors}),
    )
}

fn gateway_bot(state: &State) -> Reply {
    let limit = json!({"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1});
    Reply::json(
        200,
        json!({"url": state.ws_url, "shards": 1, "session_start_limit": limit}),
    )
}

fn open_dm(body: &Value) -> Option<Reply> {
    let user = id_of(&body["recipient_id"])?;
    let recipient = user_json(user, &format!("user{user}"), None, false);
    Some(Reply::json(
        200,
        dm_channel_json(dm_channel_id(user), Some(recipient)),
    ))
}

fn guild_of(state: &State, guild: &str, roles_only: bool) -> Option<Reply> {
    let id = num(guild)?;
    let Some(guild) = state.guilds.iter().find(|g| g.id == id) else {
        return Some(Reply::error(404, 10004, "Unknown Guild"));
    };
    let json = if roles_only {
        Value::Array(guild.roles_json())
    } else {
        guild.to_json()
    };
    Some(Reply::json(200, json))
}

/// The guild whose registered channels include `channel`.
fn guild_with_channel(state: &State, channel: u64) -> Option<u64> {
    let guild = state
        .guilds
        .iter()
        .find(|g| g.channels.iter().any(|(id, _)| *id == channel));
    guild.map(|g| g.id)
}

fn channel_of(state: &State, channel: &str) -> Option<Reply> {
    let id = num(channel)?;
    for guild in &state.guilds {
        if let Some((position, (_, name))) = guild
            .channels
            .iter()
            .enumerate()
            .find(|(_, (c, _))| *c == id)
        {
            return Some(Reply::json(
                200,
                text_channel_json(id, name, guild.id, position as i64),
            ));
        }
    }
    // Anything else is taken for a DM; ids from `dm_channel_id` name their user.
    let user = id.checked_sub(dm_channel_id(0)).filter(|u| *u > 0);
    let recipient = user.map(|u| user_json(u, &format!("user{u}"), None, false));
    Some(Reply::json(200, dm_channel_json(id, recipient)))
}

/// A message the bot posts in `channel` (also used for interaction responses).
pub(super) fn bot_message(
    state: &mut State,
    channel: u64,
    body: &Value,
    files: Files,
    reply: Option<(u64, Option<Value>)>,
) -> Value {
    let attachments = files
        .iter()
        .map(|(name, bytes)| serve_upload(state, name, bytes))
        .collect();
    let (reply_to_id, reply_to) = reply.unzip();
    let mut json = message_json(MessageParts {
        id: next_snowflake(),
        channel_id: channel,
        guild_id: guild_with_channel(state, channel),
        author: user_json(BOT_ID, BOT_NAME, None, true),
        member: None,
        content: body["content"].as_str().unwrap_or_default(),
        mentions: Vec::new(),
        mention_roles: &[],
        attachments,
        embeds: embeds_of(&body["embeds"])
            .as_array()
            .cloned()
            .unwrap_or_default(),
        reply_to: reply_to.flatten(),
        reply_to_id,
    });
    if let Some(flags) = body["flags"].as_u64() {
        json["flags"] = json!(flags);
    }
    if body["components"].is_array() {
        json["components"] = body["components"].clone();
    }
    json
}

/// Serves an uploaded file so the message's attachment `url` works.
fn serve_upload(state: &mut State, name: &str, bytes: &[u8]) -> Value {
    let path = format!("/attachments/{}/{name}", state.store.files.len() + 1);
    let url = format!("{}{path}", state.rest_url);
    let kind = match name.rsplit('.').next().unwrap_or_default() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    state
        .store
        .files
        .insert(path, (bytes.to_vec(), kind.to_owned()));
    json!({
        "id": next_snowflake().to_string(), "filename": name, "size": bytes.len(),
        "url": url, "proxy_url": url, "content_type": kind,
    })
}

fn create_message(state: &mut State, channel: u64, body: &Value, files: Files) -> Reply {
    let content = body["content"].as_str().unwrap_or_default();
    let no_embeds = body["embeds"].as_array().is_none_or(Vec::is_empty);
    if content.is_empty() && no_embeds && files.is_empty() {
        return Reply::error(400, 50006, "Cannot send an empty message");
    }
    if content.chars().count() > 2000 {
        return invalid_form(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        );
    }
    let reference = &body["message_reference"];
    let reply = id_of(&reference["message_id"]).map(|id| {
        let in_channel = id_of(&reference["channel_id"]).unwrap_or(channel);
        (id, state.store.json_of(in_channel, id))
    });
    let reply = match reply {
        Some((_, None)) if reference["fail_if_not_exists"] != json!(false) => {
            let why = "Unknown message";
            return invalid_form(
                "message_reference",
                "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                why,
            );
        }
        Some((_, None)) => None, // Discord then posts it as a plain message
        other => other,
    };
    let json = bot_message(state, channel, body, files, reply);
    state.store.insert(channel, json.clone(), true);
    echo(state, "MESSAGE_CREATE", channel, json.clone());
    Reply::json(200, json)
}

/// Discord's gateway tells the bot about its own REST actions too.
fn echo(state: &mut State, event: &str, channel: u64, mut d: Value) {
    if !state.gateway.no_echo {
        let guild = guild_with_channel(state, channel);
        if event == "MESSAGE_CREATE" {
            d["channel_type"] = json!(if guild.is_some() { 0 } else { 1 });
        }
        state.deliver_message(event, guild, d);
    }
}

fn message_route(
    state: &mut State,
    method: &str,
    channel: u64,
    id: u64,
    body: &Value,
) -> Option<Reply> {
    let store = &mut state.store;
    Some(match method {
        "GET" => store
            .json_of(channel, id)
            .map_or_else(unknown_message, |json| Reply::json(200, json)),
        "PATCH" => match store.get_mut(channel, id) {
            None => unknown_message(),
            Some(m) if !m.from_bot => {
                Reply::error(403, 50005, "Cannot edit a message authored by another user")
            }
            Some(m) => {
                let json = m.edit(body);
                echo(state, "MESSAGE_UPDATE", channel, json.clone());
                Reply::json(200, json)
            }
        },
        "DELETE" if store.delete(channel, id) => {
            let mut d = json!({"id": id.to_string(), "channel_id": channel.to_string()});
            if let Some(guild) = guild_with_channel(state, channel) {
                d["guild_id"] = json!(guild.to_string());
            }
            echo(state, "MESSAGE_DELETE", channel, d);
            Reply::no_content()
        }
        "DELETE" => unknown_message(),
        _ => return None,
    })
}

fn react(
    state: &mut State,
    method: &str,
    channel: u64,
    message: u64,
    emoji: &str,
) -> Option<Reply> {
    let added = match method {
        "PUT" => true,
        "DELETE" => false,
        _ => return None,
    };
    if state.store.get_mut(channel, message).is_none() {
        return Some(unknown_message());
    }
    let emoji = percent_decode(emoji);
    state.store.reactions.push(Reaction {
        channel,
        message,
        emoji,
        added,
    });
    Some(Reply::no_content())
}
