//! `clara test`: runs the root's conversation fixtures (`tests/`) through the real engine
//! with a scripted model (or a cassette's recorded answers), side by side, and reports each
//! case; exit 1 when any fails. `--record-cassettes` records cassettes from the real providers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clara_config::model::fixture::Fixture;
use clara_config::{Loaded, load_fixtures};

use super::test_case::{CaseResult, run_case};
use super::test_report::{case_text, junit};
use super::test_snapshot::Snapshots;
use crate::cli::TestArgs;

pub async fn run(root: &Path, args: &TestArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let (fixtures, problems) = load_fixtures(&set);
    for problem in &problems {
        eprintln!("{problem}");
    }
    let wanted = wanted_paths(&args.paths)?;
    let chosen: Vec<Loaded<Fixture>> = fixtures
        .into_values()
        .filter(|f| {
            let name = f.value.name.as_deref().unwrap_or(&f.name);
            args.filter
                .as_ref()
                .is_none_or(|part| name.contains(part.as_str()))
        })
        .filter(|f| wanted.is_empty() || chosen_by(&set.root.join(&f.source.rel), &wanted))
        .collect();
    if chosen.is_empty() && problems.is_empty() {
        println!(
            "no fixtures to run in {}/ (see the README's `clara test` section for an example)",
            clara_config::fixtures::TESTS_DIR
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Recording asks the real providers: their keys must be there.
    if args.record_cassettes
        && let Err(message) = super::check_secrets(&set, "clara test --record-cassettes")
    {
        eprintln!("{message}");
        return Ok(ExitCode::FAILURE);
    }
    let live = args
        .record_cassettes
        .then(|| Arc::new(clara::llm::Providers::build(&set.clara.value, &set.env)));
    let started = Instant::now();
    let snapshots = Arc::new(Snapshots::new(&set.root, args.update));
    let set = Arc::new(set);
    let handles: Vec<_> = chosen
        .into_iter()
        .map(|fixture| {
            let set = set.clone();
            let snapshots = snapshots.clone();
            let live = live.clone();
            tokio::spawn(async move { run_case(&set, &fixture, &snapshots, live.as_deref()).await })
        })
        .collect();
    let mut cases: Vec<CaseResult> = Vec::with_capacity(handles.len());
    for handle in handles {
        cases.push(handle.await.context("a test case stopped unexpectedly")?);
    }
    for case in &cases {
        print!("{}", case_text(case));
        for rel in &case.written {
            println!("      wrote {rel}");
        }
    }
    let failed = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let invalid = problems.len();
    println!(
        "{} case{}: {} passed, {failed} failed{} ({:.2} s)",
        cases.len(),
        if cases.len() == 1 { "" } else { "s" },
        cases.len() - failed,
        match invalid {
            0 => String::new(),
            n => format!(
                ", {n} problem{} in fixture files",
                if n == 1 { "" } else { "s" }
            ),
        },
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&cases))
            .with_context(|| format!("cannot write the JUnit report to {}", path.display()))?;
    }
    Ok(if failed == 0 && invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The paths asked for, made absolute, so they compare with fixtures' paths.
fn wanted_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    paths
        .iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .with_context(|| format!("no such fixture file or folder: {}", p.display()))
        })
        .collect()
}

/// Whether the fixture at `path` is one of `wanted` or lies in one of them.
fn chosen_by(path: &Path, wanted: &[PathBuf]) -> bool {
    std::fs::canonicalize(path).is_ok_and(|path| wanted.iter().any(|w| path.starts_with(w)))
}
