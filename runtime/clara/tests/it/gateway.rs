//! The WebSocket gateway over 127.0.0.1 with a real client (tokio-tungstenite): every frame
//! and error code, the secret, session ids across reconnections, tool frames, cancels that
//! leave the queue going, and many connections at once.

use std::time::Duration;

use clara::app::App;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{shipped_root, start_run};

const SOON: Duration = Duration::from_secs(10);

struct OnGateway {
    model: FakeLlm,
    root: tempfile::TempDir,
    app: Option<App>,
    url: String,
}

impl OnGateway {
    async fn start(overrides: &[(&str, &str)]) -> OnGateway {
        let model = FakeLlm::start().await;
        let root = shipped_root();
        let mut vars: Vec<(&str, &str)> = vec![
            ("CLARA_ADAPTERS__DISCORD__ENABLED", "false"),
            ("CLARA_ADAPTERS__GATEWAY__ENABLED", "true"),
            ("CLARA_ADAPTERS__GATEWAY__BIND", "127.0.0.1:0"),
        ];
        vars.extend_from_slice(overrides);
        let app = start_run(root.path(), &model, &vars)
            .await
            .expect("clara starts");
        let health = app.health.snapshot();
        let address = health.adapters["gateway"].detail["address"]
            .as_str()
            .expect("the gateway says where it listens")
            .to_owned();
        OnGateway {
            model,
            root,
            app: Some(app),
            url: format!("ws://{address}"),
        }
    }

    async fn connect(&self) -> Client {
        self.connect_with(None).await
    }

    async fn connect_with(&self, bearer: Option<&str>) -> Client {
        let mut request = self.url.as_str().into_client_request().unwrap();
        if let Some(bearer) = bearer {
            request
                .headers_mut()
                .insert("Authorization", format!("Bearer {bearer}").parse().unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the gateway accepts");
        Client(socket)
    }

    /// A client registered as `node` on `platform`.
    async fn registered(&self, node: &str) -> Client {
        let mut client = self.connect().await;
        client
            .send(json!({"type": "register", "node_id": node, "platform": "teams", "capabilities": ["streaming"]}))
            .await;
        assert_eq!(client.next().await["type"], "registered");
        client
    }

    fn nodes(&self) -> Vec<Value> {
        let health = self.app.as_ref().unwrap().health.snapshot();
        health.adapters["gateway"].detail["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl OnGateway {
    /// The chat pipeline asks the requester before each dice roll, from the next message on.
    async fn ask_the_requester_before_rolling(&self) {
        crate::support::tool_loop_keys(
            self.root.path(),
            "approvals = { roll_dice = \"always\" }\napprovers = [\"requester\"]",
        );
        let reloaded = self.app.as_ref().unwrap().live.reload().await;
        assert!(
            matches!(reloaded, clara::live::Reload::Applied(_)),
            "{reloaded:?}"
        );
    }
}

impl Drop for OnGateway {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            tokio::spawn(app.shutdown("test over"));
        }
    }
}

struct Client(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Client {
    async fn send(&mut self, frame: Value) {
        self.0.send(Message::text(frame.to_string())).await.unwrap();
    }

    /// The next JSON frame (pings skipped); panics after [`SOON`].
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(SOON, self.0.next())
                .await
                .unwrap_or_else(|_| panic!("a frame in time"))
                .expect("the socket is open")
                .expect("a readable frame");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(_) => panic!("closed"),
                _ => {}
            }
        }
    }

