//! `clara import mypalclara`: reads a MyPalClara installation (its database and its memory
//! store), says what it found, and (unless `--dry-run`) brings it into the default store.

use std::path::Path;
use std::process::ExitCode;

use clara::import::{Database, Found, Options, Summary, import, memories_from_json};
use clara::store::Access;

use super::progress::Progress;
use crate::cli::{ImportArgs, ImportFrom};

pub async fn run(root: &Path, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportFrom::Mypalclara {
        db,
        db_env,
        memories,
        memories_env,
        collection,
        dry_run,
        source,
    } = &args.from;
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let from_env = |var: &String| {
        set.env
            .get(var)
            .map(str::to_owned)
            .ok_or_else(|| format!("the variable `{var}` is not set"))
    };
    let outcome = async {
        let db = match (db, db_env) {
            (Some(db), _) => db.clone(),
            (None, Some(var)) => from_env(var)?,
            (None, None) => return Err("say where MyPalClara's database is: --db".to_owned()),
        };
        let memories = match (memories, memories_env) {
            (Some(m), _) => Some(m.clone()),
            (None, Some(var)) => Some(from_env(var)?),
            (None, None) => None,
        };
        eprintln!("reading MyPalClara's database…");
        let mut database = Database::open(&db).await?;
        let read = database.read().await?;
        database.close().await;
        let points = match memories.as_deref() {
            None => Vec::new(),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let mut store = Database::open(url).await?;
                let points = store.memories(collection).await?;
                store.close().await;
                points
            }
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read {file}: {e}"))?;
                memories_from_json(&text).map_err(|why| format!("{file}: {why}"))?
            }
        };
        let found = Found {
            read,
            memories: points,
        };
        let store = clara::store::open_default(&set, Access::ReadWrite)
            .await
            .map_err(|e| e.to_string())?;
        let embedder = clara::llm::Providers::build(&set.clara.value, &set.env).embedder();
        let model = embedder.as_ref().map(|e| e.model().to_owned());
        let dimensions = embedder.as_ref().map_or(0, |e| e.dimensions());
        let options = Options {
            source,
            dry_run: *dry_run,
            embedding: model.as_deref().map(|m| (m, dimensions)),
        };
        let progress = Progress::records();
        let total = found.total();
        let summary = import(store.as_ref(), &found, &options, &|done| {
            progress.update("import", done, total);
        })
        .await;
        progress.finish();
        summary.map(|s| (s, model))
    }
    .await;
    Ok(match outcome {
        Ok((summary, model)) => {
            print!("{}", report(&summary, *dry_run, model.as_deref()));
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    })
}

fn report(summary: &Summary, dry_run: bool, model: Option<&str>) -> String {
    let verb = if dry_run { "would import" } else { "imported" };
    let mut text = format!(
        "{verb} {} sessions, {} messages and {} memories of {} users ({} already here)\n",
        summary.sessions, summary.messages, summary.memories, summary.users, summary.already
    );
    if summary.memories > 0 {
        let rest = summary.memories - summary.vectors_kept;
        match model {
            Some(model) if rest > 0 => text.push_str(&format!(
                "{rest} memories get new embeddings from {model} when clara runs\n"
            )),
            None => text.push_str(
                "memory search uses full text until embeddings are configured ([memory.embeddings])\n",
            ),
            _ => {}
        }
    }
    for (why, n) in &summary.left_out {
        text.push_str(&format!("left out: {n} {why}\n"));
    }
    if dry_run {
        text.push_str("nothing was written (--dry-run)\n");
    }
    text
}
