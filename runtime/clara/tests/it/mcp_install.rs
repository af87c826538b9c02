//! Installing MCP servers with `clara mcp` (the real binary) into a copy of the shipped root:
//! from npm (the real package, from npm's cache, so no network), from PyPI (a wheel uvx finds
//! in a local folder), a script on this machine and a git repository standing in for GitHub. Each manifest validates and its tools are called
//! through the runtime; disabling and removing leave the files as they should. A server that
//! crashes at start, a name that is taken and a repository without a build are refused with
//! nothing written. Registry search runs against fake registries, and a running clara
//! restarts a server when `clara mcp restart` asks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use clara::tools::mcp::McpServers;
use clara_config::{ConfigSet, Env};
use clara_core::engine::{ManualClock, ToolContext};
use serde_json::json;

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::mcp_hub::{repository, tiny_hub};
use crate::support::{self, said, shipped_root};

fn tiny_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/tiny_server.mjs")
}

/// `clara mcp ARGS` on `root`, with what npm and git need to work from their caches.
fn mcp(root: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut command = support::clara(root);
    command
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("npm_config_offline", "true")
        .arg("mcp")
        .args(args);
    for (key, value) in extra {
        command.env(key, value);
    }
    command.output().expect("clara runs")
}

fn load(root: &Path) -> ConfigSet {
    load_with(root, &[])
}

/// The root's config with `vars` in its environment besides a provider key.
fn load_with(root: &Path, vars: &[(&str, &str)]) -> ConfigSet {
    let vars = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]);
    clara_config::load_with_env(root, Env::from_vars(vars)).unwrap_or_else(|p| panic!("{p:?}"))
}