    /// Frames until one of `kind` (inclusive).
    async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let done = frame["type"] == kind;
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// Whether the server closes the socket (after any frames) within [`SOON`].
    async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(SOON, self.0.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

fn message(id: &str, user: &str, channel: &str, content: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "user": {"id": user, "platform_id": user, "name": user, "display_name": user},
        "channel": {"id": channel, "type": "server", "name": "general"},
        "content": content,
        "attachments": [],
        "reply_chain": [],
        "tier_override": null,
        "metadata": {}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registered_node_gets_a_streamed_reply_under_its_request_id() {
    let on = OnGateway::start(&[]).await;
    let mut client = on.connect().await;
    client
        .send(json!({"type": "register", "node_id": "teams-1a2b3c4d", "platform": "teams", "capabilities": [], "metadata": {}}))
        .await;
    let registered = client.next().await;
    assert_eq!(registered["type"], "registered");
    assert_eq!(registered["node_id"], "teams-1a2b3c4d");
    let session = registered["session_id"].as_str().unwrap();
    assert!(
        session.len() == 15
            && session.starts_with("gw-")
            && session[3..].chars().all(|c| c.is_ascii_hexdigit()),
        "{session}"
    );
    assert_eq!(on.nodes()[0]["node_id"], "teams-1a2b3c4d");
    client
        .send(json!({"type": "ping", "timestamp": "2026-12-02T10:00:00"}))
        .await;
    assert_eq!(
        client.next().await,
        json!({"type": "pong", "timestamp": "2026-12-02T10:00:00"})
    );
    on.model
        .push(fake_llm::openai_stream(&["Hello ", "there!"]));
    client
        .send(message("msg-00000001", "teams-7", "c1", "Hi clara"))
        .await;
    let frames = client.until("response_end").await;
    assert_eq!(frames[0]["type"], "response_start");
    assert!(frames.iter().all(|f| f["request_id"] == "msg-00000001"));
    let id = &frames[0]["id"];
    assert!(frames.iter().all(|f| f["id"] == *id), "one response id");
    let chunks: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "response_chunk")
        .collect();
    assert_eq!(chunks.last().unwrap()["accumulated"], "Hello there!");
    let end = frames.last().unwrap();
    assert_eq!(end["full_text"], "Hello there!");
    assert_eq!(end["tool_count"], 0);
    let sent = &on.model.requests()[0].body["messages"];
    assert!(
        sent.to_string().contains("Hi clara"),
        "the model saw the message: {sent}"
    );
    client.send(json!({"type": "status"})).await;
    let status = client.next().await;
    assert_eq!(status["type"], "status");
    assert_eq!(status["nodes"], 1);
    let app = on.app.as_ref().unwrap();
    let metrics = app.metrics.render(&app.health, None);
    assert!(
        metrics
            .lines()
            .any(|l| l == "clara_gateway_nodes{platform=\"teams\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "clara_gateway_connections_total{platform=\"teams\"} 1"),
        "{metrics}"
    );
    // ping, message and status after register; register itself counts as unregistered.
    assert!(
        metrics
            .lines()
            .any(|l| l == "clara_gateway_frames_total{platform=\"teams\",direction=\"in\"} 3"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_frames_get_their_error_codes_and_the_connection_goes_on() {
    let on = OnGateway::start(&[]).await;
    let mut client = on.connect().await;
    client
        .send(message("msg-1", "teams-7", "c1", "too early"))
        .await;
    let early = client.next().await;
    assert_eq!(
        (early["type"].as_str(), early["code"].as_str()),
        (Some("error"), Some("not_registered"))
    );
    assert_eq!(early["request_id"], "msg-1");
    client
        .send(json!({"type": "register", "node_id": "n", "platform": "teams"}))
        .await;
    assert_eq!(client.next().await["type"], "registered");
    client.0.send(Message::text("{not json")).await.unwrap();
    assert_eq!(client.next().await["code"], "invalid_json");
    client.send(json!({"type": "teleport"})).await;
    assert_eq!(client.next().await["code"], "invalid_message");
    client.send(json!({"type": "message", "id": "x"})).await;
    assert_eq!(client.next().await["code"], "invalid_message");
    client
        .0
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(client.next().await["code"], "invalid_message");
    client
        .send(json!({"type": "cancel", "request_id": "msg-nope"}))
        .await;
    let unknown = client.next().await;
    assert_eq!(unknown["code"], "not_found");
    assert_eq!(unknown["request_id"], "msg-nope");
    client
        .send(json!({"type": "mcp_list", "request_id": "mcp-1"}))
        .await;
    let list = client.next().await;
    assert_eq!(list["type"], "mcp_list_response");
    assert_eq!(list["success"], true);
    client
        .send(json!({"type": "mcp_install", "request_id": "mcp-2", "source": "npm:x"}))
        .await;
    let install = client.next().await;
    assert_eq!(install["type"], "mcp_install_response");
    assert_eq!(
        (install["request_id"].as_str(), install["success"].as_bool()),
        (Some("mcp-2"), Some(false))
    );
    on.model.push(fake_llm::openai_stream(&["still here"]));
    client.send(message("msg-2", "teams-7", "c1", "ok?")).await;
    let frames = client.until("response_end").await;
    assert_eq!(frames.last().unwrap()["full_text"], "still here");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_frame_closes_only_its_own_connection() {
    let on = OnGateway::start(&[("CLARA_ADAPTERS__GATEWAY__MAX_MESSAGE_BYTES", "2048")]).await;
    let mut big = on.registered("big").await;
    let mut other = on.registered("other").await;
    big.send(message("msg-1", "u", "c", &"x".repeat(4096)))
        .await;
    assert!(big.closed().await, "the oversized sender is cut off");
    other.send(json!({"type": "ping", "timestamp": 1})).await;
    assert_eq!(other.next().await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_required_in_register_or_the_authorization_header() {
    let on = OnGateway::start(&[
        ("CLARA_ADAPTERS__GATEWAY__SECRET_ENV", "GATEWAY_SECRET"),
        ("GATEWAY_SECRET", "s3cret-value"),
    ])
    .await;
    let register = |secret: Option<&str>| json!({"type": "register", "node_id": "n", "platform": "teams", "secret": secret});
    let mut none = on.connect().await;
    none.send(register(None)).await;
    let refused = none.next().await;
    assert_eq!(refused["code"], "unauthorized");
    assert!(!refused.to_string().contains("s3cret"));
    assert!(none.closed().await);
    let mut wrong = on.connect().await;
    wrong.send(register(Some("guess"))).await;
    assert_eq!(wrong.next().await["code"], "unauthorized");
    assert!(wrong.closed().await);
    let mut right = on.connect().await;
    right.send(register(Some("s3cret-value"))).await;
    assert_eq!(right.next().await["type"], "registered");
    let mut header = on.connect_with(Some("s3cret-value")).await;
    header.send(register(None)).await;
    assert_eq!(header.next().await["type"], "registered");
    let mut bad_header = on.connect_with(Some("nope")).await;
    assert_eq!(bad_header.next().await["code"], "unauthorized");
    assert!(bad_header.closed().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnecting_node_gets_its_session_id_back() {
    let on = OnGateway::start(&[]).await;
    let mut first = on.connect().await;
    first
        .send(json!({"type": "register", "node_id": "n1", "platform": "discord"}))
        .await;
    let session = first.next().await["session_id"].clone();
    drop(first);
    let mut again = on.connect().await;
    again
        .send(json!({"type": "register", "node_id": "n1", "platform": "discord", "session_id": session}))
        .await;
    let back = again.next().await;
    assert_eq!(back["session_id"], session);
    assert_eq!(back["reconnected"], true);
    let mut stranger = on.connect().await;
    stranger
        .send(json!({"type": "register", "node_id": "n2", "platform": "discord", "session_id": "gw-000000000000"}))
        .await;
    let fresh = stranger.next().await;
    assert_ne!(fresh["session_id"], "gw-000000000000");
    assert_eq!(fresh["reconnected"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_turn_sends_tool_frames_under_one_request_id() {
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    on.model.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6, \"count\": 3}")],
        5,
    ));
    on.model
        .push(fake_llm::openai_stream(&["You rolled three dice."]));
    client
        .send(message("msg-dice", "u", "c", "Roll 3d6 for me"))
        .await;
    let frames = client.until("response_end").await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    let start = kinds
        .iter()
        .position(|k| *k == "tool_start")
        .expect("tool_start");
    let result = kinds
        .iter()
        .position(|k| *k == "tool_result")
        .expect("tool_result");
    assert!(start < result && result < kinds.len() - 1, "{kinds:?}");
    assert_eq!(frames[start]["tool_name"], "roll_dice");
    assert_eq!(frames[start]["step"], 1);
    assert_eq!(frames[result]["success"], true);
    assert!(frames.iter().all(|f| f["request_id"] == "msg-dice"));
    let end = frames.last().unwrap();
    assert_eq!(end["tool_count"], 1);
    assert_eq!(end["full_text"], "You rolled three dice.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_stops_the_running_turn_and_the_queue_goes_on() {
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    let mut slow = fake_llm::openai_stream(&["too late"]);
    slow.first_byte_delay = Duration::from_secs(30);
    on.model.push(slow);
    on.model.push(fake_llm::openai_stream(&["second answer"]));
    client.send(message("msg-a", "u", "c", "first")).await;
    assert_eq!(client.next().await["type"], "response_start");
    client.send(message("msg-b", "u", "c", "second")).await;
    let queued = client.next().await;
    assert_eq!(queued["type"], "status");
    assert_eq!(queued["request_id"], "msg-b");
    assert_eq!(queued["queue_length"], 1);
    // Cancelled while the model is thinking, not before it was asked.
    let asked = std::time::Instant::now();
    while on.model.request_count() == 0 {
        assert!(asked.elapsed() < SOON, "the model was never asked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    client
        .send(json!({"type": "cancel", "request_id": "msg-a"}))
        .await;
    let frames = client.until("response_end").await;
    assert_eq!(
        frames[0],
        json!({"type": "cancelled", "request_id": "msg-a", "reason": "cancelled"})
    );
    assert!(frames[1..].iter().all(|f| f["request_id"] == "msg-b"));
    assert_eq!(frames.last().unwrap()["full_text"], "second answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_message_can_be_cancelled_before_it_runs() {
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    let mut slow = fake_llm::openai_stream(&["first answer"]);
    slow.first_byte_delay = Duration::from_millis(500);
    on.model.push(slow);
    client.send(message("msg-a", "u", "c", "first")).await;
    assert_eq!(client.next().await["type"], "response_start");
    client.send(message("msg-b", "u", "c", "second")).await;
    assert_eq!(client.next().await["type"], "status");
    client
        .send(json!({"type": "cancel", "request_id": "msg-b"}))
        .await;
    assert_eq!(
        client.next().await,
        json!({"type": "cancelled", "request_id": "msg-b", "reason": "cancelled"})
    );
    let frames = client.until("response_end").await;
    assert_eq!(frames.last().unwrap()["full_text"], "first answer");
    assert_eq!(
        on.model.request_count(),
        1,
        "the cancelled message never ran"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_connections_are_answered_at_once() {
    let on = OnGateway::start(&[]).await;
    for _ in 0..50 {
        on.model.push(fake_llm::openai_stream(&["hi"]));
    }
    let mut clients = Vec::new();
    for i in 0..50 {
        let mut client = on.registered(&format!("node-{i}")).await;
        client
            .send(message(
                &format!("msg-{i}"),
                &format!("u{i}"),
                &format!("c{i}"),
                "hello",
            ))
            .await;
        clients.push(client);
    }
    let ends = futures_util::future::join_all(clients.iter_mut().enumerate().map(
        |(i, client)| async move {
            let frames = client.until("response_end").await;
            assert!(frames.iter().all(|f| f["request_id"] == format!("msg-{i}")));
            frames.last().unwrap()["full_text"].clone()
        },
    ))
    .await;
    assert!(ends.iter().all(|text| text == "hi"), "{ends:?}");
    assert_eq!(on.nodes().len(), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn listening_beyond_loopback_without_a_secret_is_refused_at_start() {
    let model = FakeLlm::start().await;
    let root = shipped_root();
    let vars = [
        ("CLARA_ADAPTERS__DISCORD__ENABLED", "false"),
        ("CLARA_ADAPTERS__GATEWAY__ENABLED", "true"),
        ("CLARA_ADAPTERS__GATEWAY__BIND", "0.0.0.0:0"),
    ];
    let refused = start_run(root.path(), &model, &vars).await;
    let error = refused.err().expect("refused").to_string();
    assert!(
        error.contains("0.0.0.0:0") && error.contains("secret_env"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Python's websockets package: pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn an_adapter_written_for_mypalclara_connects_unchanged() {
    let on = OnGateway::start(&[]).await;
    on.model
        .push(fake_llm::openai_stream(&["It says ", "Friday."]));
    let script =
        crate::support::repo_root().join("runtime/clara/tests/clients/mypalclara_adapter.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&on.url)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["registered"]["type"], "registered");
    assert_eq!(seen["pong"]["type"], "pong");
    let frames = seen["frames"].as_array().unwrap();
    assert_eq!(frames[0]["type"], "response_start");
    assert_eq!(frames[0]["model_tier"], "high");
    assert!(frames.iter().all(|f| f["request_id"] == seen["request_id"]));
    assert_eq!(frames.last().unwrap()["full_text"], "It says Friday.");
    assert_eq!(seen["status"]["type"], "status");
    assert_eq!(seen["mcp_list"]["type"], "mcp_list_response");
    let request = &on.model.requests()[0].body;
    assert_eq!(request["model"], "anthropic/claude-opus-4", "the high tier");
    let prompt = request["messages"].to_string();
    assert!(prompt.contains("the launch is on Friday"), "{prompt}");
    assert!(prompt.contains("Earlier I said hello."), "{prompt}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_restarts_the_gateway_only_when_its_own_section_changes() {
    use clara::live::Reload;
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    let toml = on.root.path().join("clara.toml");
    crate::support::edit(&toml, "reply_chain_limit = 10", "reply_chain_limit = 5");
    let reload = on.app.as_ref().unwrap().live.reload().await;
    assert!(matches!(reload, Reload::Applied(_)), "{reload:?}");
    client.send(json!({"type": "ping", "timestamp": 1})).await;
    assert_eq!(client.next().await["type"], "pong", "still connected");
    crate::support::edit(
        &toml,
        "max_pending_per_connection = 32",
        "max_pending_per_connection = 5",
    );
    let reload = on.app.as_ref().unwrap().live.reload().await;
    assert!(matches!(reload, Reload::Applied(_)), "{reload:?}");
    assert!(client.closed().await, "the listener started over");
    let started = std::time::Instant::now();
    loop {
        let health = on.app.as_ref().unwrap().health.snapshot();
        let address = health.adapters["gateway"].detail["address"]
            .as_str()
            .unwrap()
            .to_owned();
        if let Ok((mut socket, _)) =
            tokio_tungstenite::connect_async(format!("ws://{address}")).await
        {
            socket
                .send(Message::text(
                    json!({"type": "ping", "timestamp": 2}).to_string(),
                ))
                .await
                .unwrap();
            let mut again = Client(socket);
            assert_eq!(again.next().await["type"], "pong");
            break;
        }
        assert!(started.elapsed() < SOON, "the gateway never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_vanishes_mid_reply_still_has_both_sides_stored() {
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    let mut slow = fake_llm::openai_stream(&["kept ", "anyway"]);
    slow.first_byte_delay = Duration::from_millis(300);
    on.model.push(slow);
    client
        .send(message("msg-gone", "u-gone", "c-gone", "remember this"))
        .await;
    assert_eq!(client.next().await["type"], "response_start");
    drop(client);
    let store = on
        .app
        .as_ref()
        .unwrap()
        .live
        .current()
        .services
        .store
        .clone();
    let started = std::time::Instant::now();
    loop {
        let session = store
            .latest_session("u-gone", "channel-c-gone")
            .await
            .unwrap();
        let messages = match &session {
            Some(session) => store.recent_messages(&session.id, 10).await.unwrap(),
            None => Vec::new(),
        };
        let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        if texts.iter().any(|t| t.contains("kept anyway")) {
            assert!(
                texts.iter().any(|t| t.contains("remember this")),
                "{texts:?}"
            );
            break;
        }
        assert!(
            started.elapsed() < SOON,
            "the reply was not stored: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clara_chat_connects_to_a_running_gateway_and_streams_the_answer() {
    let on = OnGateway::start(&[]).await;
    on.model.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6, \"count\": 3}")],
        5,
    ));
    on.model
        .push(fake_llm::openai_stream(&["You rolled ", "three dice."]));
    let out = crate::support::clara(on.root.path())
        .args([
            "chat",
            "--connect",
            &on.url,
            "--user",
            "remote-ann",
            "-m",
            "Roll 3d6",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "You rolled three dice.\n"
    );
    assert!(stderr.contains("🎲"), "the tool's status line: {stderr}");
    let sent = on.model.requests()[0].body["messages"].to_string();
    assert!(sent.contains("Roll 3d6"), "{sent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sent_file_comes_in_response_end_as_file_data() {
    use base64::Engine as _;
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    on.model.push(fake_llm::save_and_send_list());
    on.model.push(fake_llm::openai_stream(&["Here it is."]));
    client
        .send(message("msg-file", "u", "c", "send me my list"))
        .await;
    let end = client.until("response_end").await.pop().unwrap();
    assert_eq!(end["full_text"], "Here it is.");
    assert_eq!(end["tool_count"], 2);
    let data = &end["file_data"][0];
    assert_eq!(data["filename"], "list.txt");
    assert_eq!(data["media_type"], "text/plain");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data["content_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, b"milk\neggs\n");
    assert_eq!(
        end["files"],
        serde_json::json!(["list.txt"]),
        "names, not this machine's paths"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clara_chat_keeps_the_files_a_remote_clara_sends_without_replacing_any() {
    let on = OnGateway::start(&[]).await;
    let here = &on.root;
    std::fs::create_dir_all(here.path().join("data/received")).unwrap();
    std::fs::write(here.path().join("data/received/list.txt"), "older").unwrap();
    on.model.push(fake_llm::save_and_send_list());
    on.model.push(fake_llm::openai_stream(&["Here it is."]));
    let out = crate::support::clara(here.path())
        .args(["chat", "--connect", &on.url, "-m", "send me my list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let kept = here.path().join("data/received/list (2).txt");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Here it is.\n📎 list (2).txt (10 bytes): {}\n",
            kept.display()
        )
    );
    assert_eq!(std::fs::read(&kept).unwrap(), b"milk\neggs\n");
    assert_eq!(
        std::fs::read(here.path().join("data/received/list.txt")).unwrap(),
        b"older"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clara_chat_without_the_gateways_secret_is_refused_with_the_reason() {
    let on = OnGateway::start(&[
        ("CLARA_ADAPTERS__GATEWAY__SECRET_ENV", "GATEWAY_SECRET"),
        ("GATEWAY_SECRET", "s3cret-value"),
    ])
    .await;
    let out = crate::support::clara(on.root.path())
        .args(["chat", "--connect", &on.url, "-m", "hello"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("refused") && stderr.contains("secret"),
        "{stderr}"
    );
    on.model.push(fake_llm::openai_stream(&["hi"]));
    let out = crate::support::clara(on.root.path())
        .env("GATEWAY_SECRET", "s3cret-value")
        .args([
            "chat",
            "--connect",
            &on.url,
            "--secret-env",
            "GATEWAY_SECRET",
            "-m",
            "hello",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_reaches_a_gateway_user_through_the_node_that_carried_them() {
    use clara_config::model::hook::Delivery;
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    on.model.push(fake_llm::openai_stream(&["hello"]));
    client
        .send(message("msg-1", "u-reach", "c-reach", "hi"))
        .await;
    client.until("response_end").await;
    let outlets = on.app.as_ref().unwrap().live.outlets();
    let to_user = Delivery {
        adapter: "gateway".to_owned(),
        channel: None,
        user: Some("u-reach".to_owned()),
    };
    outlets
        .post(&to_user, "time for your walk", None)
        .await
        .unwrap();
    let frame = client.next().await;
    assert_eq!(frame["type"], "proactive_message");
    assert_eq!(frame["user"]["id"], "u-reach");
    assert_eq!(frame["content"], "time for your walk");
    assert_eq!(frame["priority"], "normal");
    // A post that should notify its user goes out as high priority.
    outlets
        .post(&to_user, "your flight is boarding", Some("u-reach"))
        .await
        .unwrap();
    assert_eq!(client.next().await["priority"], "high");
    let to_channel = Delivery {
        adapter: "gateway".to_owned(),
        channel: Some("c-reach".to_owned()),
        user: None,
    };
    outlets
        .post(&to_channel, "standup in 5", None)
        .await
        .unwrap();
    assert_eq!(client.next().await["channel"]["id"], "c-reach");
    let stranger = Delivery {
        adapter: "gateway".to_owned(),
        channel: None,
        user: Some("nobody".to_owned()),
    };
    let error = outlets.post(&stranger, "hello?", None).await.unwrap_err();
    assert!(error.contains("user:nobody"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_and_their_turns_fire_events_with_the_nodes_platform() {
    use clara_core::engine::event_data::EventData;
    let on = OnGateway::start(&[]).await;
    let mut events = on.app.as_ref().unwrap().bus.subscribe();
    let mut client = on.registered("teams-node").await;
    on.model.push(fake_llm::openai_stream(&["hello"]));
    client.send(message("msg-1", "u-ev", "c-ev", "hi")).await;
    client.until("response_end").await;
    drop(client);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + SOON;
    while !seen
        .iter()
        .any(|(name, _): &(String, _)| name == "adapter:disconnected")
    {
        let event = tokio::time::timeout_at(deadline.into(), events.recv())
            .await
            .unwrap_or_else(|_| panic!("events so far: {seen:?}"))
            .unwrap();
        if let EventData::AdapterConnected(connected) = &event.data {
            let node = connected.node.as_ref().expect("the node");
            assert_eq!(
                (node.node_id.as_str(), node.platform.as_str()),
                ("teams-node", "teams")
            );
        }
        seen.push((event.name().as_str().to_owned(), event.platform.clone()));
    }
    for name in ["adapter:connected", "message:received", "message:sent"] {
        let found = seen.iter().find(|(n, _)| n == name);
        assert_eq!(
            found.map(|(_, platform)| platform.as_deref()),
            Some(Some("teams")),
            "{name} in {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_from_one_connection_is_refused_past_its_limit() {
    let on =
        OnGateway::start(&[("CLARA_ADAPTERS__GATEWAY__MAX_PENDING_PER_CONNECTION", "2")]).await;
    let mut flooder = on.registered("flood").await;
    for reply in ["one", "two"] {
        let mut slow = fake_llm::openai_stream(&[reply]);
        slow.first_byte_delay = Duration::from_millis(300);
        on.model.push(slow);
    }
    for i in 0..3 {
        flooder
            .send(message(&format!("msg-{i}"), "u", &format!("c{i}"), "hi"))
            .await;
    }
    let mut refused = None;
    let mut ended = 0;
    while ended < 2 {
        let frame = flooder.next().await;
        match frame["type"].as_str() {
            Some("error") => refused = Some(frame),
            Some("response_end") => ended += 1,
            _ => {}
        }
    }
    let refused = refused.expect("the third message is refused");
    assert_eq!(refused["code"], "rate_limited");
    assert_eq!(refused["request_id"], "msg-2");
    let mut other = on.registered("calm").await;
    on.model.push(fake_llm::openai_stream(&["fine"]));
    other.send(message("msg-x", "v", "cx", "hello")).await;
    assert_eq!(
        other.until("response_end").await.last().unwrap()["full_text"],
        "fine"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_that_never_speaks_gives_its_slot_back() {
    let on = OnGateway::start(&[
        ("CLARA_ADAPTERS__GATEWAY__MAX_CONNECTIONS", "1"),
        ("CLARA_ADAPTERS__GATEWAY__REGISTER_TIMEOUT_SECS", "1"),
    ])
    .await;
    let address = on.url.trim_start_matches("ws://").to_owned();
    let _silent = TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = tokio_tungstenite::connect_async(on.url.as_str()).await;
    assert!(refused.is_err(), "the only slot is taken");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut client = on.registered("after").await;
    client.send(json!({"type": "ping", "timestamp": 3})).await;
    assert_eq!(client.next().await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_still_in_flight_is_refused_and_the_first_message_stays_cancellable() {
    let on = OnGateway::start(&[]).await;
    let mut client = on.registered("n").await;
    let mut slow = fake_llm::openai_stream(&["late"]);
    slow.first_byte_delay = Duration::from_secs(30);
    on.model.push(slow);
    client.send(message("msg-same", "u", "c", "first")).await;
    assert_eq!(client.next().await["type"], "response_start");
    client.send(message("msg-same", "u", "c2", "again")).await;
    let refused = client.next().await;
    assert_eq!(refused["code"], "invalid_message");
    assert_eq!(refused["request_id"], "msg-same");
    let asked = std::time::Instant::now();
    while on.model.request_count() == 0 {
        assert!(asked.elapsed() < SOON, "the model was never asked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    client
        .send(json!({"type": "cancel", "request_id": "msg-same"}))
        .await;
    assert_eq!(
        client.next().await,
        json!({"type": "cancelled", "request_id": "msg-same", "reason": "cancelled"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_approval_is_asked_of_the_node_and_only_an_allowed_answer_decides() {
    let on = OnGateway::start(&[]).await;
    on.ask_the_requester_before_rolling().await;
    let mut client = on.registered("n").await;
    on.model.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6}")],
        5,
    ));
    on.model.push(fake_llm::openai_stream(&["Rolled."]));
    client
        .send(message("msg-ask", "u", "c", "Roll a die"))
        .await;
    let asked = client.until("approval_request").await.pop().unwrap();
    assert_eq!(asked["request_id"], "msg-ask");
    assert_eq!(asked["tool_name"], "roll_dice");
    assert_eq!(asked["arguments"], json!({"sides": 6}));
    assert_eq!(asked["components"][0]["action"], "approve");
    assert_eq!(asked["components"][1]["action"], "deny");
    let id = asked["approval_id"].clone();
    let answer = |user: &str, action: &str| {
        json!({"type": "approval_response", "approval_id": id, "action": action,
            "user": {"id": user}})
    };
    client.send(answer("mallory", "approve")).await;
    let refused = client.until("approval_result").await.pop().unwrap();
    assert_eq!(refused["decision"], "refused", "not the requester");
    client.send(answer("u", "approve")).await;
    let approved = client.until("approval_result").await.pop().unwrap();
    assert_eq!(
        (
            approved["decision"].as_str(),
            approved["decided_by"].as_str()
        ),
        (Some("approved"), Some("u"))
    );
    let end = client.until("response_end").await.pop().unwrap();
    assert_eq!(end["full_text"], "Rolled.");
    assert_eq!(end["tool_count"], 1, "the roll ran");
    client.send(answer("u", "deny")).await;
    let late = client.until("approval_result").await.pop().unwrap();
    assert_eq!(late["decision"], "refused", "decided already");
}

#[tokio::test(flavor = "multi_thread")]
async fn clara_chat_connected_to_a_gateway_answers_its_approval_requests() {
    let on = OnGateway::start(&[]).await;
    on.ask_the_requester_before_rolling().await;
    for then in ["Rolled.", "Not rolled."] {
        on.model.push(fake_llm::openai_tool_stream(
            &[("c1", "roll_dice", "{\"sides\": 6}")],
            5,
        ));
        on.model.push(fake_llm::openai_stream(&[then]));
    }
    let mut command = crate::support::clara(on.root.path());
    command
        .args(["chat", "--connect", &on.url, "--user", "remote-ann"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        use std::io::Write;
        let input = b"roll one\ny\nroll another\nn\n";
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Rolled.\nNot rolled.\n"
    );
    assert_eq!(
        stderr.matches("May I run `roll_dice`").count(),
        2,
        "{stderr}"
    );
    let requests = on.model.requests();
    let told = |i: usize| requests[i].body["messages"].to_string();
    assert!(!told(1).contains("Not run"), "{}", told(1));
    assert!(told(3).contains("remote-ann said no"), "{}", told(3));
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Node.js: install it as .ci/run does, then CLARA_TEST_TOOLS=1"
)]
async fn an_admin_node_user_installs_toggles_restarts_and_removes_an_mcp_server() {
    let (_hub, github) = crate::support::mcp_hub::tiny_hub();
    let on = OnGateway::start(&[
        ("CLARA_ADAPTERS__GATEWAY__ADMIN_USERS", "[\"u-admin\"]"),
        ("CLARA_MCP__GITHUB_URL", &github),
    ])
    .await;
    let mut client = on.registered("n").await;
    let manifest = on.root.path().join("tools.d/tiny.toml");
    let install = |by: &str| {
        json!({"type": "mcp_install", "request_id": format!("mcp-{by}"), "source": "github.com/acme/tiny-mcp",
               "requested_by": by})
    };
    // A server from this machine's files runs any program: not installed from a node.
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/tiny_server.mjs");
    client
        .send(json!({"type": "mcp_install", "request_id": "local", "source": script.to_str().unwrap(), "requested_by": "u-admin"}))
        .await;
    let local = client.next().await;
    assert!(
        local["error"]
            .as_str()
            .unwrap()
            .contains("install it with `clara mcp add` on the machine"),
        "{local}"
    );
    client.send(install("u-someone")).await;
    let refused = client.next().await;
    assert_eq!(refused["success"], false, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("admin_users"));
    assert!(!manifest.exists());

    client.send(install("u-admin")).await;
    let installed = client.next().await;
    assert_eq!(
        (
            installed["type"].as_str(),
            installed["request_id"].as_str(),
            installed["success"].as_bool()
        ),
        (
            Some("mcp_install_response"),
            Some("mcp-u-admin"),
            Some(true)
        ),
        "{installed}"
    );
    assert_eq!(installed["tools"], json!(["shout"]));
    assert!(manifest.exists());
    let live = on.app.as_ref().unwrap().live.clone();
    assert!(matches!(
        live.reload().await,
        clara::live::Reload::Applied(_)
    ));
    live.mcp().started(Duration::from_secs(20)).await;

    client
        .send(json!({"type": "mcp_list", "request_id": "l1"}))
        .await;
    let list = client.next().await;
    let tiny = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "tiny")
        .cloned()
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(
        (
            tiny["status"].as_str(),
            tiny["enabled"].as_bool(),
            tiny["tool_count"].as_u64()
        ),
        (Some("running"), Some(true), Some(1)),
        "{tiny}"
    );
    let everything = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "everything")
        .cloned()
        .unwrap();
    assert_eq!(
        everything["status"], "disabled",
        "disabled manifests are listed too"
    );

    let first = live.mcp().server("tiny").unwrap().pid();
    client
        .send(json!({"type": "mcp_restart", "request_id": "r1", "server_name": "tiny", "requested_by": "u-admin"}))
        .await;
    assert_eq!(client.next().await["success"], true);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while live.mcp().server("tiny").unwrap().pid() == first
        || live.mcp().server("tiny").unwrap().pid().is_none()
    {
        assert!(std::time::Instant::now() < deadline, "never restarted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    client
        .send(json!({"type": "mcp_enable", "request_id": "e1", "server_name": "tiny", "enabled": false, "requested_by": "u-admin"}))
        .await;
    let off = client.next().await;
    assert_eq!(
        (off["success"].as_bool(), off["enabled"].as_bool()),
        (Some(true), Some(false)),
        "{off}"
    );
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains("enabled = false")
    );
    client
        .send(json!({"type": "mcp_uninstall", "request_id": "u1", "server_name": "tiny", "requested_by": "u-admin"}))
        .await;
    assert_eq!(client.next().await["success"], true);
    assert!(!manifest.exists());
}
