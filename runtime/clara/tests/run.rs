//! `clara run` as a process: it starts with MyPalClara's `hooks.yaml` and `scheduler.yaml`
//! unchanged, fires `gateway:startup`, reloads on SIGHUP, and on SIGTERM fires
//! `gateway:shutdown`, lets its hooks finish and exits 0. The shipped hooks run too.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: sends a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn runs_hooks_reloads_on_sighup_and_stops_cleanly_on_sigterm() {
    let root = support::shipped_root();
    let seed = support::fixtures().join("cases/hooks-mypalclara-files-load-unchanged/files/hooks");
    for file in ["hooks.yaml", "scheduler.yaml"] {
        std::fs::copy(seed.join(file), root.path().join("hooks").join(file)).unwrap();
    }
    let events = root.path().join("events");
    let recorder = |event: &str| {
        format!(
            "  - name: record-{name}\n    event: {event}\n    command: 'echo \"$CLARA_EVENT_TYPE\" >> {log}'\n",
            name = event.replace(':', "-"),
            log = events.display()
        )
    };
    std::fs::write(
        root.path().join("hooks/record.yaml"),
        format!(
            "hooks:\n{}{}{}",
            recorder("gateway:startup"),
            recorder("config:reloaded"),
            recorder("gateway:shutdown")
        ),
    )
    .unwrap();

    let mut child = support::clara(root.path())
        .arg("run")
        .env("OPENROUTER_API_KEY", "sk-test")
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_STATUS__BIND", "127.0.0.1:0")
        .env("CLARA_RUNTIME__WATCH", "false")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("gateway:startup", || lines(&events) == ["gateway:startup"]);

    // With watching off, SIGHUP is how an edit gets in.
    support::edit(
        &root.path().join("personas/clara.md"),
        "You are Clara",
        "You are Clara, reloaded",
    );
    signal(&child, libc::SIGHUP);
    wait_for("config:reloaded", || {
        lines(&events) == ["gateway:startup", "config:reloaded"]
    });

    signal(&child, libc::SIGTERM);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "clara did not stop"
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        lines(&events),
        ["gateway:startup", "config:reloaded", "gateway:shutdown"]
    );
    // MyPalClara's own startup hook ran (its `${CLARA_TIMESTAMP}` comes from the environment).
    assert!(
        stderr.contains("hook ran: Gateway started at 20"),
        "{stderr}"
    );
    // Its tasks are planned on their schedules.
    assert!(stderr.contains("task=\"daily-backup\""), "{stderr}");
    assert!(stderr.contains("task=\"cleanup-sessions\""), "{stderr}");
}

#[test]
fn the_shipped_hooks_run() {
    let root = support::shipped_root();
    let mut child = support::clara(root.path())
        .arg("run")
        .env("OPENROUTER_API_KEY", "sk-test")
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_STATUS__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("CLARA_RUNTIME__NODE_ID", "test-node")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let started = Instant::now();
    while !seen.contains("hook ran: clara started at") {
        assert!(started.elapsed() < Duration::from_secs(20), "{seen}");
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() == 0 {
            panic!("clara exited: {seen}");
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("on test-node"), "{seen}");
    signal(&child, libc::SIGTERM);
    assert!(child.wait().unwrap().success());
}

/// Seconds since the epoch, as `date +%s.%N` prints them.
fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn once_stopping_begins_no_task_starts_and_the_shutdown_hook_runs_despite_a_backlog() {
    let root = support::shipped_root();
    let runs = root.path().join("runs");
    let stopped = root.path().join("stopped");
    // A task every 100 ms, each run firing a slow hook: the hooks fall behind at once.
    std::fs::write(
        root.path().join("hooks/busy.yaml"),
        format!(
            "tasks:\n  - name: tick\n    type: interval\n    interval: 0.1\n    command: 'date +%s.%N >> {runs}'\n\
             hooks:\n  - name: slow\n    event: scheduler:task_run\n    command: sleep 3\n\
             \x20 - name: bye\n    event: gateway:shutdown\n    command: 'echo \"$CLARA_REASON\" > {stopped}'\n",
            runs = runs.display(),
            stopped = stopped.display()
        ),
    )
    .unwrap();
    let mut child = support::clara(root.path())
        .arg("run")
        .env("OPENROUTER_API_KEY", "sk-test")
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_STATUS__BIND", "127.0.0.1:0")
        .env("CLARA_RUNTIME__HOOK_CONCURRENCY", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a backlog of task runs", || lines(&runs).len() >= 8);
    let signalled = now_secs();
    signal(&child, libc::SIGTERM);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "clara did not stop"
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&stopped).unwrap_or_default().trim(),
        "terminate",
        "the shutdown hook ran ahead of the backlog"
    );
    // A run that had already started may finish a moment after the signal; none starts later.
    let late: Vec<f64> = lines(&runs)
        .iter()
        .filter_map(|l| l.parse().ok())
        .filter(|at| *at > signalled + 0.05)
        .collect();
    assert!(late.is_empty(), "task runs started after SIGTERM: {late:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopping waited for the backlog: {:?}",
        started.elapsed()
    );
}
