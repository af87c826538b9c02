//! `build_context`: the prompt, from the user's templates: instructions, persona, the
//! current-context block, memories, the previous session, recent history, the reply chain,
//! and the message itself.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use clara_config::model::steps::{BuildContextStep, HistorySource};
use serde_json::json;

use crate::engine::EngineError;
use crate::engine::generation::{persona_template, step_template};
use crate::engine::memory::{embed_one, search_embedded};
use crate::engine::run::Run;
use crate::engine::turn::Turn;
use crate::llm::{Message, Role};
use crate::store::Millis;

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
    vars.insert("participants", &vec![incoming.user_name.clone()]);
    vars.insert("images", &incoming.images.len());
    vars.insert("text_files", &0);
    let persona = generation.config.personas.get(run.persona);
    vars.insert(
        "persona",
        &persona
            .map(|p| p.file.value.display_name.clone())
            .unwrap_or_default(),
    );
    let tools: Vec<String> = run
        .offered_tools()
        .iter()
        .map(|t| t.spec().name.clone())
        .collect();
    vars.insert("tools", &tools);

    let session = turn.session.as_ref();
    let (previous_summary, previous_snapshot) =
        match session.and_then(|s| s.previous_session_id.clone()) {
            Some(previous)
                if options.previous_session
                    && options.history_source == HistorySource::CurrentSession =>
            {
                let summary = generation
                    .store
                    .session(&previous)
                    .await?
                    .and_then(|s| s.summary);
                let snapshot = generation
                    .store
                    .recent_messages(&previous, config.sessions.snapshot_messages)
                    .await?;
                let snapshot: Vec<serde_json::Value> = snapshot
                    .iter()
                    .map(|m| json!({ "role": role_name(m.role), "content": m.content }))
                    .collect();
                (summary, snapshot)
            }
            _ => (None, Vec::new()),
        };
    vars.insert("previous_summary", &previous_summary);
    vars.insert("previous_snapshot", &previous_snapshot);
    let (key, user, project) = if options.memories && config.memory.enabled {
        memories(run, options, turn).await?
    } else {
        Default::default()
    };
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

    if let Some(session) = session {
        let mut history = generation
            .store
            .recent_messages(&session.id, options.history_messages + 1)
            .await?;
        history.retain(|m| Some(m.id) != turn.user_message_id);
        let skip = history
            .len()
            .saturating_sub(options.history_messages as usize);
        for message in history.into_iter().skip(skip) {
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
    }
    if options.reply_chain {
        prompt.extend(incoming.reply_chain.iter().cloned());
    }
    if options.history_source == HistorySource::CurrentSession {
        let mut current = Message::user(turn.text.clone());
        for (media_type, data) in &incoming.images {
            current = current.with_image(media_type.clone(), data.clone());
        }
        prompt.push(current);
    }
    Ok(prompt)
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
    let key = generation
        .store
        .key_memories(&turn.incoming.user_id, options.key_memories)
        .await?;
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
    if query.trim().is_empty() {
        return Ok((key_items, Vec::new(), Vec::new()));
    }
    // One embedding serves both searches.
    let embedding = embed_one(context.embedder, &query).await;
    let user = search_embedded(
        &context,
        &query,
        embedding.as_ref(),
        None,
        options.user_memories + options.key_memories,
    )
    .await?;
    let user = pick(user, options.user_memories);
    let project = if options.project_memories > 0 {
        let found = search_embedded(
            &context,
            &query,
            embedding.as_ref(),
            Some(&config.default_project),
            options.project_memories + options.user_memories,
        )
        .await?;
        pick(found, options.project_memories)
    } else {
        Vec::new()
    };
    Ok((key_items, user, project))
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}
