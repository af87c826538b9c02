//! `build_context`: the prompt, from the user's templates: instructions, persona, the
//! current-context block, memories, the previous session, recent history, the reply chain,
//! and the message itself.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use clara_config::model::steps::{BuildContextStep, HistorySource};
use futures_util::future::{join, try_join, try_join3};
use serde_json::json;

use crate::engine::EngineError;
use crate::engine::generation::{persona_template, step_template};
use crate::engine::memory::{embed_one, search_embedded};
use crate::engine::run::Run;
use crate::engine::turn::Turn;
use crate::llm::{Message, Role};
use crate::store::{Millis, StoredMessage};

pub(crate) async fn run(
    run: &Run<'_>,
    index: usize,
    options: &BuildContextStep,
    turn: &mut Turn,
) -> Result<(), EngineError> {
    turn.prompt = build_prompt(run, index, options, turn).await?;
    Ok(())
}

/// Builds the prompt for `turn`.
async fn build_prompt(
    run: &Run<'_>,
    index: usize,
    options: &BuildContextStep,
    turn: &Turn,
) -> Result<Vec<Message>, EngineError> {
    let generation = run.generation;
    let config = &generation.config.clara.value;
    let tz: chrono_tz::Tz = options
        .timezone
        .as_deref()
        .unwrap_or(&config.defaults.timezone)
        .parse()
        .unwrap_or(chrono_tz::UTC);
    let when = |ms: Millis, format: &str| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .unwrap_or_default()
            .with_timezone(&tz)
            .format(format)
            .to_string()
    };
    let now = generation.clock.now();
    let incoming = &turn.incoming;

    let mut vars = tera::Context::new();
    vars.insert("now", &when(now, &options.now_format));
    vars.insert("today", &when(now, "%Y-%m-%d"));
    vars.insert("platform", &incoming.platform);
    vars.insert("is_dm", &incoming.conversation.is_dm);
    vars.insert("channel_name", &incoming.conversation.channel_name);
    vars.insert("server_name", &incoming.conversation.server_name);
    vars.insert("user_name", &incoming.user_name);
    vars.insert("user_id", &incoming.user_id);
    vars.insert("images", &incoming.images.len());
    vars.insert("text_files", &incoming.text_files);
    let persona = generation.config.personas.get(run.persona);
    vars.insert(
        "persona",
        &persona
            .map(|p| p.file.value.display_name.clone())
            .unwrap_or_default(),
    );
    let tools: Vec<String> = run
        .offered_tools(&turn.incoming)
        .iter()
        .map(|t| t.spec().name.clone())
        .collect();
    vars.insert("tools", &tools);

    // The reads are independent, so they run at once (on separate pooled connections).
    let memories = async {
        if options.memories && config.memory.enabled {
            memories(run, options, turn).await
        } else {
            Ok(Default::default())
        }
    };
    let ((previous_summary, previous_snapshot), (key, user, project), history) = try_join3(
        previous_session(run, options, turn),
        memories,
        history(run, options, turn),
    )
    .await?;
    vars.insert("participants", &participants(turn, &history));
    vars.insert("previous_summary", &previous_summary);
    vars.insert("previous_snapshot", &previous_snapshot);
    vars.insert("key_memories", &key);
    vars.insert("user_memories", &user);
    vars.insert("project_memories", &project);

    let mut prompt = Vec::new();
    let mut system = |text: String| {
        if !text.trim().is_empty() {
            prompt.push(Message::system(text.trim().to_owned()));
        }
    };
    if !tools.is_empty() {
        system(generation.render(
            &step_template(run.pipeline_name, index, "instructions_template"),
            &vars,
        )?);
    }
    if persona.is_some() {
        system(generation.render(&persona_template(run.persona), &vars)?);
    }
    system(generation.render(
        &step_template(run.pipeline_name, index, "context_template"),
        &vars,
    )?);
    system(generation.render(
        &step_template(run.pipeline_name, index, "memories_template"),
        &vars,
    )?);

    for message in history {
        prompt.push(match message.role {
            Role::User if options.history_timestamps => Message::user(format!(
                "[{}] {}",
                when(message.created_at, &options.timestamp_format),
                message.content
            )),
            Role::Assistant => Message::assistant(message.content),
            _ => Message::user(message.content),
        });
    }
    if options.reply_chain {
        prompt.extend(incoming.reply_chain.iter().cloned());
    }
    // A pipeline run by a task or hook has no message of its own; its `llm_call` instruction
    // is what the model answers.
    let has_message = !turn.text.is_empty() || !incoming.images.is_empty();
    if options.history_source == HistorySource::CurrentSession && has_message {
        let mut current = Message::user(turn.text.clone());
        for (media_type, data) in &incoming.images {
            current = current.with_image(media_type.clone(), data.clone());
        }
        prompt.push(current);
    }
    Ok(prompt)
}

