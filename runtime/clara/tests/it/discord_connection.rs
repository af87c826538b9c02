//! clara's Discord connection against a local fake: op 7 reconnects and resumes mid-reply
//! (no duplicates, nothing lost), a 429 retried, `/health` and `/metrics` through a fatal
//! close and shutdown, `clara run` as a process, and reloads that reconnect only when the
//! connection settings change.

use crate::support;

use std::net::SocketAddr;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_discord::{Failure, FakeDiscord, UserMessage, dm_channel_id};
use crate::support::fake_llm::{FakeLlm, openai_stream};
use crate::support::on_discord::*;
use clara::live::Reload;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    clara::llm::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// `/health`'s status and JSON body.
async fn health(addr: SocketAddr) -> (u16, Value) {
    let response = client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .expect("GET /health");
    let status = response.status().as_u16();
    (status, response.json().await.expect("health JSON"))
}

async fn metrics(addr: SocketAddr) -> String {
    let response = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    response.text().await.unwrap()
}

/// Polls `/health` until it answers `status`, and returns its body.
async fn health_becomes(addr: SocketAddr, status: u16) -> Value {
    let deadline = Instant::now() + SOON;
    loop {
        let (now, body) = health(addr).await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/health stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/metrics` until it has `line`.
async fn metrics_show(addr: SocketAddr, line: &str) {
    let deadline = Instant::now() + SOON;
    loop {
        let text = metrics(addr).await;
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "no `{line}` in\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `n` Discord turns have been answered (`message:sent`, counted at their end).
async fn turns_answered(on: &OnDiscord, n: u64) {
    let line = format!("clara_turns_total{{platform=\"discord\"}} {n}");
    let deadline = Instant::now() + SOON;
    while !on
        .app()
        .metrics
        .render(&on.app().health, None)
        .contains(&line)
    {
        assert!(Instant::now() < deadline, "never saw `{line}`");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn accepted_resumes(fake: &FakeDiscord) -> usize {
    fake.resumes().iter().filter(|r| r.accepted).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_op_7_reconnect_resumes_without_duplicates_and_replays_what_was_lost() {
    let mut on = OnDiscord::start(&[]).await;
    let pieces = ["One, ", "two, ", "three, ", "four, ", "five, ", "six."];
    on.model_streams(&pieces, Duration::from_millis(300));
    let asked = on.ann_mentions("count to six");
    let started = |f: &FakeDiscord| !f.messages_in(GENERAL).is_empty();
    on.discord
        .wait_for("the reply's first message", started, SOON)
        .await;
    on.discord.reconnect();
    let resumed = |f: &FakeDiscord| accepted_resumes(f) == 1;
    on.discord.wait_for("the resume", resumed, SOON).await;
    let so_far = on.replies_in(GENERAL)[0].content.clone();
    assert!(!so_far.ends_with("six."), "resumed mid-reply: {so_far}");
    // A replay may repeat a message the shard had already seen: it is not answered again.
    let mut again = on.discord.message(GENERAL, asked).unwrap().json;
    again["channel_type"] = json!(0);
    on.discord.dispatch("MESSAGE_CREATE", again);
    on.wait_reply(GENERAL, 1, "six.").await;
    let replies = on.replies_in(GENERAL);
    assert_eq!(replies.len(), 1, "{}", on.discord.dump());
    assert_eq!(replies[0].content, "One, two, three, four, five, six.");
    assert_eq!(replies[0].reference, Some(asked));
    assert_eq!(on.model.request_count(), 1);

    // A mention lost with the dying connection comes back in the resume's replay. (The turn
    // goes on saving after its last edit; a mention before it ends would be queued.)
    on.wait_ready().await;
    turns_answered(&on, 1).await;
    on.model.push(openai_stream(&["Seven."]));
    on.discord.lose_next_dispatches(1);
    let lost = on.ann_mentions("and after six?");
    on.discord.reconnect();
    let resumed = |f: &FakeDiscord| accepted_resumes(f) == 2;
    on.discord
        .wait_for("the second resume", resumed, SOON)
        .await;
    on.wait_reply(GENERAL, 2, "Seven.").await;
    // Anything answered twice would have been queued behind the turns above.
    let replies = on.replies_in(GENERAL);
    assert_eq!(replies.len(), 2, "{}", on.discord.dump());
    assert_eq!(replies[0].content, "One, two, three, four, five, six.");
    assert_eq!(
        (replies[1].content.as_str(), replies[1].reference),
        ("Seven.", Some(lost))
    );
    assert_eq!(on.model.request_count(), 2);
    assert_eq!(
        on.discord.identifies().len(),
        1,
        "resumed, never re-identified"
    );
    let addr = on.app().status.as_ref().unwrap().addr();
    let body = health_becomes(addr, 200).await;
    assert_eq!(body["adapters"]["discord"]["state"], "connected", "{body}");
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_reply_is_sent_once_after_the_wait() {
    let mut on = OnDiscord::start(&[]).await;
    let route = "/channels/2000/messages";
    on.discord
        .fail_next("POST", route, Failure::rate_limited(0.3));
    on.model.push(openai_stream(&["Sorry ", "for the wait."]));
    on.ann_mentions("are you there?");
    on.wait_reply(GENERAL, 1, "for the wait.").await;
    let replies = on.replies_in(GENERAL);
    assert_eq!(replies.len(), 1, "{}", on.discord.dump());
    assert_eq!(replies[0].content, "Sorry for the wait.");
    let posts: Vec<u16> = (on.discord.requests_to("POST", route).iter())
        .map(|r| r.status)
        .collect();
    assert_eq!(posts, [429, 200], "{}", on.discord.dump());
    // Stopping lets the turn finish, so whatever it was going to mark is marked.
    on.stop().await;
    let reactions = on.discord.reactions();
    assert!(
        reactions.is_empty(),
        "no ⚠️ for a failed reply: {reactions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_gateway_shows_as_reconnecting_with_its_cause() {
    let root = support::shipped_root();
    let discord = FakeDiscord::start().await;
    let model = FakeLlm::start().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("ws://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = start_app(
        root.path(),
        &discord,
        &model,
        &[("CLARA_ADAPTERS__DISCORD__GATEWAY_URL", &nowhere)],
    )
    .await;
    let addr = app.status.as_ref().unwrap().addr();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, body) = health(addr).await;
        if body["adapters"]["discord"]["state"] == "reconnecting" {
            assert_eq!(status, 503, "{body}");
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/health never said reconnecting: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = body["adapters"]["discord"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("failed to reconnect") && reason.contains("refused"),
        "the cause, not only that it failed: {reason}"
    );
    app.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_connection_through_a_fatal_close_and_shutdown() {
    let mut on = OnDiscord::start(&[]).await;
    let addr = on.app().status.as_ref().unwrap().addr();
    let (status, body) = health(addr).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    let discord = &body["adapters"]["discord"];
    assert_eq!(discord["state"], "connected", "{body}");
    assert_eq!(discord["shards"], json!({"0": "connected"}), "{body}");
    metrics_show(addr, "clara_adapter_up{adapter=\"discord\"} 1").await;
    on.model.push(openai_stream(&["Hello!"]));
    on.ann_mentions("hello");
    on.wait_reply(GENERAL, 1, "Hello!").await;
    metrics_show(addr, "clara_turns_total{platform=\"discord\"} 1").await;

    on.discord.close(4004);
    let body = health_becomes(addr, 503).await;
    let discord = &body["adapters"]["discord"];
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(discord["state"], "failed", "{body}");
    assert_eq!(discord["shards"], json!({"0": "failed"}), "{body}");
    let reason = discord["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("4004") && reason.contains("token"),
        "{reason}"
    );
    metrics_show(addr, "clara_adapter_up{adapter=\"discord\"} 0").await;
    assert_eq!(
        on.discord.identifies().len(),
        1,
        "a bad token is not retried"
    );

    on.stop().await;
    let refused = client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .expect_err("the status endpoint is gone");
    assert!(refused.is_connect(), "{refused:?}");
}

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// Waits for the process to exit, keeping the test's runtime (and the fakes) running.
    async fn exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "clara did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(unsafe_code)] // the SAFETY comments below say why
async fn clara_run_needs_only_a_token_and_a_provider_key() {
    let discord = FakeDiscord::start().await;
    let model = FakeLlm::start().await;
    let root = support::shipped_root();
    let (base_url, ws, rest) = (model.base_url(), discord.ws_url(), discord.rest_proxy());
    let log = tempfile::NamedTempFile::new().unwrap();
    let start = |token: Option<&str>| {
        let mut command = support::clara(root.path());
        command
            .arg("run")
            .env("OPENROUTER_API_KEY", "test-key")
            .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", &base_url)
            .env("CLARA_ADAPTERS__DISCORD__GATEWAY_URL", &ws)
            .env("CLARA_ADAPTERS__DISCORD__API_PROXY", &rest)
            .env("CLARA_STATUS__BIND", "127.0.0.1:0")
            .env("CLARA_RUNTIME__WATCH", "false")
            .env("CLARA_MEMORY__ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        if let Some(token) = token {
            command.env("DISCORD_BOT_TOKEN", token);
        }
        Process(command.spawn().unwrap())
    };
    let stderr = || std::fs::read_to_string(log.path()).unwrap();

    let status = start(None).exit(SOON).await;
    assert_eq!(status.code(), Some(1), "{}", stderr());
    assert!(stderr().contains("DISCORD_BOT_TOKEN"), "{}", stderr());
    assert!(discord.connections().is_empty());

    log.as_file().set_len(0).unwrap();
    let mut clara = start(Some("FAKE_TOKEN"));
    discord.wait_identified(Duration::from_secs(20)).await;
    assert_eq!(discord.identifies()[0].token, "Bot FAKE_TOKEN");
    // It says where its status endpoint is; /health turns 200 once READY is handled.
    let deadline = Instant::now() + SOON;
    let addr: SocketAddr = loop {
        let text = stderr();
        let found = text.split("status on http://").nth(1);
        if let Some(addr) = found.and_then(|rest| rest.split('/').next()) {
            // The shipped root's disabled hook and tasks are not counted; its daily backup
            // is on (it does nothing until a bucket is set).
            assert!(text.contains("(Discord, 2 hooks, 1 task;"), "{text}");
            break addr.parse().expect(&text);
        }
        assert!(Instant::now() < deadline, "no status address in: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    health_becomes(addr, 200).await;
    model.push(openai_stream(&["Hi from the process!"]));
    discord.send_user_message(UserMessage::dm(ANN, "ann", "are you running?"));
    let answered = |f: &FakeDiscord| {
        (f.messages_in(dm_channel_id(ANN)).iter()).any(|m| m.content == "Hi from the process!")
    };
    discord.wait_for("the DM's answer", answered, SOON).await;

    // SAFETY: sends a signal to our own child.
    unsafe {
        libc::kill(clara.0.id() as i32, libc::SIGTERM);
    }
    let status = clara.exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", stderr());
    assert!(
        stderr().contains("clara is stopping (terminate)"),
        "{}",
        stderr()
    );
    assert!(discord.connections().iter().all(|c| !c.open));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_reconnects_only_when_the_connection_settings_change() {
    let mut on = OnDiscord::start(&[("OTHER_TOKEN", "SECOND_TOKEN")]).await;
    let toml = on.root.path().join("clara.toml");
    support::edit(&toml, "reply_chain_limit = 10", "reply_chain_limit = 5");
    let reload = on.app().live.reload().await;
    assert!(matches!(reload, Reload::Applied(_)), "{reload:?}");
    // The adapter checks its settings every second: give it two chances to (wrongly) reconnect.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(on.discord.identifies().len(), 1, "{}", on.discord.dump());
    assert_eq!(on.discord.connections().len(), 1, "{}", on.discord.dump());
    on.model.push(openai_stream(&["Still here."]));
    on.ann_mentions("still there?");
    on.wait_reply(GENERAL, 1, "Still here.").await;

    let from = "token_env = \"DISCORD_BOT_TOKEN\"";
    support::edit(&toml, from, "token_env = \"OTHER_TOKEN\"");
    let reload = on.app().live.reload().await;
    assert!(matches!(reload, Reload::Applied(_)), "{reload:?}");
    let again = |f: &FakeDiscord| f.identifies().len() == 2;
    let within = Duration::from_secs(10);
    on.discord
        .wait_for("a second IDENTIFY", again, within)
        .await;
    let identifies = on.discord.identifies();
    assert_eq!(identifies[1].token, "Bot SECOND_TOKEN");
    let first = &on.discord.connections()[identifies[0].connection];
    assert!(!first.open, "the old connection is closed: {first:?}");
    on.wait_ready().await;
    on.model.push(openai_stream(&["New token, same me."]));
    on.ann_mentions("did something change?");
    on.wait_reply(GENERAL, 2, "New token, same me.").await;
    let posts = on.discord.requests_to("POST", "/channels/2000/messages");
    let auth = posts.last().and_then(|p| p.header("authorization"));
    assert_eq!(
        auth,
        Some("Bot SECOND_TOKEN"),
        "REST uses the new token too"
    );
    assert_eq!(on.replies_in(GENERAL).len(), 2, "{}", on.discord.dump());
    on.stop().await;
}
