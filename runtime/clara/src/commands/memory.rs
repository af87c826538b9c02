//! `clara memory`: an operator's view of long-term memory, in the default store directly (a
//! running clara keeps serving): who has memories, a user's memories, search as the engine
//! searches, one memory with its history, forgetting, export and import as JSON Lines, and
//! clearing a user's (or everyone's) after a yes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clara::store::Access;
use clara_config::ConfigSet;
use clara_core::engine::embed_one;
use clara_core::store::{Memory, MemoryEvent, MemoryQuery, Millis, Store};

use super::memory_lines::{self, MemoryLine};
use crate::cli::{MemoryArgs, MemoryCommand};

pub async fn run(root: &Path, args: &MemoryArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let reads_only = matches!(
        args.command,
        MemoryCommand::List { .. }
            | MemoryCommand::Search { .. }
            | MemoryCommand::Show { .. }
            | MemoryCommand::Export { .. }
    );
    let access = if reads_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let store = clara::store::open_default(&set, access).await?;
    let outcome = match &args.command {
        MemoryCommand::List { user, key } => list(store.as_ref(), user.as_deref(), *key).await,
        MemoryCommand::Search { user, limit, query } => {
            search(&set, store.as_ref(), user, &query.join(" "), *limit).await
        }
        MemoryCommand::Show { id } => show(store.as_ref(), id).await,
        MemoryCommand::Forget { id } => forget(store.as_ref(), id).await,
        MemoryCommand::Export { user, all, out } => {
            export(store.as_ref(), user.as_deref(), *all, out.as_deref()).await
        }
        MemoryCommand::Import { file, user } => import(&store, file, user.as_deref()).await,
        MemoryCommand::Clear { user, all, yes } => {
            clear(store.as_ref(), user.as_deref(), *all, *yes).await
        }
    };
    Ok(match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    })
}

type Outcome = Result<(), String>;

async fn list(store: &dyn Store, user: Option<&str>, key_only: bool) -> Outcome {
    let Some(user) = user else {
        let users = store.memory_users().await.map_err(|e| e.to_string())?;
        if users.is_empty() {
            println!("no memories");
        }
        for (user, count) in users {
            println!("{user}  {count} memories");
        }
        return Ok(());
    };
    let memories = store.memories_of(user).await.map_err(|e| e.to_string())?;
    let shown: Vec<&Memory> = memories.iter().filter(|m| m.is_key || !key_only).collect();
    if shown.is_empty() {
        println!("no memories of {user}");
    }
    for memory in shown {
        println!("{}", line(memory));
    }
    Ok(())
}

async fn search(set: &ConfigSet, store: &dyn Store, user: &str, text: &str, limit: u32) -> Outcome {
    let memory = &set.clara.value.memory;
    let embedder = clara::llm::Providers::build(&set.clara.value, &set.env).embedder();
    let embedding = embed_one(embedder.as_deref(), text).await;
    let query = MemoryQuery {
        user_id: user,
        project: None,
        text,
        embedding: embedding
            .as_ref()
            .map(|(model, vector)| (model.as_str(), vector.as_slice())),
        limit,
        candidates: memory.search_candidates,
        rrf_k: memory.rrf_k,
    };
    let found = store
        .search_memories(&query)
        .await
        .map_err(|e| e.to_string())?;
    if found.is_empty() {
        println!("nothing found in the memories of {user}");
    }
    for scored in found {
        println!("{:.3}  {}", scored.score, line(&scored.memory));
    }
    Ok(())
}

async fn show(store: &dyn Store, id: &str) -> Outcome {
    let memory = store.memory(id).await.map_err(|e| e.to_string())?;
    let history = store.memory_history(id).await.map_err(|e| e.to_string())?;
    if memory.is_none() && history.is_empty() {
        return Err(format!("there is no memory `{id}`"));
    }
    match &memory {
        Some(m) => {
            println!("{}", m.text);
            println!("id: {}", m.id);
            println!("user: {}", m.user_id);
            if let Some(project) = &m.project {
                println!("project: {project}");
            }
            println!("key: {}", if m.is_key { "yes" } else { "no" });
            println!("stored: {}", super::when(m.created_at));
            println!("changed: {}", super::when(m.updated_at));
        }
        None => println!("{id} was forgotten"),
    }
    println!("history:");
    for change in history {
        let what = match change.event {
            MemoryEvent::Add => format!("added: {}", change.new_text.unwrap_or_default()),
            MemoryEvent::Update => format!(
                "changed from: {} / to: {}",
                change.old_text.unwrap_or_default(),
                change.new_text.unwrap_or_default()
            ),
            MemoryEvent::Delete => format!("forgotten: {}", change.old_text.unwrap_or_default()),
        };
        println!("  {}  {}", super::when(change.created_at), one_line(&what));
    }
    Ok(())
}

