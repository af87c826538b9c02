//! `build_context`: the prompt, from the user's templates, stable part first so providers can
//! cache it: instructions, persona, background (previous session, key memories) and the
//! history; then the reply chain, and the new message headed by what changes every turn (the
//! current-context block and the memories found for it).

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use clara_config::model::steps::{BuildContextStep, HistorySource};
use futures_util::future::{join, try_join, try_join3};
use serde_json::json;

use super::site::Site;
use crate::engine::EngineError;
use crate::engine::memory::{embed_one, search_scopes};
use crate::engine::metered_embedder::MeteredEmbedder;
use crate::engine::run::Run;
use crate::engine::template::Template;
use crate::engine::turn::Turn;
use crate::llm::{Message, Part, Role};
use crate::store::{Millis, ScoredMemory, StoredMessage};

/// The built `build_context` step.
pub(crate) struct BuildContext {
    options: BuildContextStep,
    timezone: chrono_tz::Tz,
    /// `memory.enabled`.
    memory: bool,
    /// `memory.default_project`.
    default_project: String,
    /// `sessions.snapshot_messages`.
    snapshot_messages: u32,
    instructions: Template,
    background: Template,
    context: Template,
    memories: Template,
    /// Whether the instructions and background read no per-turn variable (the persona says
    /// for itself): only then is the prompt's start marked for caching.
    cacheable: bool,
}

impl BuildContext {
    pub(crate) fn build(
        options: &BuildContextStep,
        site: &Site<'_>,
    ) -> Result<BuildContext, EngineError> {
        Ok(BuildContext {
            options: options.clone(),
            timezone: site.timezone(options.timezone.as_deref()),
            memory: site.clara.memory.enabled,
            default_project: site.clara.memory.default_project.clone(),
            snapshot_messages: site.clara.sessions.snapshot_messages,
            instructions: site.template("instructions_template", &options.instructions_template)?,
            background: site.template("background_template", options.background())?,
            context: site.template("context_template", &options.context_template)?,
            memories: site.template("memories_template", &options.memories_template)?,
            cacheable: [options.instructions_template.as_str(), options.background()]
                .into_iter()
                .all(|t| clara_config::prompt_cache::first_per_turn(t).is_none()),
        })
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        turn.prompt = self.prompt(run, turn).await?;
        Ok(())
    }

