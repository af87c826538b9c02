//! `cargo bench -p clara --bench fixtures`: how long `clara test` takes for 100 fixture turns
//! (each a model call and the memory work after it) on the shipped root, as a user runs it:
//! the real binary, start-up and config loading included. `cargo test -p clara --bench
//! fixtures` runs it once.

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

const TURNS: usize = 100;

/// A fixture of `TURNS` turns, each answered and checked.
fn hundred_turns() -> String {
    let mut text = String::from("name = \"a hundred turns\"\nuser = \"ann\"\n");
    for i in 0..TURNS {
        text.push_str(&format!(
            "[[turns]]\nsay = \"message {i} about the garden\"\nmodel = [{{ reply = \"Noted {i}.\" }}, {{ reply = '{{\"facts\": []}}' }}]\n[turns.expect]\nreply = \"Noted {i}.\"\nmodel_calls = 2\nprompt_contains = [\"You are Clara\"]\n"
        ));
    }
    text
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 20 };
    let root = support::shipped_root();
    std::fs::create_dir_all(root.path().join("tests")).unwrap();
    std::fs::write(root.path().join("tests/hundred.toml"), hundred_turns()).unwrap();
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .arg("--root")
            .arg(root.path())
            .arg("test")
            .output()
            .unwrap();
        times.push(started.elapsed());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("1 case: 1 passed"), "{stdout}");
    }
    let p50 = support::percentile(&mut times, 0.5);
    let max = support::percentile(&mut times, 1.0);
    println!(
        "clara test, {TURNS} fixture turns ({runs} runs): p50 {p50:.2?} (max {max:.2?}), {:.2?} a turn",
        p50 / TURNS as u32
    );
}
