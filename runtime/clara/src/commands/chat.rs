//! `clara chat`: the terminal adapter. `-m TEXT` answers one message; otherwise every line of
//! stdin is a message, answered as it arrives, until EOF. Replies stream to stdout; tool
//! status goes to stderr.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clara::adapters::terminal::{self, ADAPTER, Terminal};
use clara::app::{App, Features};
use clara::live::{Live, Loader};
use clara_core::engine::{
    Clock, Conversation, Generation, Incoming, ManualClock, Outcome, SystemClock, TurnEnd,
};
use tokio_util::sync::CancellationToken;

use super::chat_approver::ChatApprover;
use super::chat_input::Messages;
use crate::cli::ChatArgs;

/// How long `clara chat` waits at exit for queued memory work before leaving it for next time.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// How long the first message waits for MCP servers to start (their tools appear later on
/// their own when they take longer).
const MCP_START_WAIT: Duration = Duration::from_secs(20);

/// Batches of memories (re-)embedded after each reply, so a model change catches up gradually.
const REEMBED_BATCHES: u32 = 4;

pub async fn run(root: &Path, args: &ChatArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    if !set.clara.value.adapters.chat.enabled {
        eprintln!("the terminal adapter is disabled (adapters.chat.enabled = false in clara.toml)");
        return Ok(ExitCode::FAILURE);
    }
    if let Some(url) = &args.connect {
        let chat = &set.clara.value.adapters.chat;
        let mut messages = Messages::new(args.message.clone(), chat, root);
        let user = args.user.clone().unwrap_or_else(|| chat.user.clone());
        let channel = args.channel.clone().or_else(|| chat.channel.clone());
        let secret = match &args.secret_env {
            Some(var) => match set.env.get(var) {
                Some(secret) => Some(secret.to_owned()),
                None => {
                    eprintln!("--secret-env names {var}, which is not set");
                    return Ok(ExitCode::FAILURE);
                }
            },
            None => None,
        };
        return super::chat_remote::run(
            &set,
            url,
            secret,
            &mut messages,
            &user,
            channel.as_deref(),
        )
        .await;
    }
    if let Err(message) = super::check_secrets(&set, "clara chat") {
        eprintln!("{message}");
        return Ok(ExitCode::FAILURE);
    }
    let chat = set.clara.value.adapters.chat.clone();
    let messages = Messages::new(args.message.clone(), &chat, root);
    if messages.interactive() {
        eprintln!("{}", greeting(&set));
    }
    let messages = Arc::new(tokio::sync::Mutex::new(messages));
    let user = args.user.clone().unwrap_or(chat.user);
    let conversation = match args.channel.clone().or(chat.channel) {
        Some(channel) => Conversation {
            id: format!("channel-{channel}"),
            is_dm: false,
            channel_name: Some(channel),
            server_name: None,
        },
        None => Conversation {
            id: format!("dm-{user}"),
            is_dm: true,
            channel_name: None,
            server_name: None,
        },
    };
    drop(set);
    let root = root.to_owned();
    let loader: Loader = Box::new(move || clara_config::load(&root));
    // Memory work runs beside the conversation: the next line never waits for it. A
    // connection link opened from the chat comes back to the status endpoint.
    let features = Features {
        jobs: true,
        connections: true,
        ..Features::default()
    };
    let app = App::start(loader, clock()?, features).await?;
    app.live.outlets().register(ADAPTER, Arc::new(Terminal));
    app.live.approvers().register(
        ADAPTER,
        Arc::new(ChatApprover {
            messages: messages.clone(),
            user: user.clone(),
            prompt: chat.approval_prompt.clone(),
        }),
    );
    app.live.mcp().started(MCP_START_WAIT).await;
    terminal::connected(app.bus.as_ref(), &user, &conversation);
    let status_done = CancellationToken::new();
    let status = tokio::spawn(terminal::show_tool_status(
        app.bus.clone(),
        app.live.clone(),
        conversation.id.clone(),
        status_done.clone(),
    ));
    let outcome = converse(&app.live, &messages, &user, &conversation).await;
    status_done.cancel();
    let _ = status.await;
    terminal::disconnected(app.bus.as_ref(), &user, &conversation);
    // Whatever happened, shutdown hooks run and no MCP server outlives the chat.
    app.shutdown("end of input").await;
    outcome
}