    /// Builds the prompt for `turn`.
    async fn prompt(&self, run: &Run<'_>, turn: &Turn) -> Result<Vec<Message>, EngineError> {
        let options = &self.options;
        let tz = self.timezone;
        let when = |ms: Millis, format: &str| {
            Utc.timestamp_millis_opt(ms)
                .single()
                .unwrap_or_default()
                .with_timezone(&tz)
                .format(format)
                .to_string()
        };
        let now = run.services.clock.now();
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
        vars.insert("persona", &run.persona.display_name);
        let tools: Vec<String> = run
            .offered_tools(&turn.incoming)
            .iter()
            .map(|t| t.spec().name.clone())
            .collect();
        vars.insert("tools", &tools);

        // The reads are independent, so they run at once (on separate pooled connections).
        let memories = async {
            if options.memories && self.memory {
                self.memories(run, turn).await
            } else {
                Ok(Default::default())
            }
        };
        let ((previous_summary, previous_snapshot), (key, user, project), history) = try_join3(
            self.previous_session(run, turn),
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

        let volatile: Vec<String> = [self.context.render(&vars)?, self.memories.render(&vars)?]
            .into_iter()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .collect();
        // A pipeline run by a task or hook has no message of its own; its `llm_call`
        // instruction is what the model answers.
        let has_message = !turn.text.is_empty() || !incoming.images.is_empty();
        let new_message = options.history_source == HistorySource::CurrentSession && has_message;

        // The stable start: the same for every turn of the session.
        let mut prompt = Vec::new();
        let mut system = |text: String| {
            if !text.trim().is_empty() {
                prompt.push(Message::system(text.trim().to_owned()));
            }
        };
        if !tools.is_empty() {
            system(self.instructions.render(&vars)?);
        }
        if let Some(persona) = &run.persona.prompt {
            system(persona.render(&vars)?);
        }
        system(self.background.render(&vars)?);
        let cacheable = self.cacheable && run.persona.cacheable;
        mark_cached(&mut prompt, cacheable);
        if !new_message {
            // Without a new message to head, the context stays among the system messages
            // before the history, where every chat template accepts system text; the history
            // after it is then not worth caching.
            prompt.extend(volatile.iter().cloned().map(Message::system));
        }
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
        mark_cached(&mut prompt, cacheable && new_message);

        // What changes every turn.
        if options.reply_chain {
            prompt.extend(incoming.reply_chain.iter().cloned());
        }
        if new_message {
            // The context heads the new message rather than sitting among the system messages,
            // so the system messages and the history before it stay the same turn to turn.
            let mut current = Message::user(turn.text.clone());
            current
                .parts
                .splice(0..0, volatile.into_iter().map(Part::Text));
            for (media_type, data) in &incoming.images {
                current = current.with_image(media_type.clone(), data.clone());
            }
            prompt.push(current);
        }
        Ok(prompt)
    }

    /// The previous session's summary and its last messages, when the step shows them.
    async fn previous_session(
        &self,
        run: &Run<'_>,
        turn: &Turn,
    ) -> Result<(Option<String>, Vec<serde_json::Value>), EngineError> {
        let options = &self.options;
        let store = &run.services.store;
        let previous = turn
            .session
            .as_ref()
            .and_then(|s| s.previous_session_id.as_deref());
        let Some(previous) = previous.filter(|_| {
            options.previous_session && options.history_source == HistorySource::CurrentSession
        }) else {
            return Ok((None, Vec::new()));
        };
        let (session, snapshot) = try_join(
            store.session(previous),
            store.recent_messages(previous, self.snapshot_messages),
        )
        .await?;
        let snapshot = snapshot
            .iter()
            .map(|m| json!({ "role": role_name(m.role), "content": m.content }))
            .collect();
        Ok((session.and_then(|s| s.summary), snapshot))
    }

    /// Key memories, then user and project memories found by searching the message.
    async fn memories(&self, run: &Run<'_>, turn: &Turn) -> Result<MemoryLists, EngineError> {
        let options = &self.options;
        let embedder = MeteredEmbedder::new(run.services, turn.meter(run.pipeline, turn.purpose()));
        let context = run.services.tool_context(
            &turn.incoming.user_id,
            embedder.as_ref().map(MeteredEmbedder::as_dyn),
        );
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
            run.services
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
        let item =
            |id: &str, text: &str, score: f32| json!({ "id": id, "text": text, "score": score });
        let key_items = key.iter().map(|m| item(&m.id, &m.text, 1.0)).collect();
        let mut pick = |found: Vec<ScoredMemory>, limit: u32| -> Vec<serde_json::Value> {
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
        // One embedding and one pass of the store serve both searches.
        let mut scopes = vec![(None, options.user_memories + options.key_memories)];
        if options.project_memories > 0 {
            scopes.push((
                Some(self.default_project.as_str()),
                options.project_memories + options.user_memories,
            ));
        }
        let mut found = search_scopes(&context, &query, embedding.as_ref(), &scopes)
            .await?
            .into_iter();
        let (user, project) = (
            found.next().unwrap_or_default(),
            found.next().unwrap_or_default(),
        );
        let user = pick(user, options.user_memories);
        let project = pick(project, options.project_memories);
        Ok((key_items, user, project))
    }
}

type MemoryLists = (
    Vec<serde_json::Value>,
    Vec<serde_json::Value>,
    Vec<serde_json::Value>,
);

/// Marks the last message so far as the end of the cached start, when there is one to mark.
fn mark_cached(prompt: &mut [Message], cacheable: bool) {
    if let Some(last) = prompt.last_mut().filter(|_| cacheable) {
        last.cache_point = true;
    }
}

/// The session's last `history_messages` messages before this one, oldest first, within
/// `history_max_chars`, starting where [`stable_start`] says.
async fn history(
    run: &Run<'_>,
    options: &BuildContextStep,
    turn: &Turn,
) -> Result<Vec<StoredMessage>, EngineError> {
    let Some(session) = turn.session.as_ref() else {
        return Ok(Vec::new());
    };
    // One more than shown, for the message this turn stored, and one more again, so that a
    // cut is known to be one.
    let mut history = run
        .services
        .store
        .recent_messages(&session.id, options.history_messages + 2)
        .await?;
    history.retain(|m| Some(m.id) != turn.user_message_id);
    let newest = history
        .len()
        .saturating_sub(options.history_messages as usize);
    let fits = newest + over_budget(&mut history[newest..], options.history_max_chars as usize);
    let start = stable_start(&history, fits, options.history_trim_step);
    history.drain(..start);
    Ok(history)
}

/// How many of the oldest `history` messages to leave out so that the text of the rest fits
/// in `budget` characters. The newest one is kept even when it alone is longer, cut to the
/// budget.
fn over_budget(history: &mut [StoredMessage], budget: usize) -> usize {
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
    history.len() - keep
}

/// Where a history that had to be cut at `cut` starts instead: at the message with the
/// lowest hash of its id among the `step` messages from `cut` on. As the session grows and
/// `cut` moves on, that message stays the lowest until `cut` passes it or a lower one comes
/// into reach, so the start (and with it the cached start of the prompt) holds for several
/// turns instead of moving every turn, whatever ids other conversations take meanwhile.
/// With `step` 0, or when nothing was cut, the cut stands.
fn stable_start(history: &[StoredMessage], cut: usize, step: u32) -> usize {
    if cut == 0 || step == 0 {
        return cut;
    }
    let reach = history.len().min(cut + step as usize);
    (cut..reach)
        .min_by_key(|&i| mix(history[i].id))
        .unwrap_or(cut)
}

/// A fixed scrambling of an id (SplitMix64's finaliser): the same on every run, and spread
/// evenly whatever the ids' spacing.
fn mix(id: i64) -> u64 {
    let mut z = id as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
