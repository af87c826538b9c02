//! `clara replay`: reads stored conversations (never writing to the store), runs each user
//! message again through the root's config (and the baseline's, with `--against`) and prints
//! per turn what changed; `--record` writes a session as a `clara test` fixture.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clara::store::Access;
use clara_core::engine::Conversation;
use clara_core::llm::Role;
use clara_core::store::{NewMemory, Session, SessionQuery, StoredMessage};

use super::replay_model::{Answer, Script};
use super::replay_record::{RecordedTurn, write_fixture};
use super::replay_report::{compare, turn_text, when};
use super::replay_world::{Seed, Seen, Speaker, World};
use super::scratch::SeedMessage;
use crate::cli::ReplayArgs;

/// A stored user message and the reply the store recorded after it.
struct StoredTurn<'a> {
    message: &'a StoredMessage,
    recorded: &'a str,
}

/// How many turns were replayed, and how many changed.
#[derive(Default)]
struct Tally {
    turns: usize,
    changed: usize,
}

pub async fn run(root: &Path, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let baseline = match &args.against {
        Some(dir) => match super::load_or_report(dir) {
            Some(set) => Some(Arc::new(set)),
            None => return Ok(ExitCode::FAILURE),
        },
        None => None,
    };
    let store_root = match &args.store_root {
        Some(dir) => match super::load_or_report(dir) {
            Some(set) => Some(set),
            None => return Ok(ExitCode::FAILURE),
        },
        None => None,
    };
    if args.live
        && let Err(message) = super::check_secrets(&set, "clara replay --live")
    {
        eprintln!("{message}");
        return Ok(ExitCode::FAILURE);
    }
    let store =
        clara::store::open_default(store_root.as_ref().unwrap_or(&set), Access::ReadOnly).await?;
    let query = SessionQuery {
        user_id: args.user.clone(),
        conversation: args.channel.as_ref().map(|c| format!("channel-{c}")),
        session_id: args.session.clone(),
        since: args.since,
        until: args.until,
        limit: args.limit,
    };
    let sessions = store.find_sessions(&query).await?;
    if sessions.is_empty() {
        println!("no stored session matches");
        return Ok(ExitCode::SUCCESS);
    }
    if args.record.is_some() && sessions.len() > 1 {
        eprintln!(
            "--record writes one conversation, and {} sessions match: choose one with --session (ids: {})",
            sessions.len(),
            sessions
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    let set = Arc::new(set);
    let live = args
        .live
        .then(|| clara::llm::Providers::build(&set.clara.value, &set.env));
    let mut tally = Tally::default();
    for session in &sessions {
        let messages = store.recent_messages(&session.id, u32::MAX).await?;
        let Some(first) = messages.first() else {
            continue;
        };
        let turns = turns_of(&messages);
        let speaker = speaker_of(args, session, &messages);
        println!(
            "session {} · {} in {} · {} · {} turn{}",
            session.id,
            session.user_id,
            session.conversation,
            when(first.created_at),
            turns.len(),
            if turns.len() == 1 { "" } else { "s" }
        );
        let all_memories = store.memories_of(&session.user_id).await?;
        let memories = memories_before(&all_memories, first.created_at);
        let previous_summary = match &session.previous_session_id {
            Some(id) => store.session(id).await?.and_then(|s| s.summary),
            None => None,
        };
        let seed = || Seed {
            memories: memories.clone(),
            previous_summary: previous_summary.as_deref(),
            history: Vec::<SeedMessage<'_>>::new(),
        };
        let root_world =
            World::new(&set, live.as_ref(), &speaker, seed(), first.created_at).await?;
        let base_world = match &baseline {
            Some(base) => Some(World::new(base, None, &speaker, seed(), first.created_at).await?),
            None => None,
        };
        let mut recorded_turns = Vec::new();
        let mut seen_diffs = Vec::new();
        for (index, turn) in turns.iter().enumerate() {
            let at = turn.message.created_at;
            let text = &turn.message.content;
            let base_seen: Option<Seen> = match &base_world {
                Some(world) => Some(
                    world
                        .turn(&speaker, text, at, turn.recorded, Script::Recorded)
                        .await?,
                ),
                None => None,
            };
            let script = match &base_seen {
                Some(base) => Script::SameAs(base.requests.clone()),
                None if args.live => Script::Live,
                None => Script::Recorded,
            };
            let seen = root_world
                .turn(&speaker, text, at, turn.recorded, script)
                .await?;
            let report = compare(
                index + 1,
                base_seen.as_ref(),
                &seen,
                turn.recorded,
                &mut seen_diffs,
            );
            print!(
                "{}",
                turn_text(index + 1, text, &report, base_seen.is_some())
            );
            tally.turns += 1;
            tally.changed += usize::from(report.changed);
            if args.record.is_some() {
                let memory_calls = root_world.memory_work().await?;
                recorded_turns.push(RecordedTurn {
                    say: text.clone(),
                    at,
                    recorded: turn.recorded.to_owned(),
                    answers: seen
                        .answers
                        .iter()
                        .map(|a| match a {
                            Answer::Classifier => String::new(),
                            _ => turn.recorded.to_owned(),
                        })
                        .collect(),
                    memory_calls,
                    tier: seen.tier.clone(),
                });
            }
        }
        if let Some(path) = &args.record {
            let fixture = write_fixture(
                &speaker,
                session,
                &memories,
                previous_summary.as_deref(),
                &recorded_turns,
            );
            std::fs::write(path, fixture)
                .with_context(|| format!("cannot write the fixture to {}", path.display()))?;
            println!(
                "wrote {} (run it with `clara test {}`)",
                path.display(),
                path.display()
            );
        }
    }
    let against = match &args.against {
        Some(dir) => format!(" against {}", dir.display()),
        None => String::new(),
    };
    println!(
        "{} session{}, {} turn{} replayed{against}{}; the store was only read",
        sessions.len(),
        if sessions.len() == 1 { "" } else { "s" },
        tally.turns,
        if tally.turns == 1 { "" } else { "s" },
        if baseline.is_some() || args.live {
            format!(
                ": {} changed, {} unchanged",
                tally.changed,
                tally.turns - tally.changed
            )
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The session's user messages, each with the assistant's reply that followed it (empty when
/// none was stored).
fn turns_of(messages: &[StoredMessage]) -> Vec<StoredTurn<'_>> {
    messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(at, message)| StoredTurn {
            message,
            recorded: messages[at + 1..]
                .iter()
                .take_while(|m| m.role != Role::User)
                .find(|m| m.role == Role::Assistant)
                .map_or("", |m| m.content.as_str()),
        })
        .collect()
}

/// Who spoke in `session`, and where.
fn speaker_of(args: &ReplayArgs, session: &Session, messages: &[StoredMessage]) -> Speaker {
    let user_name = messages
        .iter()
        .find(|m| m.role == Role::User)
        .and_then(|m| m.author.clone())
        .unwrap_or_else(|| session.user_id.clone());
    let conversation = match session.conversation.strip_prefix("channel-") {
        Some(channel) => Conversation::channel(channel),
        None => Conversation {
            id: session.conversation.clone(),
            ..Conversation::dm(&session.user_id)
        },
    };
    Speaker {
        platform: args.platform.clone(),
        user: session.user_id.clone(),
        user_name,
        conversation,
    }
}

/// The memories the user had when the session began: those stored before it, as they read now.
fn memories_before(memories: &[clara_core::store::Memory], start: i64) -> Vec<NewMemory> {
    memories
        .iter()
        .filter(|m| m.created_at < start)
        .map(|m| NewMemory {
            user_id: m.user_id.clone(),
            project: m.project.clone(),
            text: m.text.clone(),
            is_key: m.is_key,
            embedding: None,
        })
        .collect()
}
