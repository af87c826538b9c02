//! `clara validate`: load the whole root and print every problem, then whether `clara chat`
//! and `clara run` have what they need from the environment.

use std::path::Path;
use std::process::ExitCode;

use clara_config::{ConfigSet, MissingSecret};

use crate::cli::{Target, ValidateArgs};

pub fn run(root: &Path, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let set = match clara_config::load(root) {
        Ok(set) => set,
        Err(err) => {
            for problem in err.problems() {
                println!("{problem}");
            }
            eprintln!("{err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &set.warnings {
        println!("warning: {warning}");
    }
    // Fixtures never stop a running clara, but they are files of the root like any other.
    let (fixtures, problems) = clara_config::load_fixtures(&set);
    if !problems.is_empty() {
        for problem in &problems {
            println!("{problem}");
        }
        eprintln!(
            "{} in the fixtures of {}/",
            super::count(problems.len(), "problem"),
            clara_config::fixtures::TESTS_DIR
        );
        return Ok(ExitCode::FAILURE);
    }
    let summary = match fixtures.len() {
        0 => summary(&set),
        n => format!("{}, {}", summary(&set), super::count(n, "fixture")),
    };
    let missing = if args.offline {
        Vec::new()
    } else {
        set.missing_secrets()
    };
    if missing.is_empty() {
        println!("ok: {summary}");
        return Ok(ExitCode::SUCCESS);
    }
    for secret in &missing {
        println!("{}", secret.problem);
    }
    println!("the files are valid: {summary}");
    let chat = verdict(&missing, Target::Chat);
    let run = verdict(&missing, Target::Run);
    let ready = match args.target {
        Some(Target::Chat) => chat,
        Some(Target::Run) => run,
        None => chat || run,
    };
    Ok(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints what `target` still needs and returns whether it has everything.
fn verdict(missing: &[MissingSecret], target: Target) -> bool {
    let needed: Vec<&MissingSecret> = missing
        .iter()
        .filter(|m| target == Target::Run || !m.run_only)
        .collect();
    let name = target.command();
    if needed.is_empty() {
        println!("{name}: ready");
        return true;
    }
    let vars: Vec<&str> = needed.iter().map(|m| m.var.as_str()).collect();
    let instead: Vec<&str> = needed.iter().filter_map(|m| m.instead.as_deref()).collect();
    let instead = if instead.is_empty() {
        String::new()
    } else {
        format!(" (or {})", instead.join("; or "))
    };
    println!("{name}: needs {}{instead}", vars.join(", "));
    false
}

fn summary(set: &ConfigSet) -> String {
    let hooks: usize = set.hook_files.values().map(|f| f.value.hooks.len()).sum();
    let tasks: usize = set.hook_files.values().map(|f| f.value.tasks.len()).sum();
    let presets = match set.email_presets.len() {
        0 => String::new(),
        n => format!(", {}", super::count(n, "email preset")),
    };
    format!(
        "clara.toml, {}, {}, {}, {} and {} in {}{presets}",
        super::count(set.personas.len(), "persona"),
        super::count(set.pipelines.len(), "pipeline"),
        super::count(set.tools.len(), "tool"),
        super::count(hooks, "hook"),
        super::count(tasks, "task"),
        super::count(set.hook_files.len(), "hook file"),
    )
}