/// The previous session's summary and its last messages, when the step shows them.
async fn previous_session(
    run: &Run<'_>,
    options: &BuildContextStep,
    turn: &Turn,
) -> Result<(Option<String>, Vec<serde_json::Value>), EngineError> {
    let generation = run.generation;
    let previous = turn
        .session
        .as_ref()
        .and_then(|s| s.previous_session_id.as_deref());
    let Some(previous) = previous.filter(|_| {
        options.previous_session && options.history_source == HistorySource::CurrentSession
    }) else {
        return Ok((None, Vec::new()));
    };
    let snapshot_messages = generation.config.clara.value.sessions.snapshot_messages;
    let (session, snapshot) = try_join(
        generation.store.session(previous),
        generation
            .store
            .recent_messages(previous, snapshot_messages),
    )
    .await?;
    let snapshot = snapshot
        .iter()
        .map(|m| json!({ "role": role_name(m.role), "content": m.content }))
        .collect();
    Ok((session.and_then(|s| s.summary), snapshot))
}

/// The session's last `history_messages` messages before this one, oldest first.
async fn history(
    run: &Run<'_>,
    options: &BuildContextStep,
    turn: &Turn,
) -> Result<Vec<StoredMessage>, EngineError> {
    let Some(session) = turn.session.as_ref() else {
        return Ok(Vec::new());
    };
    let mut history = run
        .generation
        .store
        .recent_messages(&session.id, options.history_messages + 1)
        .await?;
    history.retain(|m| Some(m.id) != turn.user_message_id);
    let skip = history
        .len()
        .saturating_sub(options.history_messages as usize);
    history.drain(..skip);
    Ok(within_budget(history, options.history_max_chars as usize))
}

/// The newest messages whose text fits in `budget` characters, oldest first. The newest one
/// is kept even when it alone is longer, cut to the budget.
fn within_budget(mut history: Vec<StoredMessage>, budget: usize) -> Vec<StoredMessage> {
    let mut used = 0;
    let mut keep = 0;
    for message in history.iter_mut().rev() {
        let chars = message.content.chars().count();
        if used + chars > budget {
            if keep == 0 {
                message.content = message.content.chars().take(budget).collect::<String>() + "…";
                keep = 1;
            }
            break;
        }
        used += chars;
        keep += 1;
    }
    let drop = history.len() - keep;
    history.drain(..drop);
    history
}

type MemoryLists = (
    Vec<serde_json::Value>,
    Vec<serde_json::Value>,
    Vec<serde_json::Value>,
);

/// Key memories, then user and project memories found by searching the message.
async fn memories(
    run: &Run<'_>,
    options: &BuildContextStep,
    turn: &Turn,
) -> Result<MemoryLists, EngineError> {
    let generation = run.generation;
    let config = &generation.config.clara.value.memory;
    let context = generation.tool_context(&turn.incoming.user_id);
    let query: String = {
        let chars: Vec<char> = turn.text.chars().collect();
        chars[chars
            .len()
            .saturating_sub(options.memory_query_chars as usize)..]
            .iter()
            .collect()
    };
    let search_text = !query.trim().is_empty();
    // Key memories and the query's embedding (an HTTP call) at once.
    let (key, embedding) = join(
        generation
            .store
            .key_memories(&turn.incoming.user_id, options.key_memories),
        async {
            if search_text {
                embed_one(context.embedder, &query).await
            } else {
                None
            }
        },
    )
    .await;
    let key = key?;
    let mut seen: HashSet<String> = key.iter().map(|m| m.id.clone()).collect();
    let item = |id: &str, text: &str, score: f32| json!({ "id": id, "text": text, "score": score });
    let key_items = key.iter().map(|m| item(&m.id, &m.text, 1.0)).collect();
    let mut pick = |found: Vec<crate::store::ScoredMemory>, limit: u32| -> Vec<serde_json::Value> {
        found
            .into_iter()
            .filter(|m| m.score >= options.min_memory_score && seen.insert(m.memory.id.clone()))
            .take(limit as usize)
            .map(|m| item(&m.memory.id, &m.memory.text, m.score))
            .collect()
    };
    if !search_text {
        return Ok((key_items, Vec::new(), Vec::new()));
    }
    // One embedding serves both searches, which run at once.
    let user_search = search_embedded(
        &context,
        &query,
        embedding.as_ref(),
        None,
        options.user_memories + options.key_memories,
    );
    let project_search = async {
        if options.project_memories == 0 {
            return Ok(Vec::new());
        }
        search_embedded(
            &context,
            &query,
            embedding.as_ref(),
            Some(&config.default_project),
            options.project_memories + options.user_memories,
        )
        .await
    };
    let (user, project) = try_join(user_search, project_search).await?;
    let user = pick(user, options.user_memories);
    let project = pick(project, options.project_memories);
    Ok((key_items, user, project))
}

/// Who takes part: the author, then the other people who wrote in the history (a shared
/// channel session) or in this batch of messages (`[Name]: …` lines), each once.
fn participants(turn: &Turn, history: &[StoredMessage]) -> Vec<String> {
    let mut names = vec![turn.incoming.user_name.clone()];
    let batch = turn
        .incoming
        .authors_named
        .then(|| turn.incoming.text.lines())
        .into_iter()
        .flatten()
        .filter_map(|line| {
            line.strip_prefix('[')?
                .split_once("]: ")
                .map(|(name, _)| name)
        });
    let written = history
        .iter()
        .filter(|m| m.role == Role::User)
        .filter_map(|m| m.author.as_deref());
    for name in batch.chain(written) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}
