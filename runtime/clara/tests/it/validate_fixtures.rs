//! `clara validate` against fixture roots: each case overlays a few files on a valid base root
//! and must print exactly its `expected` lines (and exit 1, or 0 when they end in an `ok:`
//! line, after any warnings).
//!
//! A case folder holds `files/` (copied over the base; an empty file named `NAME.remove`
//! deletes `NAME`), `expected` (the exact stdout), and optionally `env` (`KEY=VALUE` lines,
//! the only variables besides PATH the run sees), `args` (default `--offline`) and `exit` (the
//! exit code, when the rule above does not give it).

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{base_root, clara, copy_tree, fixtures};

struct Outcome {
    stdout: String,
    code: i32,
}

fn run_case(case: &Path) -> Outcome {
    let root = base_root();
    if case.join("files").is_dir() {
        copy_tree(&case.join("files"), root.path());
    }
    let args = fs::read_to_string(case.join("args")).unwrap_or_else(|_| "--offline".to_owned());
    let mut command = clara(root.path());
    command.arg("validate").args(args.split_whitespace());
    if let Ok(env) = fs::read_to_string(case.join("env")) {
        for line in env.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once('=').expect("env lines are KEY=VALUE");
            command.env(key, value);
        }
    }
    let output = command.output().expect("clara runs");
    Outcome {
        stdout: String::from_utf8(output.stdout).unwrap(),
        code: output.status.code().unwrap_or(-1),
    }
}

#[test]
fn the_base_root_is_valid() {
    let outcome = run_case(&fixtures().join("cases/does-not-exist"));
    assert_eq!(
        outcome.code, 0,
        "base root must validate:\n{}",
        outcome.stdout
    );
    assert!(outcome.stdout.starts_with("ok: "), "{}", outcome.stdout);
}

#[test]
fn every_case_prints_exactly_its_expected_problems() {
    let mut cases: Vec<PathBuf> = fs::read_dir(fixtures().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "only {} fixture cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expected = fs::read_to_string(case.join("expected"))
            .unwrap_or_else(|_| panic!("{} has no expected file", case.display()));
        // Clean (warnings allowed) when the summary line closes the output.
        let clean = expected
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("ok: "));
        let expected_code = match fs::read_to_string(case.join("exit")) {
            Ok(code) => code.trim().parse().expect("`exit` holds a number"),
            Err(_) if clean => 0,
            Err(_) => 1,
        };
        let outcome = run_case(case);
        if outcome.stdout != expected || outcome.code != expected_code {
            failures.push(format!(
                "── {} (exit {}, expected {expected_code})\n   expected:\n{}   got:\n{}",
                case.file_name().unwrap().to_string_lossy(),
                outcome.code,
                indent(&expected),
                indent(&outcome.stdout)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}