/// Calls `tool` of the servers `set` runs, as the tool loop does.
async fn call(set: &ConfigSet, tool: &str, arguments: serde_json::Value) -> String {
    let servers = McpServers::new(clara::tools::http_client());
    let sources = servers.sync(set, None);
    servers.started(Duration::from_secs(30)).await;
    let tools: Vec<_> = sources.iter().flat_map(|s| s.tools().to_vec()).collect();
    let found = tools
        .iter()
        .find(|t| t.spec().name == tool)
        .unwrap_or_else(|| panic!("no {tool}"));
    let store = clara_core::store::InMemoryStore::new();
    let clock = ManualClock::new(0);
    let context = ToolContext {
        user_id: "u",
        store: &store,
        embedder: None,
        clock: &clock,
        search: (10, 60),
        files: None,
        place: None,
    };
    let result = found.call(&arguments, &context).await;
    servers.shutdown().await;
    result.unwrap_or_else(|e| panic!("{tool} failed: {}", e.0))
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Node.js and the npm package in npm's cache: npm install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn an_npm_package_is_installed_validated_called_disabled_and_removed() {
    let root = shipped_root();
    let added = mcp(
        root.path(),
        &[
            "add",
            "npm:@modelcontextprotocol/server-everything@2026.8.31",
            "--name",
            "ev",
            "--",
            "stdio",
        ],
        &[],
    );
    let text = said(&added);
    assert!(added.status.success(), "{text}");
    assert!(
        text.contains("installed `ev` in tools.d/ev.toml with 13 tools")
            && text.contains("ev__echo  Echoes back the input string"),
        "{text}"
    );
    let manifest = std::fs::read_to_string(root.path().join("tools.d/ev.toml")).unwrap();
    assert!(
        manifest.contains("working_dir = \"mcp_servers/ev\"")
            && manifest.contains("# Installed by `clara mcp add npm:@modelcontextprotocol/server-everything@2026.8.31 --name"),
        "{manifest}"
    );
    let valid = support::clara(root.path())
        .args(["validate", "--offline"])
        .output()
        .unwrap();
    assert!(valid.status.success(), "{}", said(&valid));

    let set = load(root.path());
    assert_eq!(
        call(&set, "ev__echo", json!({"message": "installed"})).await,
        "Echo: installed"
    );

    let disabled = mcp(root.path(), &["disable", "ev"], &[]);
    assert_eq!(said(&disabled), "ev is disabled\n");
    let set = load(root.path());
    assert!(!set.tools["ev"].value.enabled);
    assert!(
        std::fs::read_to_string(root.path().join("tools.d/ev.toml"))
            .unwrap()
            .contains("# Installed by"),
        "the rest of the file is kept"
    );
    let listed = said(&mcp(root.path(), &["list"], &[]));
    assert!(
        listed.contains("ev  disabled  node node_modules/"),
        "{listed}"
    );

    let removed = mcp(root.path(), &["remove", "ev"], &[]);
    assert_eq!(
        said(&removed),
        "removed tools.d/ev.toml and mcp_servers/ev\n"
    );
    assert!(!root.path().join("tools.d/ev.toml").exists());
    assert!(!root.path().join("mcp_servers/ev").exists());
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Node.js: install it as .ci/run does, then CLARA_TEST_TOOLS=1"
)]
async fn a_local_server_is_installed_and_bad_installs_leave_nothing() {
    let root = shipped_root();
    let script = tiny_server();
    let script = script.to_str().unwrap();
    let before: Vec<_> = std::fs::read_dir(root.path().join("tools.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    // A server that dies at start says why, and nothing is written.
    let crashed = mcp(
        root.path(),
        &[
            "add",
            script,
            "--name",
            "tiny",
            "--env",
            "TINY_CRASH=no API key set",
        ],
        &[],
    );
    assert!(!crashed.status.success());
    assert!(
        said(&crashed).contains("the server did not start")
            && said(&crashed).contains("it said: tiny: cannot start: no API key set"),
        "{}",
        said(&crashed)
    );
    // A name that is taken, one that is not a name, a source that is not one.
    let taken = mcp(root.path(), &["add", script, "--name", "everything"], &[]);
    assert!(
        said(&taken).contains("`everything` is taken by tools.d/everything.yaml"),
        "{}",
        said(&taken)
    );
    // A name another file gives its tool, or a built-in tool's.
    std::fs::write(
        root.path().join("tools.d/forecast_tool.toml"),
        "name = \"weather\"\ndescription = \"The weather.\"\n\n[runner]\ntype = \"command\"\nprogram = \"true\"\n",
    )
    .unwrap();
    let elsewhere = mcp(root.path(), &["add", script, "--name", "weather"], &[]);
    assert!(
        said(&elsewhere).contains("`weather` is the name of another tool"),
        "{}",
        said(&elsewhere)
    );
    let builtin = mcp(
        root.path(),
        &["add", script, "--name", "memory_search"],
        &[],
    );
    assert!(
        said(&builtin).contains("`memory_search` is the name of another tool"),
        "{}",
        said(&builtin)
    );
    std::fs::remove_file(root.path().join("tools.d/forecast_tool.toml")).unwrap();
    let bad = mcp(root.path(), &["add", script, "--name", "a b"], &[]);
    assert!(
        said(&bad).contains("`a b` is not a valid name"),
        "{}",
        said(&bad)
    );
    let unknown = mcp(root.path(), &["add", "weather"], &[]);
    assert!(
        said(&unknown).contains("`weather` is not a server source"),
        "{}",
        said(&unknown)
    );
    let missing = mcp(root.path(), &["add", "./not-here.js"], &[]);
    assert!(
        said(&missing).contains("there is no "),
        "{}",
        said(&missing)
    );
    let after: Vec<_> = std::fs::read_dir(root.path().join("tools.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "tools.d is unchanged");

    let added = mcp(root.path(), &["add", script], &[]);
    assert!(added.status.success(), "{}", said(&added));
    assert!(said(&added).contains("tiny__shout  Upper-cases a text"));
    let status = mcp(root.path(), &["status", "tiny"], &[]);
    assert_eq!(said(&status), "tiny: starts, 1 tools\n");
    let set = load(root.path());
    assert_eq!(
        call(&set, "tiny__shout", json!({"text": "hey"})).await,
        "HEY"
    );
    // Not an MCP server: not removed.
    let refused = mcp(root.path(), &["remove", "wikipedia_search"], &[]);
    assert!(
        said(&refused).contains("no MCP server is called `wikipedia_search`"),
        "{}",
        said(&refused)
    );
    assert!(root.path().join("tools.d/wikipedia_search.toml").exists());
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs uv (pip install uv, as .ci/run does), then CLARA_TEST_TOOLS=1"
)]
async fn a_pypi_package_runs_with_uvx() {
    let root = shipped_root();
    let wheels = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let made = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/make_tiny_wheel.py"))
        .arg(wheels.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", said(&made));
    // uv finds the package in the folder, never on the network.
    let (links, cache) = (
        wheels.path().to_str().unwrap(),
        cache.path().to_str().unwrap(),
    );
    let home = std::env::var("HOME").unwrap_or_default();
    let uv = [
        ("UV_FIND_LINKS", links),
        ("UV_OFFLINE", "1"),
        ("UV_CACHE_DIR", cache),
    ];
    let added = mcp(root.path(), &["add", "pypi:tiny-py-mcp"], &uv);
    assert!(added.status.success(), "{}", said(&added));
    assert!(
        said(&added).contains("installed `tiny-py` in tools.d/tiny-py.toml with 1 tools"),
        "{}",
        said(&added)
    );
    let manifest = std::fs::read_to_string(root.path().join("tools.d/tiny-py.toml")).unwrap();
    assert!(
        manifest.contains("command = \"uvx\"")
            && manifest.contains(
                "secrets_env = [\"HOME\", \"UV_CACHE_DIR\", \"UV_FIND_LINKS\", \"UV_OFFLINE\"]"
            ),
        "uv's settings reach it by name: {manifest}"
    );
    let mut vars = uv.to_vec();
    vars.push(("HOME", &home));
    let set = load_with(root.path(), &vars);
    assert_eq!(
        call(&set, "tiny-py__reverse", json!({"text": "hello"})).await,
        "olleh"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Node.js and git: install them as .ci/run does, then CLARA_TEST_TOOLS=1"
)]
async fn a_github_repository_is_cloned_built_and_run() {
    let root = shipped_root();
    let (hub, github) = tiny_hub();
    repository(
        hub.path(),
        "acme",
        "notes",
        &[("README.md", "just notes".to_owned())],
    );
    let hub_env = [("CLARA_MCP__GITHUB_URL", github.as_str())];

    let added = mcp(root.path(), &["add", "github.com/acme/tiny-mcp"], &hub_env);
    assert!(added.status.success(), "{}", said(&added));
    assert!(said(&added).contains("installed `tiny` in tools.d/tiny.toml with 1 tools"));
    assert!(
        root.path().join("mcp_servers/tiny/built.txt").exists(),
        "its build script ran"
    );
    let set = load(root.path());
    assert_eq!(
        call(&set, "tiny__shout", json!({"text": "cloned"})).await,
        "CLONED"
    );

    let unbuildable = mcp(root.path(), &["add", "github.com/acme/notes"], &hub_env);
    assert!(
        said(&unbuildable).contains("it has no package.json, pyproject.toml, Cargo.toml or go.mod"),
        "{}",
        said(&unbuildable)
    );
    assert!(
        !root.path().join("mcp_servers/notes").exists(),
        "the clone is gone"
    );
    assert!(!root.path().join("tools.d/notes.toml").exists());
    let absent = mcp(root.path(), &["add", "github.com/acme/nothing"], &hub_env);
    assert!(
        said(&absent).contains("git clone failed"),
        "{}",
        said(&absent)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registries_are_searched_and_show_what_to_install() {
    let root = shipped_root();
    let official = FakeLlm::start().await;
    let smithery = FakeLlm::start().await;
    official.push(Reply::json(
        200,
        json!({"servers": [
            {"server": {"name": "io.github.acme/weather", "description": "Forecasts\nand alerts", "version": "1.2.0",
                        "packages": [{"registryType": "npm", "identifier": "@acme/weather-mcp", "version": "1.2.0",
                                      "transport": {"type": "stdio"},
                                      "environmentVariables": [{"name": "WEATHER_KEY", "isRequired": true, "isSecret": true}]}]},
             "_meta": {}},
            {"server": {"name": "com.example/hosted-weather", "description": "Hosted", "version": "2.0.0",
                        "remotes": [{"type": "streamable-http", "url": "https://mcp.example.com/mcp"}]}}
        ], "metadata": {"count": 2}}),
    ));
    smithery.push(Reply::json(
        200,
        json!({"servers": [{"qualifiedName": "@sky/forecast", "displayName": "Forecast", "description": "Sky data", "remote": true}],
               "pagination": {"currentPage": 1}}),
    ));
    let (registry, smithery_url) = (official.base_url(), smithery.base_url());
    let searched = mcp(
        root.path(),
        &["search", "weather", "--limit", "5"],
        &[
            ("CLARA_MCP__REGISTRY_URL", registry.as_str()),
            ("CLARA_MCP__SMITHERY_URL", smithery_url.as_str()),
            ("SMITHERY_API_KEY", "sm-key"),
        ],
    );
    assert!(searched.status.success(), "{}", said(&searched));
    assert_eq!(
        said(&searched),
        "io.github.acme/weather (MCP registry): Forecasts and alerts\n  install: npm:@acme/weather-mcp\n  needs: WEATHER_KEY\n\
         com.example/hosted-weather (MCP registry): Hosted\n  install: https://mcp.example.com/mcp\n\
         @sky/forecast (Smithery): Sky data\n  install: https://server.smithery.ai/@sky/forecast/mcp\n  needs: SMITHERY_API_KEY\n"
    );
    let asked = official.requests().remove(0);
    assert_eq!(
        asked.path,
        "/v0.1/servers?search=weather&limit=5&version=latest"
    );
    let asked = smithery.requests().remove(0);
    assert_eq!(asked.path, "/servers?q=weather&pageSize=5");
    assert!(
        asked
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == "Bearer sm-key")
    );

    // A registry that fails is named; without a key Smithery is not asked.
    official.push(Reply::json(503, json!({"error": "maintenance"})));
    let failed = mcp(
        root.path(),
        &["search", "weather"],
        &[("CLARA_MCP__REGISTRY_URL", registry.as_str())],
    );
    assert!(!failed.status.success());
    assert_eq!(
        said(&failed),
        "No servers found.\nCould not search the MCP registry: it answered 503 Service Unavailable\n"
    );
    assert_eq!(smithery.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Node.js: install it as .ci/run does, then CLARA_TEST_TOOLS=1"
)]
async fn a_running_clara_restarts_a_server_when_clara_mcp_restart_asks() {
    let root = shipped_root();
    let added = mcp(root.path(), &["add", tiny_server().to_str().unwrap()], &[]);
    assert!(added.status.success(), "{}", said(&added));
    let model = FakeLlm::start().await;
    let app = support::start_run(
        root.path(),
        &model,
        &[("CLARA_ADAPTERS__DISCORD__ENABLED", "false")],
    )
    .await
    .expect("clara starts");
    app.live.mcp().started(Duration::from_secs(30)).await;
    let server = app.live.mcp().server("tiny").expect("tiny runs");
    let first = server.pid().expect("a pid");
    let bind = app.status.as_ref().unwrap().addr().to_string();
    let status_env = [("CLARA_STATUS__BIND", bind.as_str())];

    let restarted = mcp(root.path(), &["restart", "tiny"], &status_env);
    assert_eq!(said(&restarted), "restarting tiny in the running clara\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // A new process serves it, and the old one is gone.
    while server.pid().is_none_or(|pid| pid == first)
        || Path::new(&format!("/proc/{first}")).exists()
    {
        assert!(std::time::Instant::now() < deadline, "never restarted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Without the token in clara's root (a page in a browser, a request through a proxy),
    // nothing restarts.
    let forged = reqwest::Client::new()
        .post(format!("http://{bind}/mcp/tiny/restart"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=guess")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let unknown = mcp(root.path(), &["restart", "nope"], &status_env);
    assert!(!unknown.status.success());
    assert_eq!(
        said(&unknown),
        "error: the running clara has no MCP server `nope`\n"
    );
    app.shutdown("test over").await;
    let gone = mcp(root.path(), &["restart", "tiny"], &status_env);
    assert!(
        said(&gone).contains("no clara answers at"),
        "{}",
        said(&gone)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Node.js: install it as .ci/run does, then CLARA_TEST_TOOLS=1"
)]
async fn an_admin_installs_a_server_from_discord_and_its_tools_are_called_next() {
    use crate::support::fake_discord::{BOT_ID, UserMessage};
    use crate::support::fake_llm::{openai_stream, openai_tool_stream};
    use crate::support::on_discord::*;

    use crate::support::fake_discord::SlashCommand;

    let (_hub, github) = tiny_hub();
    let mut on = OnDiscord::start(&[
        ("CLARA_RUNTIME__WATCH", "true"),
        ("CLARA_MCP__GITHUB_URL", &github),
    ])
    .await;
    let install = json!({"source": "github.com/acme/tiny-mcp"}).to_string();
    let asks = |author: u64, name: &str, roles: &[u64], text: &str| {
        on.discord.send_user_message(
            UserMessage::guild(GENERAL, GUILD, author, name, &format!("<@{BOT_ID}> {text}"))
                .roles(roles)
                .mention_bot(),
        );
    };
    let tiny = on.root.path().join("tools.d/tiny.toml");

    // Ann is no admin: the install tools are not offered to her, and a call is refused.
    on.model.push(openai_tool_stream(
        &[("c1", "mcp_install", install.as_str())],
        40,
    ));
    on.model.push(openai_stream(&["I cannot."]));
    asks(ANN, "ann", &[], "install the tiny MCP server please");
    on.wait_reply(GENERAL, 2, "I cannot.").await;
    let offered = on.model.requests()[0].body["tools"].to_string();
    assert!(!offered.contains("mcp_install"), "{offered}");
    assert!(!on.model.last_tool_result().starts_with("Installed"));
    assert!(!tiny.exists(), "nothing was written");

    // An admin installs it, once they said yes to the question (so a prompt injected into
    // the conversation cannot); the next message can use its tools.
    on.model.push(openai_tool_stream(
        &[("c2", "mcp_install", install.as_str())],
        40,
    ));
    on.model.push(openai_stream(&["Installed."]));
    asks(OWNER, "owner", &[ADMIN_ROLE], "install the tiny MCP server");
    let has_buttons = |m: &crate::support::fake_discord::FakeMessage| {
        m.json["components"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    };
    on.discord
        .wait_for(
            "the approval question",
            |fake: &crate::support::fake_discord::FakeDiscord| {
                fake.messages_in(GENERAL).iter().any(has_buttons)
            },
            SOON,
        )
        .await;
    let question = on
        .replies_in(GENERAL)
        .into_iter()
        .find(has_buttons)
        .unwrap();
    assert!(!tiny.exists(), "nothing before the yes");
    let approve = question.json["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner = SlashCommand::guild(GENERAL, GUILD, OWNER, "owner", "").roles(&[ADMIN_ROLE]);
    on.discord.click_button(&owner, question.id, &approve);
    on.wait_reply(GENERAL, 5, "Installed.").await;
    let result = on.model.last_tool_result();
    assert_eq!(
        result,
        "Installed `tiny` (tools.d/tiny.toml) with 1 tools: tiny__shout. It applies within a moment."
    );
    assert!(tiny.exists());
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let generation = on.app().live.current();
        let names: Vec<String> = generation
            .services
            .tool_sources
            .iter()
            .flat_map(|s| {
                s.tools()
                    .iter()
                    .map(|t| t.spec().name.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        if names.iter().any(|n| n == "tiny__shout") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reloaded: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    on.model.push(openai_tool_stream(
        &[("c3", "tiny__shout", r#"{"text": "hello"}"#)],
        40,
    ));
    on.model.push(openai_stream(&["It shouted."]));
    asks(OWNER, "owner", &[ADMIN_ROLE], "shout hello");
    on.wait_reply(GENERAL, 7, "It shouted.").await;
    assert_eq!(on.model.last_tool_result(), "HELLO");

    // Uninstalling removes the manifest.
    on.model.push(openai_tool_stream(
        &[("c4", "mcp_uninstall", r#"{"name": "tiny"}"#)],
        40,
    ));
    on.model.push(openai_stream(&["Removed."]));
    asks(OWNER, "owner", &[ADMIN_ROLE], "remove tiny");
    on.wait_reply(GENERAL, 9, "Removed.").await;
    assert_eq!(
        on.model.last_tool_result(),
        "Done: removed tools.d/tiny.toml and mcp_servers/tiny. It applies within a moment."
    );
    assert!(!tiny.exists());
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chat_tools_can_be_left_out_of_every_prompt() {
    let offered = |app: &clara::app::App| -> Vec<String> {
        app.live
            .current()
            .services
            .tool_sources
            .iter()
            .flat_map(|s| {
                s.tools()
                    .iter()
                    .map(|t| t.spec().name.clone())
                    .collect::<Vec<_>>()
            })
            .filter(|n| n.starts_with("mcp_"))
            .collect()
    };
    let model = FakeLlm::start().await;
    let root = shipped_root();
    let off = [("CLARA_ADAPTERS__DISCORD__ENABLED", "false")];
    let app = support::start_run(root.path(), &model, &off).await.unwrap();
    assert_eq!(offered(&app).len(), 9);
    app.shutdown("test over").await;
    let without = [
        ("CLARA_ADAPTERS__DISCORD__ENABLED", "false"),
        ("CLARA_MCP__CHAT_TOOLS", "false"),
    ];
    let app = support::start_run(root.path(), &model, &without)
        .await
        .unwrap();
    assert!(offered(&app).is_empty());
    app.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP reference server: npm install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn a_streamable_http_server_is_installed_with_a_header_read_from_a_variable() {
    let (mut server, url) = support::everything_over_http().await;
    let root = shipped_root();
    let token = [("REMOTE_TOKEN", "s3cret-value")];

    // A literal secret in a header, or in the URL, would be written into the manifest.
    let literal = mcp(
        root.path(),
        &["add", &url, "--header", "Authorization=Bearer s3cret-value"],
        &token,
    );
    assert!(
        said(&literal).contains("give it as a template"),
        "{}",
        said(&literal)
    );
    let in_url = mcp(
        root.path(),
        &["add", &format!("{url}?api_key=s3cret-value")],
        &token,
    );
    assert!(
        said(&in_url).contains("the URL carries credentials"),
        "{}",
        said(&in_url)
    );

    let added = mcp(
        root.path(),
        &[
            "add",
            &url,
            "--name",
            "remote",
            "--header",
            "Authorization=Bearer {{ env.REMOTE_TOKEN }}",
            "--secret-env",
            "REMOTE_TOKEN",
        ],
        &token,
    );
    assert!(added.status.success(), "{}", said(&added));
    assert!(said(&added).contains("remote__echo"), "{}", said(&added));
    let manifest = std::fs::read_to_string(root.path().join("tools.d/remote.toml")).unwrap();
    assert!(
        manifest.contains("headers = { Authorization = \"Bearer {{ env.REMOTE_TOKEN }}\" }")
            && manifest.contains("secrets_env = [\"REMOTE_TOKEN\"]")
            && !manifest.contains("s3cret-value"),
        "{manifest}"
    );
    let set = load_with(root.path(), &token);
    assert_eq!(
        call(&set, "remote__echo", json!({"message": "over http"})).await,
        "Echo: over http"
    );
    server.kill().await.unwrap();
}
