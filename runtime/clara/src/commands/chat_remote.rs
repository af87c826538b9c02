//! `clara chat --connect ws://HOST:PORT`: the terminal as a client of a running clara's
//! gateway, the way MyPalClara's CLI talks to its gateway. Replies stream to stdout, tool
//! status goes to stderr, and a lost connection is made again with backoff (the session id
//! comes back, so the conversation goes on). The gateway's secret goes only where
//! `--secret-env` says to send it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clara_config::ConfigSet;
use clara_config::model::adapters::ChatConfig;
use clara_config::model::common::fill;
use clara_core::engine::event_data::ToolStart;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::chat_input::Messages;
use clara::adapters::tool_status_line;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connection attempts before giving up, the first wait, and the longest (MyPalClara's).
const ATTEMPTS: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where the chat connects and as whom.
struct Remote {
    url: String,
    secret: Option<String>,
    node_id: String,
    session_id: Option<String>,
}

/// Runs the chat against the gateway at `url`.
pub async fn run(
    set: &ConfigSet,
    url: &str,
    secret: Option<String>,
    messages: &mut Messages,
    user: &str,
    channel: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let chat = set.clara.value.adapters.chat.clone();
    let received = set.root.join(&chat.received_dir);
    let mut remote = Remote {
        url: url.to_owned(),
        secret,
        node_id: format!("cli-{:08x}", rand::random::<u32>()),
        session_id: None,
    };
    let mut socket = remote.connect().await?;
    let mut failed = false;
    let mut next_id = 0u32;
    while let Some(text) = messages.next().await? {
        if text.trim().is_empty() {
            continue;
        }
        next_id += 1;
        let id = format!("msg-{:08x}", rand::random::<u32>() ^ next_id);
        let frame = json!({
            "type": "message",
            "id": id,
            "user": {"id": user, "name": user},
            "channel": match channel {
                Some(channel) => json!({"id": channel, "type": "server", "name": channel}),
                None => json!({"id": format!("dm-{user}"), "type": "dm"}),
            },
            "content": text,
        });
        let sent = socket.send(Message::text(frame.to_string())).await;
        let answered = match sent {
            Ok(()) => {
                let to = Answering {
                    id: &id,
                    user,
                    chat: &chat,
                    received: &received,
                };
                answer(&mut socket, &to, messages).await
            }
            Err(error) => Err(error.into()),
        };
        match answered {
            Ok(turn_failed) => failed |= turn_failed,
            Err(error) => {
                eprintln!(
                    "the connection to {} was lost ({error}); connecting again",
                    remote.url
                );
                failed = true;
                socket = remote.connect().await?;
            }
        }
    }
    let _ = socket.close(None).await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

impl Remote {
    /// Connects and registers, with backoff; an `unauthorized` answer ends the chat.
    async fn connect(&mut self) -> anyhow::Result<Socket> {
        let mut wait = FIRST_BACKOFF;
        let mut last = None;
        for attempt in 1..=ATTEMPTS {
            match self.try_connect().await {
                Ok(socket) => return Ok(socket),
                Err(Attempt::Refused(why)) => {
                    anyhow::bail!("the gateway refused this client: {why}")
                }
                Err(Attempt::Failed(error)) => {
                    if attempt < ATTEMPTS {
                        eprintln!(
                            "cannot reach {} ({error}); trying again in {}s",
                            self.url,
                            wait.as_secs()
                        );
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(MAX_BACKOFF);
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
            .with_context(|| format!("cannot reach the gateway at {}", self.url))
    }

    async fn try_connect(&mut self) -> Result<Socket, Attempt> {
        let request =
            self.url.as_str().into_client_request().map_err(|e| {
                Attempt::Refused(format!("`{}` is not a ws:// address: {e}", self.url))
            })?;
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| Attempt::Failed(e.into()))?;
        let register = json!({
            "type": "register",
            "node_id": self.node_id,
            "platform": "cli",
            "capabilities": ["streaming"],
            "session_id": self.session_id,
            "secret": self.secret,
        });
        socket
            .send(Message::text(register.to_string()))
            .await
            .map_err(|e| Attempt::Failed(e.into()))?;
        let reply = tokio::time::timeout(Duration::from_secs(10), next_frame(&mut socket))
            .await
            .map_err(|_| Attempt::Failed(anyhow::anyhow!("no answer to register in 10 s")))?
            .map_err(Attempt::Failed)?;
        match reply["type"].as_str() {
            Some("registered") => {
                self.session_id = reply["session_id"].as_str().map(str::to_owned);
                Ok(socket)
            }
            _ => Err(Attempt::Refused(
                reply["message"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_owned(),
            )),
        }
    }
}

enum Attempt {
    Refused(String),
    Failed(anyhow::Error),
}

/// The next JSON frame.
async fn next_frame(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
            Some(Ok(Message::Close(_))) | None => {
                anyhow::bail!("the gateway closed the connection")
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
        }
    }
}

/// The person's answer to an approval question, read while the socket is still read (so the
/// gateway's keepalive is answered); `None` when the input ended or the gateway gave up on it.
async fn read_answer(
    socket: &mut Socket,
    messages: &mut Messages,
    prompt: &str,
    approval_id: &Value,
) -> anyhow::Result<Option<String>> {
    let answer = messages.answer(prompt);
    tokio::pin!(answer);
    loop {
        tokio::select! {
            line = &mut answer => return line,
            frame = next_frame(socket) => {
                let frame = frame?;
                if frame["type"] == "approval_result" && frame["approval_id"] == *approval_id {
                    eprintln!();
                    return Ok(None);
                }
            }
        }
    }
}

/// The message being answered, and where its answer goes.
struct Answering<'a> {
    /// The message's id.
    id: &'a str,
    /// Who sent it, and decides its approvals.
    user: &'a str,
    chat: &'a ChatConfig,
    /// Where files sent with the answer are kept.
    received: &'a Path,
}

/// Prints the answer to a message as its frames arrive, keeps the files sent with it, and
/// puts its tool approval requests to the user on the input; returns whether it failed. An
/// error means the connection is gone.
async fn answer(
    socket: &mut Socket,
    to: &Answering<'_>,
    messages: &mut Messages,
) -> anyhow::Result<bool> {
    let (id, user, chat) = (to.id, to.user, to.chat);
    let interactive = messages.interactive();
    let mut shown = false;
    loop {
        let frame = next_frame(socket).await?;
        if frame["request_id"] != id {
            continue;
        }
        let mut out = std::io::stdout().lock();
        match frame["type"].as_str().unwrap_or("") {
            "response_chunk" if chat.stream => {
                shown = true;
                out.write_all(frame["chunk"].as_str().unwrap_or("").as_bytes())?;
                out.flush()?;
            }
            "tool_start" if chat.tool_status && !chat.tool_status_line.is_empty() => {
                let start = ToolStart {
                    tool: frame["tool_name"].as_str().unwrap_or("").to_owned(),
                    step: frame["step"].as_u64().unwrap_or(0) as u32,
                    arguments: Value::Null,
                    label: frame["description"].as_str().unwrap_or("").to_owned(),
                    emoji: frame["emoji"].as_str().map(str::to_owned),
                };
                eprintln!("{}", tool_status_line(&chat.tool_status_line, &start));
            }
            "approval_request" => {
                drop(out);
                let question = frame["question"].as_str().unwrap_or("");
                let prompt = fill(&chat.approval_prompt, &[("question", question)]);
                let wait = Duration::from_secs(frame["timeout_secs"].as_u64().unwrap_or(120));
                // No line in time, or no input at all: the gateway's own timeout says no.
                let approval_id = frame["approval_id"].clone();
                let line = tokio::time::timeout(
                    wait,
                    read_answer(socket, messages, &prompt, &approval_id),
                )
                .await;
                if let Ok(Ok(Some(line))) = line {
                    let approve = line.trim().to_lowercase().starts_with('y');
                    let response = json!({
                        "type": "approval_response",
                        "approval_id": frame["approval_id"],
                        "action": if approve { "approve" } else { "deny" },
                        "user": {"id": user},
                    });
                    socket.send(Message::text(response.to_string())).await?;
                }
            }
            "response_end" => {
                let text = frame["full_text"].as_str().unwrap_or("");
                if shown {
                    writeln!(out)?;
                } else if !text.is_empty() {
                    writeln!(out, "{text}")?;
                } else if interactive && !chat.empty_notice.is_empty() {
                    eprintln!("{}", chat.empty_notice);
                }
                let mut failed = false;
                for file in frame["file_data"].as_array().into_iter().flatten() {
                    match keep(to.received, file) {
                        Ok((name, size, path)) => {
                            writeln!(out, "{}", chat.file_line(&name, size, &path))?;
                        }
                        Err(error) => {
                            eprintln!("error: a file sent with the answer was not kept: {error}");
                            failed = true;
                        }
                    }
                }
                out.flush()?;
                return Ok(failed);
            }
            "cancelled" => {
                if interactive && !chat.stop_notice.is_empty() {
                    eprintln!("{}", chat.stop_notice);
                }
                return Ok(false);
            }
            "error" if frame["code"] == "duplicate" => {
                if !chat.duplicate_notice.is_empty() {
                    eprintln!("{}", chat.duplicate_notice);
                }
                return Ok(false);
            }
            "error" => {
                eprintln!("error: {}", frame["message"].as_str().unwrap_or("unknown"));
                return Ok(true);
            }
            _ => {}
        }
    }
}

/// Writes one `file_data` entry into `dir` under its own name (its last path part, without
/// leading dots), never replacing a file: `list.txt` becomes `list (2).txt` when taken.
/// Returns the name, the size and where it went.
fn keep(dir: &Path, file: &Value) -> anyhow::Result<(String, u64, PathBuf)> {
    use base64::Engine as _;
    let given = file["filename"].as_str().unwrap_or_default();
    let base = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = match base.trim_start_matches('.') {
        "" => "file",
        name => name,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file["content_base64"].as_str().unwrap_or_default())
        .with_context(|| format!("`{given}` is not valid base64"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (name, String::new()),
    };
    for n in 1u32.. {
        let candidate = match n {
            1 => name.to_owned(),
            n => format!("{stem} ({n}){extension}"),
        };
        let path = dir.join(&candidate);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut out) => {
                out.write_all(&bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok((candidate, bytes.len() as u64, path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    unreachable!("some name is free")
}
