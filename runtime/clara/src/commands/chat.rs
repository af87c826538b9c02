//! `clara chat`: the terminal adapter. `-m TEXT` answers one message; otherwise every line of
//! stdin is a message, answered as it arrives, until EOF. Replies stream to stdout; tool
//! status goes to stderr.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clara::tools::mcp::McpServers;
use clara_config::ConfigSet;
use clara_core::engine::{
    Clock, Conversation, Generation, Incoming, LogEvents, ManualClock, SystemClock,
};
use tokio::io::AsyncBufReadExt;

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
    if let Some(message) = missing_provider_key(&set) {
        eprintln!("{message}");
        return Ok(ExitCode::FAILURE);
    }
    let chat = set.clara.value.adapters.chat.clone();
    let user = args.user.clone().unwrap_or(chat.user);
    let conversation = match args.channel.clone() {
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
    let store = clara::runtime::open_store(&set).await?;
    let mcp = McpServers::new(clara::tools::http_client());
    let generation = clara::runtime::generation(set, store, clock()?, Arc::new(LogEvents), &mcp);
    let outcome = match generation {
        Ok(generation) => {
            mcp.started(MCP_START_WAIT).await;
            converse(&generation, args, user, conversation, chat.stream).await
        }
        Err(error) => Err(error.into()),
    };
    // Whatever happened, no MCP server outlives the chat.
    mcp.shutdown().await;
    outcome
}

/// Answers every message until the input ends.
async fn converse(
    generation: &Generation,
    args: &ChatArgs,
    user: String,
    conversation: Conversation,
    stream: bool,
) -> anyhow::Result<ExitCode> {
    let mut messages = Messages::new(args.message.clone());
    let mut failed = false;
    while let Some(text) = messages.next().await? {
        if text.trim().is_empty() {
            continue;
        }
        let incoming = Incoming {
            platform: "chat".to_owned(),
            user_id: user.clone(),
            user_name: user.clone(),
            from_bot: false,
            // The terminal is the operator's own.
            is_admin: true,
            conversation: conversation.clone(),
            text,
            images: Vec::new(),
            reply_chain: Vec::new(),
        };
        failed |= answer(generation, incoming, stream).await?;
        // Memory extraction runs after the reply is on screen.
        drain(generation).await;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Where messages come from: the one `-m` message, or stdin a line at a time (each answered
/// as soon as it is typed, not after the end of input).
enum Messages {
    One(Option<String>),
    Stdin(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
}

impl Messages {
    fn new(message: Option<String>) -> Messages {
        match message {
            Some(text) => Messages::One(Some(text)),
            None => Messages::Stdin(tokio::io::BufReader::new(tokio::io::stdin()).lines()),
        }
    }

    async fn next(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Messages::One(text) => Ok(text.take()),
            Messages::Stdin(lines) => Ok(lines.next_line().await.context("cannot read stdin")?),
        }
    }
}

/// Answers one message, streaming; returns whether the turn failed.
async fn answer(generation: &Generation, incoming: Incoming, stream: bool) -> anyhow::Result<bool> {
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
    match (&outcome.reply, &outcome.error) {
        (Some(reply), Some(error)) => {
            if shown {
                writeln!(out)?;
            }
            writeln!(out, "{reply}")?;
            eprintln!("error: {error}");
        }
        (Some(_), None) if shown => writeln!(out)?,
        (Some(reply), None) => writeln!(out, "{reply}")?,
        (None, _) => {}
    }
    out.flush()?;
    Ok(outcome.error.is_some())
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
            tracing::warn!(%error, "re-embedding failed; memories stay searchable by text")
        }
        Err(_) => tracing::warn!("re-embedding is taking long; it continues next time"),
    }
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

/// When the default provider's key is not set: a message saying which variable to set, or how
/// to use a local server instead.
fn missing_provider_key(set: &ConfigSet) -> Option<String> {
    let config = &set.clara.value;
    let name = config.defaults.provider.clone().or_else(|| {
        (config.providers.len() == 1)
            .then(|| config.providers.keys().next().cloned())
            .flatten()
    })?;
    let provider = config.providers.get(&name)?;
    let var = provider.api_key_env.as_ref()?;
    if set.env.get(var).is_some() {
        return None;
    }
    Some(format!(
        "clara chat needs a language model, and the default provider `{name}` has no key.\n\
         Set {var} in the environment or in {root}/.env.\n\
         Or use a local OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio): add to clara.toml\n\n  \
         [providers.local]\n  kind = \"openai\"\n  base_url = \"http://127.0.0.1:11434/v1\"\n  model = \"llama3.2\"\n\n\
         and run with CLARA_DEFAULTS__PROVIDER=local (or set `provider = \"local\"` under [defaults]).",
        root = set.root.display(),
    ))
}
