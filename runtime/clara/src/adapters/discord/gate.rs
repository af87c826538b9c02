//! Who clara answers on Discord: DMs, mentions and replies, active channels, within the
//! allow-lists, never bots.

use clara_config::model::adapters::{ChannelMode, DiscordConfig};

/// What is known about a message before deciding whether to answer it.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// Written by a bot (clara included).
    pub from_bot: bool,
    /// A direct message.
    pub is_dm: bool,
    /// clara is mentioned, or the message replies to one of clara's.
    pub addressed: bool,
    /// The server, for server messages.
    pub guild_id: Option<&'a str>,
    /// The channel.
    pub channel_id: &'a str,
    /// The author's role ids (server messages).
    pub roles: &'a [String],
    /// The channel's mode (an admin's setting, else `clara.toml`'s).
    pub mode: ChannelMode,
}

/// Whether and how to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer.
    Answer {
        /// Written to clara (a DM, a mention, a reply): it gets a queue notice when it
        /// waits. Other messages (active channels) may be batched.
        addressed: bool,
    },
    /// Leave it.
    Ignore(Ignored),
}

/// Why a message is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Bots, clara included, are never answered (no loops between bots).
    Bot,
    /// The server or channel is not in the allow-lists.
    NotAllowedHere,
    /// The author has none of the allowed roles.
    NoAllowedRole,
    /// The channel is `off`.
    ChannelOff,
    /// A `mention` channel and clara was not addressed.
    NotAddressed,
}

/// Decides whether to answer.
///
/// DMs are always answered. In servers the allow-lists come first: when `allowed_servers`
/// or `allowed_channels` lists anything, the message must be in a listed server or a
/// listed channel; when `allowed_roles` lists anything, the author needs one of them. Then
/// the channel's mode: `off` answers nothing, `mention` answers mentions and replies,
/// `active` answers everything.
pub fn decide(config: &DiscordConfig, facts: &Facts<'_>) -> Verdict {
    if facts.from_bot {
        return Verdict::Ignore(Ignored::Bot);
    }
    if facts.is_dm {
        return Verdict::Answer { addressed: true };
    }
    let listed = !config.allowed_servers.is_empty() || !config.allowed_channels.is_empty();
    let in_server = facts
        .guild_id
        .is_some_and(|g| config.allowed_servers.iter().any(|s| s == g));
    let in_channel = config
        .allowed_channels
        .iter()
        .any(|c| c == facts.channel_id);
    if listed && !in_server && !in_channel {
        return Verdict::Ignore(Ignored::NotAllowedHere);
    }
    if !config.allowed_roles.is_empty()
        && !facts
            .roles
            .iter()
            .any(|role| config.allowed_roles.contains(role))
    {
        return Verdict::Ignore(Ignored::NoAllowedRole);
    }
    match facts.mode {
        ChannelMode::Off => Verdict::Ignore(Ignored::ChannelOff),
        ChannelMode::Mention if !facts.addressed => Verdict::Ignore(Ignored::NotAddressed),
        ChannelMode::Mention => Verdict::Answer { addressed: true },
        ChannelMode::Active => Verdict::Answer {
            addressed: facts.addressed,
        },
    }
}

/// The mode `clara.toml` gives a channel (before any admin setting from the store).
pub fn configured_mode(config: &DiscordConfig, channel_id: &str) -> ChannelMode {
    config
        .channels
        .get(channel_id)
        .map_or(config.default_channel_mode, |c| c.mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(mode: ChannelMode) -> Facts<'static> {
        Facts {
            from_bot: false,
            is_dm: false,
            addressed: false,
            guild_id: Some("g1"),
            channel_id: "c1",
            roles: &[],
            mode,
        }
    }

    #[test]
    fn modes_decide_server_messages() {
        let config = DiscordConfig::default();
        assert_eq!(
            decide(&config, &facts(ChannelMode::Mention)),
            Verdict::Ignore(Ignored::NotAddressed)
        );
        let mentioned = Facts {
            addressed: true,
            ..facts(ChannelMode::Mention)
        };
        assert_eq!(
            decide(&config, &mentioned),
            Verdict::Answer { addressed: true }
        );
        assert_eq!(
            decide(&config, &facts(ChannelMode::Active)),
            Verdict::Answer { addressed: false }
        );
        let off = Facts {
            addressed: true,
            ..facts(ChannelMode::Off)
        };
        assert_eq!(decide(&config, &off), Verdict::Ignore(Ignored::ChannelOff));
    }

    #[test]
    fn bots_never_and_dms_always() {
        let config = DiscordConfig {
            allowed_channels: vec!["elsewhere".into()],
            ..DiscordConfig::default()
        };
        let bot = Facts {
            from_bot: true,
            is_dm: true,
            ..facts(ChannelMode::Active)
        };
        assert_eq!(decide(&config, &bot), Verdict::Ignore(Ignored::Bot));
        let dm = Facts {
            is_dm: true,
            guild_id: None,
            ..facts(ChannelMode::Off)
        };
        assert_eq!(decide(&config, &dm), Verdict::Answer { addressed: true });
    }

    #[test]
    fn allow_lists_combine_servers_channels_and_roles() {
        let active = facts(ChannelMode::Active);
        let servers = DiscordConfig {
            allowed_servers: vec!["g1".into()],
            allowed_channels: vec!["other".into()],
            ..DiscordConfig::default()
        };
        assert!(matches!(decide(&servers, &active), Verdict::Answer { .. }));
        let channels = DiscordConfig {
            allowed_channels: vec!["other".into()],
            ..DiscordConfig::default()
        };
        assert_eq!(
            decide(&channels, &active),
            Verdict::Ignore(Ignored::NotAllowedHere)
        );
        let roles = DiscordConfig {
            allowed_roles: vec!["r2".into()],
            ..DiscordConfig::default()
        };
        assert_eq!(
            decide(&roles, &active),
            Verdict::Ignore(Ignored::NoAllowedRole)
        );
        let member = ["r1".to_owned(), "r2".to_owned()];
        let with_role = Facts {
            roles: &member,
            ..active
        };
        assert!(matches!(decide(&roles, &with_role), Verdict::Answer { .. }));
    }
}
