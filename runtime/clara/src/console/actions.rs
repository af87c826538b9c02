//! What the console's buttons do: forget a memory, restart or switch an MCP server, set a
//! channel's mode, reload the files. Each is logged with what it touched; the session and its
//! CSRF token were checked before any of them runs.

use clara_config::model::adapters::ChannelMode;
use clara_core::store::ChannelModeSetting;
use hyper::{Response, StatusCode};

use super::channels::SET_BY;
use super::html::query_value;
use super::responses::{see_other, text};
use super::routes::{Ask, no_such_action};
use crate::adapters::discord::bot::ADAPTER as DISCORD;
use crate::live::{Live, Reload};
use crate::status::Body;
use crate::tools::mcp::install::Installer;

/// Runs the action `ask` posts and sends the browser back to the page it came from.
pub(super) async fn act(live: &Live, ask: &Ask<'_>) -> Response<Body> {
    let outcome = match ask.path {
        "/console/memory/forget" => forget(live, ask).await,
        "/console/mcp/restart" => restart(live, ask),
        "/console/mcp/enabled" => switch(live, ask).await,
        "/console/channels/mode" => channel_mode(live, ask).await,
        "/console/config/reload" => reload(live).await,
        _ => return no_such_action(),
    };
    match outcome {
        Ok(back) => see_other(&back),
        Err((status, why)) => text(status, &format!("{why}\n")),
    }
}

/// Where to go next, or why the action was refused.
type Outcome = Result<String, (StatusCode, String)>;

fn refused(why: &str) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, why.to_owned())
}

fn broken(error: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

async fn forget(live: &Live, ask: &Ask<'_>) -> Outcome {
    let (Some(id), Some(user)) = (ask.field("id"), ask.field("user")) else {
        return Err(refused("which memory?"));
    };
    let store = live.current().services.store.clone();
    match store.memory(id).await.map_err(broken)? {
        Some(memory) if memory.user_id == user => {
            let now = chrono::Utc::now().timestamp_millis();
            store.delete_memory(id, now).await.map_err(broken)?;
            tracing::info!(memory = id, user, "forgotten from the console");
            Ok(format!("/console/memory?user={}", query_value(user)))
        }
        _ => Err((StatusCode::NOT_FOUND, "no such memory".to_owned())),
    }
}

fn restart(live: &Live, ask: &Ask<'_>) -> Outcome {
    let name = ask.field("name").unwrap_or_default();
    if !live.mcp().restart(name) {
        return Err((StatusCode::NOT_FOUND, "no such MCP server runs".to_owned()));
    }
    tracing::info!(server = name, "MCP server restarted from the console");
    Ok("/console/tools".to_owned())
}

/// Turns an MCP server on or off in its manifest, as `mcp_enable` does, and applies it now
/// rather than waiting for the watcher (which may be off).
async fn switch(live: &Live, ask: &Ask<'_>) -> Outcome {
    let name = ask.field("name").unwrap_or_default();
    let on = match ask.field("on") {
        Some("1") => true,
        Some("0") => false,
        _ => return Err(refused("on or off?")),
    };
    let generation = live.current();
    let set = &generation.config;
    let installer = Installer::new(
        &set.root,
        &set.clara.value.mcp,
        &set.env,
        live.http_client().clone(),
    );
    let changed = installer.set_enabled(name, on).map_err(|e| {
        let status = match e {
            crate::tools::mcp::install::InstallError::Unknown(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, e.to_string())
    })?;
    if changed {
        tracing::info!(server = name, on, "MCP server switched from the console");
    }
    // Reload also when the file already said so but the running configuration does not: a
    // switch whose reload was refused earlier (another edit pending) is tried again.
    let running = crate::tools::mcp::manifests(&live.current().config)
        .into_iter()
        .find(|m| m.name == name)
        .map(|m| m.enabled);
    if changed || running != Some(on) {
        applied(live.reload().await).map_err(|(status, why)| {
            let word = if on { "on" } else { "off" };
            (
                status,
                format!("{name}'s manifest on disk now says {word}, but {why}"),
            )
        })?;
    }
    Ok("/console/tools".to_owned())
}

/// Sets a Discord channel's mode at run time, or clears it (`default`) so `clara.toml`'s
/// applies again: what an admin's `/clara channel` does.
async fn channel_mode(live: &Live, ask: &Ask<'_>) -> Outcome {
    let channel = ask.field("channel").unwrap_or_default().trim();
    // A Discord channel id is a snowflake: up to 20 digits.
    if channel.is_empty() || channel.len() > 20 || !channel.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused("a Discord channel id is a number"));
    }
    let generation = live.current();
    let store = &generation.services.store;
    match ask.field("mode") {
        Some("default") => {
            store
                .clear_channel_mode(DISCORD, channel)
                .await
                .map_err(broken)?;
        }
        Some(mode) if ChannelMode::named(mode).is_some() => {
            store
                .set_channel_mode(&ChannelModeSetting {
                    platform: DISCORD.to_owned(),
                    channel_id: channel.to_owned(),
                    guild_id: None,
                    mode: mode.to_owned(),
                    set_by: SET_BY.to_owned(),
                    updated_at: generation.services.clock.now(),
                })
                .await
                .map_err(broken)?;
        }
        _ => return Err(refused("choose active, mention, off or default")),
    }
    tracing::info!(
        channel,
        mode = ask.field("mode"),
        "channel mode set from the console"
    );
    Ok("/console/channels".to_owned())
}

async fn reload(live: &Live) -> Outcome {
    tracing::info!("reload asked for from the console");
    applied(live.reload().await)?;
    Ok("/console/config".to_owned())
}

/// A reload that did not apply is an error the browser is told of; the page says the rest.
fn applied(outcome: Reload) -> Result<(), (StatusCode, String)> {
    match outcome {
        Reload::Applied(_) | Reload::Unchanged => Ok(()),
        Reload::Invalid(problems) => Err((
            StatusCode::CONFLICT,
            format!(
                "the files on disk do not load; the running configuration stays:\n{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        )),
        Reload::Refused(why) => Err((
            StatusCode::CONFLICT,
            format!("the edit needs a restart: {why}"),
        )),
        Reload::Failed(why) => Err((StatusCode::CONFLICT, format!("the reload failed: {why}"))),
    }
}
