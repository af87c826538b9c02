//! `cargo bench -p clara --bench gateway`: `clara run` (the release binary) with the WebSocket
//! gateway on 127.0.0.1 and a fake model that answers at once. Measures what a gateway
//! client waits for beyond the model: from its `message` frame leaving to `response_end`
//! arriving (frame parse, the lane, the turn, the streamed frames back), one message at a
//! time; then messages/s with 1, 8 and 64 connections, each a conversation that sends its
//! next message when the last is answered; then resident memory with 64 idle connections.

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::fake_llm::openai_stream;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SEQUENTIAL: usize = 300;
const PER_RUN: usize = 1_200;
const CONNECTIONS: [usize; 3] = [1, 8, 64];
const REPLY: &str = "Sure, happy to help.";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_clara(root: &std::path::Path, model_url: &str, port: u16) -> Child {
    support::clara_run(root, model_url)
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_ADAPTERS__GATEWAY__ENABLED", "true")
        .env("CLARA_ADAPTERS__GATEWAY__BIND", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap()
}

async fn connect(port: u16, node: &str) -> Socket {
    let started = Instant::now();
    let (mut socket, _) = loop {
        match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}")).await {
            Ok(connected) => break connected,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("clara's gateway never answered: {error}"),
        }
    };
    let register = json!({"type": "register", "node_id": node, "platform": "bench"});
    socket
        .send(Message::text(register.to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut socket).await["type"], "registered");
    socket
}

async fn next(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await.unwrap().unwrap() {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(_) => panic!("closed"),
            _ => {}
        }
    }
}

/// Sends one message in `channel` and waits for its `response_end`.
async fn ask(socket: &mut Socket, id: &str, channel: &str, text: &str) {
    let frame = json!({
        "type": "message", "id": id,
        "user": {"id": format!("user-{channel}"), "name": "someone"},
        "channel": {"id": channel, "type": "dm"},
        "content": text,
    });
    socket.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let frame = next(socket).await;
        match frame["type"].as_str() {
            Some("response_end") => {
                assert_eq!(frame["full_text"], REPLY);
                return;
            }
            Some("error") => panic!("{frame}"),
            _ => {}
        }
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (sequential, per_run) = if quick {
        (20, 64)
    } else {
        (SEQUENTIAL, PER_RUN)
    };
    let model = support::start_fake_model();
    for _ in 0..sequential + per_run * CONNECTIONS.len() + 10 {
        model.push(openai_stream(&[REPLY]));
    }
    let root = support::shipped_root();
    let port = free_port();
    let mut clara = start_clara(root.path(), &model.base_url(), port);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut one = connect(port, "bench-seq").await;
        let mut latencies = Vec::with_capacity(sequential);
        for i in 0..sequential {
            let started = Instant::now();
            ask(
                &mut one,
                &format!("msg-s{i}"),
                "seq",
                &format!("question {i}: what should I cook tonight?"),
            )
            .await;
            latencies.push(started.elapsed());
        }
        println!(
            "gateway: one message at a time ({sequential}): p50 {:.2?}, p99 {:.2?}",
            support::percentile(&mut latencies, 0.5),
            support::percentile(&mut latencies, 0.99)
        );
        let mut idle = Vec::new();
        for i in 0..64 {
            idle.push(connect(port, &format!("bench-idle-{i}")).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "gateway: resident memory with 64 idle connections: {:.1} MB",
            support::memory_mib(clara.id()).0
        );
        drop(idle);
        for connections in CONNECTIONS {
            let mut sockets = Vec::with_capacity(connections);
            for c in 0..connections {
                sockets.push(connect(port, &format!("bench-{connections}-{c}")).await);
            }
            let each = per_run / connections;
            let started = Instant::now();
            let runs = sockets.into_iter().enumerate().map(|(c, mut socket)| {
                tokio::spawn(async move {
                    let channel = format!("c{connections}-{c}");
                    for i in 0..each {
                        ask(
                            &mut socket,
                            &format!("msg-{connections}-{c}-{i}"),
                            &channel,
                            &format!("hello {i}"),
                        )
                        .await;
                    }
                })
            });
            for run in futures_util::future::join_all(runs).await {
                run.unwrap();
            }
            let elapsed = started.elapsed();
            println!(
                "gateway: {connections:>2} connections: {} messages in {:.2?}, {:.0} messages/s",
                each * connections,
                elapsed,
                (each * connections) as f64 / elapsed.as_secs_f64()
            );
        }
    });
    let _ = clara.kill();
    let _ = clara.wait();
}
