//! How clara sits on Discord: the shards an instance runs, the adapter and message events it
//! fires, the `/clara tools` and `/clara mcp` commands (admins install and manage servers), and
//! posting for hooks and tasks.

use crate::support::fake_discord::{FakeDiscord, SlashCommand, dm_channel_id};
use crate::support::fake_llm::openai_stream;
use crate::support::on_discord::*;
use clara_config::model::hook::Delivery;
use serde_json::json;

/// Runs `/clara <sub>` in #general as Ann and returns clara's answer.
async fn ask(on: &OnDiscord, sub: &str) -> String {
    on.slash(SlashCommand::guild(GENERAL, GUILD, ANN, "ann", "clara").subcommand(sub, &[]))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_runs_only_its_shards() {
    let mut on = OnDiscord::start(&[(
        "CLARA_ADAPTERS__DISCORD__SHARDS",
        "{ ids = [1], total = 2 }",
    )])
    .await;
    let identifies = on.discord.identifies();
    assert_eq!(identifies.len(), 1);
    assert_eq!(identifies[0].shard, [1, 2]);
    assert!(
        on.discord.requests_to("GET", "/gateway/bot").is_empty(),
        "no need to ask Discord how many shards to run"
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_and_message_events_fire() {
    let mut on = OnDiscord::start(&[]).await;
    on.model.push(openai_stream(&["Noted."]));
    on.ann_mentions("remember that I like tea");
    on.wait_reply(GENERAL, 1, "Noted.").await;
    for event in ["adapter:connected", "message:received", "message:sent"] {
        on.wait_metric(&format!("clara_events_total{{event=\"{event}\"}} 1"))
            .await;
    }
    on.discord.reconnect();
    let resumed = |f: &FakeDiscord| f.resumes().iter().any(|r| r.accepted);
    on.discord.wait_for("the resume", resumed, SOON).await;
    on.wait_ready().await;
    on.wait_metric("clara_events_total{event=\"adapter:disconnected\"} 1")
        .await;
    on.wait_metric("clara_events_total{event=\"adapter:connected\"} 2")
        .await;
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_show_tools_and_mcp_servers() {
    let mut on = OnDiscord::start(&[]).await;
    let tools = ask(&on, "tools").await;
    assert!(tools.starts_with("Tools ("), "{tools}");
    assert!(
        tools.contains("roll_dice") && tools.contains("save_to_local"),
        "{tools}"
    );
    let mcp = on
        .slash(SlashCommand::guild(GENERAL, GUILD, ANN, "ann", "clara").group("mcp", "status", &[]))
        .await;
    assert_eq!(mcp, "`everything`: off", "the shipped server is there, off");
    let registered = on.discord.commands(None);
    let group = registered[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "mcp")
        .cloned()
        .unwrap();
    let subs: Vec<&str> = group["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subs,
        [
            "status",
            "install",
            "uninstall",
            "enable",
            "disable",
            "restart",
            "search"
        ]
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_and_tasks_post_to_a_channel_or_a_dm() {
    let mut on = OnDiscord::start(&[]).await;
    let outlets = on.app().live.outlets();
    let to_channel = Delivery {
        adapter: "discord".to_owned(),
        channel: Some(GENERAL.to_string()),
        user: None,
    };
    outlets
        .post(&to_channel, "Good morning, everyone!", None)
        .await
        .unwrap();
    let to_ann = Delivery {
        adapter: "discord".to_owned(),
        channel: None,
        user: Some(format!("discord-{ANN}")),
    };
    outlets
        .post(&to_ann, "Morning, Ann. How did you sleep?", None)
        .await
        .unwrap();
    let posted = |channel: u64, text: &str| {
        on.discord
            .messages_in(channel)
            .iter()
            .any(|m| m.content == text)
    };
    assert!(posted(GENERAL, "Good morning, everyone!"));
    assert!(posted(
        dm_channel_id(ANN),
        "Morning, Ann. How did you sleep?"
    ));
    let nowhere = Delivery {
        adapter: "discord".to_owned(),
        channel: None,
        user: None,
    };
    let refused = outlets.post(&nowhere, "lost?", None).await.unwrap_err();
    assert!(
        refused.contains("needs a `channel` or a `user`"),
        "{refused}"
    );

    // A post that mentions ann pings her, and only her, whoever else the text names.
    let ann = format!("discord-{ANN}");
    outlets
        .post(&to_channel, "Your parcel is here, <@43>.", Some(&ann))
        .await
        .unwrap();
    assert!(posted(
        GENERAL,
        &format!("<@{ANN}> Your parcel is here, <@43>.")
    ));
    let sent = on
        .discord
        .requests_to("POST", &format!("/channels/{GENERAL}/messages"));
    let allowed = &sent.last().expect("the post").body["allowed_mentions"];
    assert_eq!(
        allowed["users"],
        serde_json::json!([ANN.to_string()]),
        "{allowed}"
    );
    assert_eq!(allowed["parse"], serde_json::json!([]), "{allowed}");
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Node.js: install it as .ci/run does, then CLARA_TEST_TOOLS=1"
)]
async fn an_admin_manages_mcp_servers_with_clara_mcp() {
    let (_hub, github) = crate::support::mcp_hub::tiny_hub();
    let mut on = OnDiscord::start(&[
        ("CLARA_RUNTIME__WATCH", "true"),
        ("CLARA_MCP__GITHUB_URL", &github),
    ])
    .await;
    let manifest = on.root.path().join("tools.d/tiny.toml");
    let ann = || SlashCommand::guild(GENERAL, GUILD, ANN, "ann", "clara");
    let admin = || ann().roles(&[ADMIN_ROLE]);
    let install = [("source", json!("github.com/acme/tiny-mcp"))];

    let denied = on.slash(ann().group("mcp", "install", &install)).await;
    assert!(denied.starts_with("Permission denied"), "{denied}");
    assert!(!manifest.exists());

    let installed = on
        .slash_later(admin().group("mcp", "install", &install))
        .await;
    assert_eq!(installed, "Installed `tiny` with 1 tools: `tiny__shout`");
    let live = on.app().live.clone();
    let deadline = std::time::Instant::now() + SOON;
    while live.mcp().server("tiny").is_none() {
        assert!(std::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    live.mcp().started(SOON).await;
    let status = on.slash(ann().group("mcp", "status", &[])).await;
    assert_eq!(status, "`everything`: off\n`tiny`: running, 1 tools");
    let name = [("name", json!("tiny"))];
    let restarted = on.slash(admin().group("mcp", "restart", &name)).await;
    assert_eq!(restarted, "Restarting `tiny`.");
    let off = on.slash(admin().group("mcp", "disable", &name)).await;
    assert_eq!(off, "Turned `tiny` off.");
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains("enabled = false")
    );
    let gone = on.slash(admin().group("mcp", "uninstall", &name)).await;
    assert_eq!(
        gone,
        "Done: removed tools.d/tiny.toml and mcp_servers/tiny."
    );
    assert!(!manifest.exists());
    let unknown = on.slash(admin().group("mcp", "enable", &name)).await;
    assert_eq!(
        unknown,
        "Not done: no MCP server is called `tiny` in tools.d"
    );
    on.stop().await;
}