/// Answers every message until the input ends, each on the configuration current when it
/// arrives (edits to the root apply from the next message).
async fn converse(
    live: &Live,
    messages: &tokio::sync::Mutex<Messages>,
    user: &str,
    conversation: &Conversation,
) -> anyhow::Result<ExitCode> {
    let interactive = messages.lock().await.interactive();
    let mut failed = false;
    loop {
        // The input is let go while a message is answered: an approval question reads from it.
        let next = messages.lock().await.next().await?;
        let Some(text) = next else {
            break;
        };
        if text.trim().is_empty() {
            continue;
        }
        let generation = live.current();
        let stream = generation.config.clara.value.adapters.chat.stream;
        let incoming = Incoming {
            // The terminal is the operator's own.
            is_admin: true,
            ..Incoming::text(ADAPTER, user, user, conversation.clone(), text)
        };
        // A message that could not be handled at all (the store failing, say) is reported,
        // and the lines after it are still answered.
        match answer(&generation, incoming, stream, interactive).await {
            Ok(turn_failed) => failed |= turn_failed,
            Err(error) => {
                eprintln!("error: {error:#}");
                failed = true;
            }
        }
    }
    // What the background worker has not reached yet runs before clara leaves.
    drain(&live.current()).await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Answers one message, streaming; returns whether the turn failed.
async fn answer(
    generation: &Generation,
    incoming: Incoming,
    stream: bool,
    interactive: bool,
) -> anyhow::Result<bool> {
    let streamed = std::sync::atomic::AtomicBool::new(false);
    let print = |delta: &str| {
        if stream {
            streamed.store(true, std::sync::atomic::Ordering::SeqCst);
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(delta.as_bytes());
            let _ = out.flush();
        }
    };
    let outcome = generation
        .handle_message(incoming, &print)
        .await
        .context("the message could not be handled")?;
    let mut out = std::io::stdout().lock();
    let shown = streamed.load(std::sync::atomic::Ordering::SeqCst);
    let chat = &generation.config.clara.value.adapters.chat;
    // On a terminal, a turn that prints nothing says so; piped output stays the replies alone.
    let notice = match &outcome {
        Outcome::Replied { reply, .. } if reply.trim().is_empty() => Some(&chat.empty_notice),
        Outcome::Ended(TurnEnd::StopPhrase) => Some(&chat.stop_notice),
        _ => None,
    };
    if let Some(notice) = notice.filter(|n| interactive && !n.is_empty()) {
        eprintln!("{notice}");
    }
    match &outcome {
        Outcome::Failed { reply, error, .. } => {
            if shown {
                writeln!(out)?;
            }
            writeln!(out, "{reply}")?;
            eprintln!("error: {error}");
        }
        Outcome::Replied { .. } if shown => writeln!(out)?,
        Outcome::Replied { reply, .. } => writeln!(out, "{reply}")?,
        Outcome::Ended(TurnEnd::Duplicate) => {
            if !chat.duplicate_notice.is_empty() {
                eprintln!("{}", chat.duplicate_notice);
            }
        }
        Outcome::Ended(_) => {}
    }
    // The files are in the user's folder on this machine already: say where.
    if let Outcome::Replied { files, .. } = &outcome {
        for file in files {
            let path = file.path.as_deref().unwrap_or(Path::new(&file.name));
            let line = chat.file_line(&file.name, file.bytes.len() as u64, path);
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(outcome.error().is_some())
}

async fn drain(generation: &Generation) {
    match tokio::time::timeout(DRAIN_LIMIT, generation.run_due_jobs(u32::MAX)).await {
        Ok(Ok(report)) if report.failed > 0 => tracing::warn!(
            failed = report.failed,
            "some memory work failed; it stays queued"
        ),
        Ok(Err(error)) => tracing::warn!(%error, "memory work could not run; it stays queued"),
        Err(_) => tracing::warn!("memory work is taking long; the rest stays queued for next time"),
        _ => {}
    }
    match tokio::time::timeout(DRAIN_LIMIT, generation.reembed(REEMBED_BATCHES)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(count)) => tracing::info!(count, "embedded memories for the current model"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "re-embedding failed; memories stay searchable by text");
        }
        Err(_) => tracing::warn!("re-embedding is taking long; it continues next time"),
    }
}

/// The terminal's greeting: who answers, on which provider and model.
fn greeting(set: &clara_config::ConfigSet) -> String {
    let config = &set.clara.value;
    let persona_name = &config.defaults.persona;
    let persona = set.personas.get(persona_name);
    let shown = persona
        .map(|p| p.file.value.display_name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| persona_name.clone());
    let provider = config.default_provider().unwrap_or("none");
    let tier = persona.and_then(|p| p.file.value.default_tier);
    let model = config
        .providers
        .get(provider)
        .map_or("none", |p| p.model_for(tier));
    let values = [
        ("persona", shown.as_str()),
        ("provider", provider),
        ("model", model),
    ];
    clara_config::model::common::fill(&config.adapters.chat.greeting, &values)
}

/// `CLARA_NOW` (RFC 3339) pins the clock, for tests of session timeouts; otherwise real time.
fn clock() -> anyhow::Result<Arc<dyn Clock>> {
    match std::env::var("CLARA_NOW") {
        Ok(value) => {
            let at = chrono::DateTime::parse_from_rfc3339(&value)
                .with_context(|| format!("CLARA_NOW=`{value}` is not an RFC 3339 time"))?;
            Ok(Arc::new(ManualClock::new(at.timestamp_millis())))
        }
        Err(_) => Ok(Arc::new(SystemClock)),
    }
}
