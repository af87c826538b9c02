//! The console's channels page: each chat channel clara knows a mode for, from `clara.toml` or
//! set at run time by an admin (`/clara channel` or this page), and the mode in force.

use std::collections::BTreeMap;

use clara_config::model::adapters::ChannelMode;
use clara_core::store::ChannelModeSetting;

use super::html::{escape, facts, post_button, table, time};
use crate::adapters::discord::bot::ADAPTER;
use crate::adapters::discord::gate::configured_mode;
use crate::adapters::discord::inbound::mode_of;
use crate::live::Live;

/// Who a mode set from the console is recorded as set by.
pub(super) const SET_BY: &str = "console";

/// The Discord channels with a configured or stored mode, with buttons to set or clear the
/// run-time mode.
pub(super) async fn channels(live: &Live, csrf: &str) -> Result<String, String> {
    let generation = live.current();
    let config = &generation.config.clara.value.adapters.discord;
    let stored = generation
        .services
        .store
        .channel_modes(ADAPTER)
        .await
        .map_err(|e| e.to_string())?;
    let mut channels: BTreeMap<&str, Option<&ChannelModeSetting>> = config
        .channels
        .keys()
        .map(|id| (id.as_str(), None))
        .collect();
    for setting in &stored {
        channels.insert(&setting.channel_id, Some(setting));
    }
    let rows: Vec<Vec<String>> = channels
        .iter()
        .map(|(id, setting)| {
            let in_force = mode_of(*setting, config, id);
            let set = setting.map_or_else(
                || "–".to_owned(),
                |s| {
                    format!(
                        "{} by {} at {}",
                        escape(&s.mode),
                        escape(&s.set_by),
                        escape(&time(s.updated_at))
                    )
                },
            );
            let mut actions: Vec<String> = ChannelMode::ALL
                .into_iter()
                .filter(|m| setting.is_none_or(|s| s.mode != m.as_str()))
                .map(|m| {
                    post_button(
                        "/console/channels/mode",
                        csrf,
                        &[("channel", id), ("mode", m.as_str())],
                        m.as_str(),
                    )
                })
                .collect();
            if setting.is_some() {
                actions.push(post_button(
                    "/console/channels/mode",
                    csrf,
                    &[("channel", id), ("mode", "default")],
                    "back to clara.toml",
                ));
            }
            vec![
                format!("<code>{}</code>", escape(id)),
                format!("<strong>{}</strong>", in_force.as_str()),
                configured_mode(config, id).as_str().to_owned(),
                set,
                actions.join(" "),
            ]
        })
        .collect();
    let mut out = String::from("<h1>Channels</h1>");
    if !config.enabled {
        out.push_str("<p class=\"notice\">Discord is off in this configuration: the modes are kept and apply once it is on.</p>");
    }
    out.push_str(&facts(&[
        (
            "Discord",
            if config.enabled { "on" } else { "off" }.to_owned(),
        ),
        (
            "channels not listed",
            config.default_channel_mode.as_str().to_owned(),
        ),
        ("allowed servers", escape(&listed(&config.allowed_servers))),
        (
            "allowed channels",
            escape(&listed(&config.allowed_channels)),
        ),
    ]));
    out.push_str(&table(
        "Discord channels with a mode of their own",
        &[
            "channel",
            "in force",
            "clara.toml",
            "set at run time",
            "set",
        ],
        &rows,
        "every channel has the default mode",
    ));
    out.push_str(&format!(
        "<form class=\"filters\" method=\"post\" action=\"/console/channels/mode\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>channel id <input name=\"channel\" required inputmode=\"numeric\"></label>\
         <label>mode <select name=\"mode\">{}</select></label><button>Set</button></form>",
        escape(csrf),
        ChannelMode::ALL
            .iter()
            .map(|m| format!("<option>{}</option>", m.as_str()))
            .collect::<String>()
    ));
    Ok(out)
}

fn listed(ids: &[String]) -> String {
    if ids.is_empty() {
        "any".to_owned()
    } else {
        ids.join(", ")
    }
}
