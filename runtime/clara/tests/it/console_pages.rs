//! The console's pages beyond the overview and turns, over HTTP: conversations and their
//! messages, a memory's history, channel modes set and cleared, the configuration with its
//! pending edits and a reload, MCP servers switched off and on, hooks' recent runs, and the
//! gateway's nodes. Every text from a user or a file reaches the page escaped.

use std::time::{Duration, Instant};

use clara_core::llm::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::console_site::{OnConsole, console, console_in, csrf_of};
use crate::support::shipped_root;

const NOW: i64 = 1_764_000_000_000;

/// The cookie and CSRF token of a first visit to the open console.
async fn visit(on: &OnConsole) -> (String, String) {
    // The config page has a form (its reload button) to read the token from.
    let first = on.get("/console/config", None).await;
    let cookie = crate::support::console_site::session_cookie(&first);
    let csrf = csrf_of(&first.text().await.unwrap());
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_open_to_their_messages_and_a_memory_to_its_history() {
    let on = console("127.0.0.1:0", &[("CLARA_CONSOLE__TRUNCATE_CHARS", "80")]).await;
    let (cookie, csrf) = visit(&on).await;
    let store = on.app.live.current().services.store.clone();
    let (session, _) = store
        .start_session("ann", "dm-ann", None, NOW)
        .await
        .unwrap();
    let long = format!("<b>hello</b> {}", "and more ".repeat(30));
    store
        .add_message(&session.id, Role::User, None, &long, NOW + 1)
        .await
        .unwrap();
    store
        .add_message(&session.id, Role::Assistant, None, "Hi Ann & co", NOW + 2)
        .await
        .unwrap();
    store
        .start_session("bob", "dm-bob", None, NOW)
        .await
        .unwrap();

    let everyone = on.page("/console/conversations", &cookie).await;
    assert!(
        everyone.contains("dm-ann") && everyone.contains("dm-bob"),
        "{everyone}"
    );
    let ann = on.page("/console/conversations?user=ann", &cookie).await;
    assert!(ann.contains("dm-ann") && !ann.contains("dm-bob"), "{ann}");
    let path = format!("/console/conversations/{}", session.id);
    assert!(ann.contains(&path), "a session opens: {ann}");

    let messages = on.page(&path, &cookie).await;
    assert!(
        messages.contains("&lt;b&gt;hello&lt;/b&gt;"),
        "escaped: {messages}"
    );
    assert!(messages.contains("Hi Ann &amp; co"), "{messages}");
    assert!(
        messages.contains("show all") && !messages.contains(&long.replace('<', "&lt;")),
        "a long message is cut with a way to the whole: {messages}"
    );
    let whole = on.page(&format!("{path}?full=1"), &cookie).await;
    assert!(whole.contains("and more and more"), "{whole}");
    assert!(!whole.contains("show all"), "{whole}");
    let missing = on
        .get("/console/conversations/no-such-session", Some(&cookie))
        .await;
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("No session has that id")
    );

    let id = on.remember("ann", "Ann keeps bees").await;
    store
        .update_memory(&id, "Ann keeps <bees> and goats", false, None, NOW + 10)
        .await
        .unwrap();
    let listed = on.page("/console/memory?user=ann", &cookie).await;
    assert!(
        listed.contains(&format!("/console/memory/{id}")),
        "{listed}"
    );
    let history = on.page(&format!("/console/memory/{id}"), &cookie).await;
    for part in [
        "added",
        "rewritten",
        "Ann keeps bees",
        "Ann keeps &lt;bees&gt; and goats",
    ] {
        assert!(history.contains(part), "{part} in {history}");
    }
    let forgotten = on
        .post(
            "/console/memory/forget",
            Some(&cookie),
            &[("id", &id), ("user", "ann"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(forgotten.status(), 303);
    let history = on.page(&format!("/console/memory/{id}"), &cookie).await;
    assert!(
        history.contains("forgotten") && history.contains("its history stays"),
        "{history}"
    );
    assert_eq!(
        on.get("/console/memory/nothing-here", Some(&cookie))
            .await
            .status(),
        404
    );
    on.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn channel_modes_are_shown_set_and_cleared_like_the_admin_command() {
    let root = shipped_root();
    let clara = root.path().join("clara.toml");
    let mut text = std::fs::read_to_string(&clara).unwrap();
    text.push_str("\n[adapters.discord.channels.555]\nmode = \"off\"\n");
    std::fs::write(&clara, text).unwrap();
    let on = console_in(root, "127.0.0.1:0", &[]).await;
    let (cookie, csrf) = visit(&on).await;

    let page = on.page("/console/channels", &cookie).await;
    assert!(page.contains("<code>555</code>"), "{page}");
    assert!(
        page.contains("Discord is off"),
        "kept for when it is on: {page}"
    );
    assert!(
        page.contains("<strong>off</strong>"),
        "clara.toml's mode: {page}"
    );

    let set = on
        .post(
            "/console/channels/mode",
            Some(&cookie),
            &[("channel", "555"), ("mode", "active"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(set.status(), 303);
    let store = on.app.live.current().services.store.clone();
    let stored = store.channel_mode("discord", "555").await.unwrap().unwrap();
    assert_eq!(
        (stored.mode.as_str(), stored.set_by.as_str()),
        ("active", "console")
    );
    let page = on.page("/console/channels", &cookie).await;
    assert!(
        page.contains("<strong>active</strong>") && page.contains("active by console"),
        "{page}"
    );
    assert!(page.contains("back to clara.toml"), "{page}");

    on.post(
        "/console/channels/mode",
        Some(&cookie),
        &[("channel", "777"), ("mode", "mention"), ("csrf", &csrf)],
    )
    .await;
    let page = on.page("/console/channels", &cookie).await;
    assert!(
        page.contains("<code>777</code>"),
        "a channel set only at run time: {page}"
    );

    let cleared = on
        .post(
            "/console/channels/mode",
            Some(&cookie),
            &[("channel", "555"), ("mode", "default"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(cleared.status(), 303);
    assert_eq!(store.channel_mode("discord", "555").await.unwrap(), None);
    let page = on.page("/console/channels", &cookie).await;
    assert!(page.contains("<strong>off</strong>"), "{page}");

    for (channel, mode) in [("not-a-number", "off"), ("555", "loud")] {
        let refused = on
            .post(
                "/console/channels/mode",
                Some(&cookie),
                &[("channel", channel), ("mode", mode), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(refused.status(), 400, "{channel} {mode}");
    }
    let forged = on
        .post(
            "/console/channels/mode",
            Some(&cookie),
            &[("channel", "555"), ("mode", "off")],
        )
        .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(store.channel_mode("discord", "555").await.unwrap(), None);
    on.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_page_shows_the_files_what_disk_would_change_and_reloads() {
    let on = console("127.0.0.1:0", &[]).await;
    let (cookie, csrf) = visit(&on).await;
    let page = on.page("/console/config", &cookie).await;
    for part in [
        "<code>clara.toml</code>",
        "<code>personas/clara.toml</code>",
        "valid, running",
        "plan: nothing changes",
    ] {
        assert!(page.contains(part), "{part} in {page}");
    }

    // A broken file: every problem at its place, and the running configuration stays.
    let broken = on.root.path().join("pipelines/broken.toml");
    std::fs::write(&broken, "steps = 3\n").unwrap();
    let page = on.page("/console/config", &cookie).await;
    assert!(
        page.contains("invalid; the running configuration stays"),
        "{page}"
    );
    assert!(
        page.contains("running; the files on disk do not load") && !page.contains("valid, running"),
        "no file reads as fine while the disk does not load: {page}"
    );
    assert!(page.contains("pipelines/broken.toml:1:"), "{page}");
    let refused = on
        .post("/console/config/reload", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("pipelines/broken.toml:1:")
    );

    // An edit that applies live: the plan says what changes, the reload applies it.
    std::fs::remove_file(&broken).unwrap();
    crate::support::edit(
        &on.root.path().join("personas/clara.md"),
        "You are Clara",
        "You are Clara, <careful>",
    );
    std::fs::write(
        on.root.path().join("pipelines/extra.toml"),
        std::fs::read_to_string(on.root.path().join("pipelines/check_in.toml")).unwrap(),
    )
    .unwrap();
    let page = on.page("/console/config", &cookie).await;
    assert!(
        page.contains("changed on disk, applies on reload"),
        "{page}"
    );
    assert!(
        page.contains("<code>pipelines/extra.toml</code>")
            && page.contains("added on disk, applies on reload"),
        "{page}"
    );
    assert!(page.contains("persona clara: its prompt:"), "{page}");
    assert!(page.contains("&lt;careful&gt;"), "escaped: {page}");
    let reloaded = on
        .post("/console/config/reload", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(reloaded.status(), 303);
    let page = on.page("/console/config", &cookie).await;
    assert!(page.contains("generation 2 since"), "{page}");
    assert!(page.contains("plan: nothing changes"), "{page}");
    on.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_server_is_switched_on_and_off_in_its_manifest() {
    let on = console("127.0.0.1:0", &[]).await;
    let (cookie, csrf) = visit(&on).await;
    let manifest = on.root.path().join("tools.d/everything.yaml");
    let tools = on.page("/console/tools", &cookie).await;
    assert!(
        tools.contains("<code>tools.d/everything.yaml</code>") && tools.contains("Turn on"),
        "{tools}"
    );
    let switch = |on_off: &'static str| {
        let csrf = csrf.clone();
        let cookie = cookie.clone();
        let on = &on;
        async move {
            on.post(
                "/console/mcp/enabled",
                Some(&cookie),
                &[("name", "everything"), ("on", on_off), ("csrf", &csrf)],
            )
            .await
        }
    };
    assert_eq!(switch("1").await.status(), 303);
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains("enabled: true")
    );
    let running = on.app.live.mcp().statuses();
    assert!(
        running.iter().any(|(name, _, _)| name == "everything"),
        "{running:?}"
    );
    let tools = on.page("/console/tools", &cookie).await;
    assert!(tools.contains("Turn off"), "{tools}");

    assert_eq!(switch("0").await.status(), 303);
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains("enabled: false")
    );
    assert!(on.app.live.mcp().statuses().is_empty(), "stopped");
    assert_eq!(
        on.app.live.reloads().generation,
        3,
        "each switch applied at once"
    );

    // With an edit pending that needs a restart, the switch is written but cannot apply; once
    // that edit is undone, asking again applies it.
    let clara_toml = on.root.path().join("clara.toml");
    let settings = std::fs::read_to_string(&clara_toml).unwrap();
    std::fs::write(
        &clara_toml,
        std::fs::read_to_string(&clara_toml).unwrap().replace(
            "[status]\nenabled = true",
            "[status]\nenabled = true\npublic_url = \"https://c.example\"",
        ),
    )
    .unwrap();
    let refused = switch("1").await;
    assert_eq!(refused.status(), 409);
    let said = refused.text().await.unwrap();
    assert!(
        said.contains("manifest on disk now says on") && said.contains("restart"),
        "{said}"
    );
    assert!(on.app.live.mcp().statuses().is_empty(), "not applied");
    std::fs::write(&clara_toml, &settings).unwrap();
    assert_eq!(switch("1").await.status(), 303);
    assert!(
        !on.app.live.mcp().statuses().is_empty(),
        "applied once nothing stands in the way"
    );

    let unknown = on
        .post(
            "/console/mcp/enabled",
            Some(&cookie),
            &[("name", "nothing"), ("on", "1"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let not_mcp = on
        .post(
            "/console/mcp/enabled",
            Some(&cookie),
            &[("name", "roll_dice"), ("on", "0"), ("csrf", &csrf)],
        )
        .await;
    assert!(not_mcp.status().is_client_error(), "{}", not_mcp.status());
    assert!(
        !std::fs::read_to_string(on.root.path().join("tools.d/roll_dice.toml"))
            .unwrap()
            .contains("enabled = false")
    );
    on.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_shows_hooks_recent_runs_and_the_overview_the_gateways_nodes() {
    let root = shipped_root();
    // A webhook whose URL holds a token, to a port where nothing listens: its failure is shown
    // by host alone.
    std::fs::write(
        root.path().join("hooks/leaky.yaml"),
        "hooks:\n  - name: leaky\n    event: gateway:startup\n    webhook:\n      url: http://127.0.0.1:9/hooks/secret-token-123\n",
    )
    .unwrap();
    let on = console_in(
        root,
        "127.0.0.1:0",
        &[
            ("CLARA_ADAPTERS__GATEWAY__ENABLED", "true"),
            ("CLARA_ADAPTERS__GATEWAY__BIND", "127.0.0.1:0"),
        ],
    )
    .await;
    let (cookie, _) = visit(&on).await;
    // The shipped `log-startup` hook runs on `gateway:startup`.
    let started = Instant::now();
    let schedule = loop {
        let page = on.page("/console/schedule", &cookie).await;
        if page.contains("clara started at") && page.contains("POST to 127.0.0.1") {
            break page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no hook run: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(schedule.contains("Recent hook runs"), "{schedule}");
    assert!(schedule.contains("log-startup"), "{schedule}");
    assert!(schedule.contains("outcome-ok"), "{schedule}");
    assert!(schedule.contains("outcome-failed"), "{schedule}");
    assert!(schedule.contains("posts to 127.0.0.1"), "{schedule}");
    assert!(
        !schedule.contains("secret-token-123"),
        "a webhook's URL may hold a token: {schedule}"
    );

    let address = on.app.health.snapshot().adapters["gateway"].detail["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}"))
        .await
        .unwrap();
    socket
        .send(Message::text(
            json!({"type": "register", "node_id": "kitchen-<pi>", "platform": "teams"}).to_string(),
        ))
        .await
        .unwrap();
    let registered = socket.next().await.unwrap().unwrap();
    assert!(registered.to_text().unwrap().contains("registered"));
    let overview = on.page("/", &cookie).await;
    assert!(overview.contains("Gateway nodes"), "{overview}");
    assert!(
        overview.contains("kitchen-&lt;pi&gt;"),
        "escaped: {overview}"
    );
    assert!(overview.contains("teams"), "{overview}");
    on.app.shutdown("test").await;
}
