//! Who clara answers on Discord: mentions and replies, never bots, `off` channels never,
//! allow-lists of servers, channels and roles, and channel modes an admin sets with `/clara`.

use std::time::Duration;

use crate::support::fake_discord::{BOT_ID, SlashCommand, UserMessage};
use crate::support::fake_llm::openai_stream;
use crate::support::on_discord::*;
use serde_json::json;

/// Long enough for clara to have answered a message it was going to answer.
const SETTLE: Duration = Duration::from_millis(700);

/// `author` says `text` in `channel`, mentioning clara.
fn mention(channel: u64, author: u64, name: &str, text: &str) -> UserMessage {
    UserMessage::guild(channel, GUILD, author, name, &format!("<@{BOT_ID}> {text}")).mention_bot()
}

/// Runs `/clara channel mode:<mode>` and returns clara's answer.
async fn set_mode(on: &OnDiscord, command: SlashCommand, mode: &str) -> String {
    on.slash(command.subcommand("channel", &[("mode", json!(mode))]))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_answered_and_bots_and_chatter_are_not() {
    let mut on = OnDiscord::start(&[]).await;
    on.discord.send_user_message(UserMessage::guild(
        GENERAL,
        GUILD,
        BOB,
        "bob",
        "just chatting, not to clara",
    ));
    on.discord
        .send_user_message(mention(GENERAL, 77, "otherbot", "hey clara").by_bot());
    tokio::time::sleep(SETTLE).await;
    assert_eq!(on.model.request_count(), 0, "{}", on.discord.dump());

    on.model.push(openai_stream(&["Hi Bob."]));
    on.discord
        .send_user_message(mention(GENERAL, BOB, "bob", "are you there?"));
    on.wait_reply(GENERAL, 1, "Hi Bob.").await;
    assert_eq!(on.model.request_count(), 1);
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_limit_channels_and_roles() {
    let channels = format!("[\"{RANDOM}\"]");
    let roles = format!("[\"{MEMBER_ROLE}\"]");
    let mut on = OnDiscord::start(&[
        ("CLARA_ADAPTERS__DISCORD__ALLOWED_CHANNELS", &channels),
        ("CLARA_ADAPTERS__DISCORD__ALLOWED_ROLES", &roles),
    ])
    .await;
    on.discord
        .send_user_message(mention(GENERAL, ANN, "ann", "in general").roles(&[MEMBER_ROLE]));
    on.discord
        .send_user_message(mention(RANDOM, BOB, "bob", "no role here"));
    tokio::time::sleep(SETTLE).await;
    assert_eq!(on.model.request_count(), 0, "{}", on.discord.dump());

    on.model.push(openai_stream(&["Allowed."]));
    on.discord
        .send_user_message(mention(RANDOM, ANN, "ann", "in random").roles(&[MEMBER_ROLE]));
    on.wait_reply(RANDOM, 1, "Allowed.").await;
    assert_eq!(on.model.request_count(), 1);
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_channel_modes_with_a_slash_command() {
    let mut on = OnDiscord::start(&[]).await;
    on.discord
        .wait_for("the commands", |f| !f.commands(None).is_empty(), SOON)
        .await;
    assert_eq!(on.discord.commands(None)[0]["name"], "clara");

    let bob = SlashCommand::guild(GENERAL, GUILD, BOB, "bob", "clara");
    let refused = set_mode(&on, bob, "active").await;
    assert!(refused.starts_with("Permission denied"), "{refused}");

    let ann = SlashCommand::guild(GENERAL, GUILD, ANN, "ann", "clara").roles(&[ADMIN_ROLE]);
    let done = set_mode(&on, ann, "active").await;
    assert_eq!(done, "This channel is now `active`.");
    on.model.push(openai_stream(&["I hear you."]));
    on.discord.send_user_message(UserMessage::guild(
        GENERAL,
        GUILD,
        BOB,
        "bob",
        "no mention needed now",
    ));
    on.wait_reply(GENERAL, 1, "I hear you.").await;

    let manager = SlashCommand::guild(GENERAL, GUILD, BOB, "bob", "clara").permissions(0x10);
    let off = set_mode(&on, manager, "off").await;
    assert_eq!(off, "This channel is now `off`.");
    on.discord
        .send_user_message(mention(GENERAL, ANN, "ann", "hello?"));
    tokio::time::sleep(SETTLE).await;
    assert_eq!(on.model.request_count(), 1, "off channels answer nothing");

    let status = SlashCommand::guild(GENERAL, GUILD, ANN, "ann", "clara").subcommand("status", &[]);
    let text = on.slash(status).await;
    assert!(text.contains("connected"), "{text}");
    assert!(text.contains("`off` (set by discord-43)"), "{text}");

    let owner = SlashCommand::guild(GENERAL, GUILD, OWNER, "owner", "clara");
    let back = set_mode(&on, owner, "default").await;
    assert_eq!(back, "This channel is now `mention`.");
    on.stop().await;
}
