//! `clara validate`: load the whole root and print every problem, or a one-line summary.

use std::path::Path;
use std::process::ExitCode;

use clara_config::{ConfigSet, LoadOptions};

use crate::cli::ValidateArgs;

pub fn run(root: &Path, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    match clara_config::load(
        root,
        LoadOptions {
            offline: args.offline,
        },
    ) {
        Ok(set) => {
            for warning in &set.warnings {
                println!("warning: {warning}");
            }
            println!("{}", summary(&set));
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            for problem in err.problems() {
                println!("{problem}");
            }
            eprintln!("{err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn summary(set: &ConfigSet) -> String {
    let hooks: usize = set.hook_files.values().map(|f| f.value.hooks.len()).sum();
    let tasks: usize = set.hook_files.values().map(|f| f.value.tasks.len()).sum();
    format!(
        "ok: clara.toml, {}, {}, {}, {} and {} in {}",
        count(set.personas.len(), "persona"),
        count(set.pipelines.len(), "pipeline"),
        count(set.tools.len(), "tool"),
        count(hooks, "hook"),
        count(tasks, "task"),
        count(set.hook_files.len(), "hook file"),
    )
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
