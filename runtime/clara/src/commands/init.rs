//! `clara init [DIR] [--from-env FILE]`: writes the shipped root (embedded in the binary) to a
//! folder, optionally with a MyPalClara `.env`'s settings carried into the files, and says
//! what to do next.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clara_config::Env;
use clara_config::mypalclara::{self, Carried, Conversion};
use serde_json::Value;
use toml_edit::{DocumentMut, Item, Table};

use crate::cli::InitArgs;

mod shipped {
    include!(concat!(env!("OUT_DIR"), "/shipped.rs"));
}

pub fn run(root: &Path, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.as_deref().unwrap_or(root);
    if dir.join("clara.toml").exists() {
        eprintln!(
            "{} already holds a clara root (clara.toml); nothing was written",
            dir.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    // Read the old settings before writing anything, so a bad file leaves no half-made root.
    let conversion = match &args.from_env {
        Some(file) => match Env::from_dotenv(file) {
            Ok(env) => Some(mypalclara::convert(&env)),
            Err(problems) => {
                for problem in problems {
                    eprintln!("{problem}");
                }
                return Ok(ExitCode::FAILURE);
            }
        },
        None => None,
    };
    let kept = write_shipped(dir)?;
    println!("wrote a clara root to {}", dir.display());
    for file in &kept {
        println!("  kept your {file}");
    }
    if let (Some(conversion), Some(file)) = (&conversion, &args.from_env) {
        carry_over(dir, file, conversion)?;
    }
    next_steps(dir)
}

/// Writes every shipped file that is not there yet; returns the ones left as they were.
fn write_shipped(dir: &Path) -> anyhow::Result<Vec<&'static str>> {
    let mut kept = Vec::new();
    for (rel, bytes, executable) in shipped::SHIPPED {
        let path = dir.join(rel);
        if path.exists() {
            kept.push(*rel);
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        if *executable {
            set_mode(&path, 0o755)?;
        }
    }
    Ok(kept)
}

/// Sets a file's permission bits (a script stays executable, a file of secrets private).
#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the permissions of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> anyhow::Result<()> {
    Ok(())
}

/// Sets each carried value in its file (comments and layout kept) and puts the old `.env`
/// beside them, since clara reads the same key names.
fn carry_over(dir: &Path, from: &Path, conversion: &Conversion) -> anyhow::Result<()> {
    let mut files: Vec<&str> = conversion.carried.iter().map(|c| c.file).collect();
    files.dedup();
    for file in files {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut doc: DocumentMut = text
            .parse()
            .with_context(|| format!("{} is not TOML", path.display()))?;
        for item in conversion.carried.iter().filter(|c| c.file == file) {
            set(doc.as_table_mut(), item);
        }
        std::fs::write(&path, doc.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("from {}:", from.display());
    for item in &conversion.carried {
        println!(
            "  {:<26} {} {} = {}",
            item.from,
            item.file,
            item.path.join("."),
            item.value
        );
    }
    for (var, why) in &conversion.not_carried {
        println!("  {var:<26} not carried over: {why}");
    }
    let dotenv = dir.join(".env");
    if dotenv.exists() {
        println!(
            "  kept your .env; the keys in {} are not copied",
            from.display()
        );
    } else {
        copy_private(from, &dotenv)
            .with_context(|| format!("cannot copy {} to {}", from.display(), dotenv.display()))?;
        println!("  copied it to .env (the keys keep their names)");
    }
    Ok(())
}

/// Copies a file of secrets so that only the owner can read the copy, from its first byte.
fn copy_private(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut copy = options.open(to)?;
    std::io::copy(&mut std::fs::File::open(from)?, &mut copy)?;
    Ok(())
}

/// Sets one value, making the tables on its way: a section at the top of the file, inline
/// tables inside one (a provider's `headers_env`).
fn set(table: &mut Table, item: &Carried) {
    let (last, parents) = item.path.split_last().expect("a path has a key");
    let mut here: &mut dyn toml_edit::TableLike = table;
    for (depth, key) in parents.iter().enumerate() {
        if here.get(key).is_none() {
            let fresh = if depth == 0 {
                Item::Table(Table::new())
            } else {
                Item::Value(toml_edit::Value::InlineTable(toml_edit::InlineTable::new()))
            };
            here.insert(key, fresh);
        }
        here = here
            .get_mut(key)
            .and_then(Item::as_table_like_mut)
            .expect("a table on the way");
    }
    // A store that moves to Postgres has no file path any more.
    if item.path == ["stores", "main", "type"] && item.value == "postgres" {
        here.remove("path");
    }
    let mut value = toml_value(&item.value);
    match here.get_mut(last) {
        // In place, so the comment above the key and the spacing around `=` stay.
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        _ => {
            here.insert(last, Item::Value(value));
        }
    }
}

fn toml_value(value: &Value) -> toml_edit::Value {
    match value {
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => n.as_i64().unwrap_or_default().into(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<toml_edit::Array>()
            .into(),
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

/// Loads the new root and says what it still needs and which command to run.
fn next_steps(dir: &Path) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(dir) else {
        return Ok(ExitCode::FAILURE);
    };
    // The commands printed are run from the current folder, so any other root is named.
    let flag = if dir == Path::new(".") {
        String::new()
    } else {
        format!(" --root {}", shell_word(&dir.display().to_string()))
    };
    let missing: Vec<_> = set
        .missing_secrets()
        .into_iter()
        .filter(|m| !m.run_only)
        .collect();
    println!();
    if missing.is_empty() {
        println!("next: clara chat{flag}");
    } else {
        let mut vars: Vec<&str> = missing.iter().map(|m| m.var.as_str()).collect();
        vars.dedup();
        println!(
            "next: set {} in {} (see `clara validate{flag}` for what needs what, and the README's \"Choosing a model provider\" for Anthropic or a local server), then: clara chat{flag}",
            vars.join(", "),
            dir.join(".env").display()
        );
    }
    if set.clara.value.adapters.discord.enabled {
        println!("for Discord: clara run{flag} (with DISCORD_BOT_TOKEN set)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `word` as one word for a POSIX shell: as it is when it is plain, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-~+,:@".contains(c));
    if plain && !word.is_empty() {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
