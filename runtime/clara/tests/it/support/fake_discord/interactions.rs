//! The slash-command routes: command registration, interaction callbacks, and the
//! interaction webhook (`@original` response and follow-ups).
//!
//! - `GET`/`PUT`/`POST /applications/{app}/commands` and `.../guilds/{g}/commands`
//! - `POST /interactions/{id}/{token}/callback`: the first one per interaction (else 40060);
//!   type 4 or 5 creates the original response; type 7 edits the clicked message
//! - `GET`/`PATCH`/`DELETE /webhooks/{app}/{token}/messages/@original` (404 10008 before a
//!   callback created it), `POST /webhooks/{app}/{token}` for follow-ups

use super::payloads::{APP_ID, command_json, next_snowflake};
use super::rest::Reply;
use super::routes::{bot_message, unknown_message};
use super::store::Stored;
use super::{State, id_of};
use serde_json::{Value, json};

/// Bulk overwrite (PUT), create one (POST) or list (GET); a name registered before keeps its id.
pub(super) fn commands(
    state: &mut State,
    method: &str,
    guild: Option<u64>,
    body: &Value,
) -> Option<Reply> {
    let registered = state.store.commands.entry(guild).or_default();
    let id_for = |name: &Value, registered: &[Value]| {
        let same = registered.iter().find(|c| c["name"] == *name);
        same.and_then(|c| id_of(&c["id"]))
            .unwrap_or_else(next_snowflake)
    };
    match method {
        "GET" => Some(Reply::json(200, Value::Array(registered.clone()))),
        "PUT" => {
            let definitions = body.as_array().cloned().unwrap_or_default();
            let echoed: Vec<Value> = (definitions.iter())
                .map(|d| command_json(d, id_for(&d["name"], registered), guild))
                .collect();
            *registered = echoed.clone();
            Some(Reply::json(200, Value::Array(echoed)))
        }
        "POST" => {
            let command = command_json(body, id_for(&body["name"], registered), guild);
            registered.retain(|c| c["name"] != command["name"]);
            registered.push(command.clone());
            Some(Reply::json(201, command))
        }
        _ => None,
    }
}

pub(super) fn callback(state: &mut State, token: &str, body: &Value) -> Reply {
    let Some(log) = state.store.interactions.get(token) else {
        return Reply::error(404, 10062, "Unknown interaction");
    };
    if !log.callbacks.is_empty() {
        return Reply::error(400, 40060, "Interaction has already been acknowledged.");
    }
    let channel = log.channel_id;
    // Type 7 edits the message whose component was used.
    if let (Some(7), Some(message)) = (body["type"].as_u64(), log.message_id) {
        let log = state.store.interactions.get_mut(token).unwrap();
        log.callbacks.push(body.clone());
        if let Some(stored) = state.store.get_mut(channel, message) {
            stored.edit(&body["data"]);
        }
        return Reply::no_content();
    }
    // Type 4 answers with a message; type 5 ("thinking…") creates an empty one to edit later.
    let original = match body["type"].as_u64() {
        Some(4) => Some(body["data"].clone()),
        Some(5) => Some(json!({"content": "", "flags": body["data"]["flags"]})),
        _ => None,
    };
    let original =
        original.map(|data| Stored::new(interaction_message(state, channel, &data), true));
    let log = state.store.interactions.get_mut(token).unwrap();
    log.callbacks.push(body.clone());
    log.original = original;
    Reply::no_content()
}

fn interaction_message(state: &mut State, channel: u64, data: &Value) -> Value {
    let mut json = bot_message(state, channel, data, &[], None);
    json["webhook_id"] = json!(APP_ID.to_string());
    json["application_id"] = json!(APP_ID.to_string());
    json
}

pub(super) fn original(
    state: &mut State,
    method: &str,
    token: &str,
    body: &Value,
) -> Option<Reply> {
    let Some(log) = state.store.interactions.get_mut(token) else {
        return Some(Reply::error(404, 10015, "Unknown Webhook"));
    };
    let original = log.original.as_mut().filter(|m| !m.deleted);
    Some(match (method, original) {
        (_, None) => unknown_message(),
        ("GET", Some(m)) => Reply::json(200, m.json.clone()),
        ("PATCH", Some(m)) => Reply::json(200, m.edit(body)),
        ("DELETE", Some(m)) => {
            m.deleted = true;
            Reply::no_content()
        }
        _ => return None,
    })
}

pub(super) fn followup(state: &mut State, token: &str, body: &Value) -> Reply {
    let Some(channel) = state
        .store
        .interactions
        .get(token)
        .map(|log| log.channel_id)
    else {
        return Reply::error(404, 10015, "Unknown Webhook");
    };
    let json = interaction_message(state, channel, body);
    let log = state.store.interactions.get_mut(token).unwrap();
    log.followups.push(Stored::new(json.clone(), true));
    Reply::json(200, json)
}