async fn forget(store: &dyn Store, id: &str) -> Outcome {
    let memory = store
        .memory(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no memory `{id}`"))?;
    store
        .delete_memory(id, now())
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "forgot {id} of {}: {}",
        memory.user_id,
        one_line(&memory.text)
    );
    Ok(())
}

/// The users `user` or `all` names: one, or every user with memories.
async fn users(store: &dyn Store, user: Option<&str>, all: bool) -> Result<Vec<String>, String> {
    match (user, all) {
        (Some(user), _) => Ok(vec![user.to_owned()]),
        (None, true) => Ok(store
            .memory_users()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(user, _)| user)
            .collect()),
        (None, false) => Err("say whose memories: --user ID, or --all".to_owned()),
    }
}

async fn export(store: &dyn Store, user: Option<&str>, all: bool, out: Option<&Path>) -> Outcome {
    let mut text = String::new();
    let mut count = 0;
    for user in users(store, user, all).await? {
        for memory in store.memories_of(&user).await.map_err(|e| e.to_string())? {
            let line = serde_json::to_string(&MemoryLine::from(&memory))
                .expect("a memory line serializes");
            text.push_str(&line);
            text.push('\n');
            count += 1;
        }
    }
    match out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("wrote {count} memories to {}", path.display());
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())?,
    }
    Ok(())
}

async fn import(store: &Arc<dyn Store>, file: &Path, user: Option<&str>) -> Outcome {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?
    };
    // Every line is read before any is stored: a bad line stores nothing.
    let lines = memory_lines::parse(&text).map_err(|why| format!("{}: {why}", file.display()))?;
    let mut known: std::collections::HashMap<String, Vec<String>> = Default::default();
    let (mut added, mut skipped) = (0, 0);
    for line in &lines {
        let new = line.to_new(user);
        if !known.contains_key(&new.user_id) {
            let texts = store
                .memories_of(&new.user_id)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|m| m.text)
                .collect();
            known.insert(new.user_id.clone(), texts);
        }
        let texts = known.get_mut(&new.user_id).expect("just filled");
        if texts.contains(&new.text) {
            skipped += 1;
            continue;
        }
        texts.push(new.text.clone());
        let at = line.created_at.unwrap_or_else(now);
        store
            .add_memory(new, at)
            .await
            .map_err(|e| format!("after {added} memories were stored: {e}"))?;
        added += 1;
    }
    println!("imported {added} memories ({skipped} already there)");
    Ok(())
}

async fn clear(store: &dyn Store, user: Option<&str>, all: bool, yes: bool) -> Outcome {
    let users = users(store, user, all).await?;
    let mut memories = Vec::new();
    for user in &users {
        memories.extend(store.memories_of(user).await.map_err(|e| e.to_string())?);
    }
    if memories.is_empty() {
        println!("no memories to forget");
        return Ok(());
    }
    let whose = match (all, users.as_slice()) {
        (false, [user]) => format!("of {user}"),
        _ => format!("of {} users", users.len()),
    };
    if !yes && !confirmed(&format!("Forget {} memories {whose}?", memories.len()))? {
        return Err("nothing was forgotten".to_owned());
    }
    let at = now();
    for memory in &memories {
        store
            .delete_memory(&memory.id, at)
            .await
            .map_err(|e| e.to_string())?;
    }
    println!("forgot {} memories {whose}", memories.len());
    Ok(())
}

/// Asks `question` on the terminal; without one, says how to confirm instead.
fn confirmed(question: &str) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{question} Add --yes to confirm (stdin is not a terminal to ask on)"
        ));
    }
    eprint!("{question} Type yes to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(matches!(answer.trim(), "yes" | "y"))
}

/// A memory on one line: id, key mark, project, date and text.
fn line(memory: &Memory) -> String {
    let key = if memory.is_key { "key " } else { "" };
    let project = memory
        .project
        .as_deref()
        .map(|p| format!("[{p}] "))
        .unwrap_or_default();
    format!(
        "{}  {key}{project}{}  {}",
        memory.id,
        day(memory.updated_at),
        one_line(&memory.text)
    )
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn now() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

fn day(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
