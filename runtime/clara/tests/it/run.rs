//! `clara run` as a process: it starts with MyPalClara's `hooks.yaml` and `scheduler.yaml`
//! unchanged, fires `gateway:startup`, reloads on SIGHUP, and on SIGTERM fires
//! `gateway:shutdown`, lets its hooks finish and exits 0. The shipped hooks run too.

use crate::support;

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

#[allow(unsafe_code)] // the SAFETY comments below say why
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
        started.elapsed() < Duration::from_secs(15),
        "stopping waited for the backlog past its limit: {:?}",
        started.elapsed()
    );
}

/// `clara run` with the open-files limit held at `limit` (soft and hard), its stderr piped.
fn run_with_open_files(root: &Path, limit: u64, extra: &[(&str, &str)]) -> Child {
    run_with_limits(root, limit, limit, extra)
}

/// `clara run` started with these soft and hard open-files limits, its stderr piped.
#[allow(unsafe_code)] // the SAFETY comments below say why
fn run_with_limits(root: &Path, soft: u64, hard: u64, extra: &[(&str, &str)]) -> Child {
    use std::os::unix::process::CommandExt;
    let mut command = support::clara(root);
    command
        .arg("run")
        .env("OPENROUTER_API_KEY", "sk-test")
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("RUST_LOG", "info")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit);
            Ok(())
        });
    }
    command.spawn().unwrap()
}

#[test]
fn a_flood_of_idle_status_connections_cannot_starve_clara_of_files() {
    let root = support::shipped_root();
    let runs = root.path().join("runs");
    std::fs::write(
        root.path().join("hooks/tick.yaml"),
        format!(
            "tasks:\n  - name: tick\n    type: interval\n    interval: 0.1\n    command: 'echo run >> {}'\n",
            runs.display()
        ),
    )
    .unwrap();
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    // Warnings only: nothing reads stderr until clara has stopped.
    let child = run_with_open_files(
        root.path(),
        256,
        &[
            ("CLARA_STATUS__BIND", address.as_str()),
            ("RUST_LOG", "warn"),
        ],
    );
    wait_for("the first task run", || !lines(&runs).is_empty());
    // More idle connections than clara has file descriptors; once its listen queue is full
    // too, a connect just times out.
    let target: std::net::SocketAddr = address.parse().unwrap();
    let flood: Vec<std::net::TcpStream> = (0..400)
        .map_while(|_| {
            std::net::TcpStream::connect_timeout(&target, Duration::from_millis(200)).ok()
        })
        .collect();
    assert!(flood.len() >= 64, "{} connections", flood.len());
    let before = lines(&runs).len();
    wait_for("task runs to go on under the flood", || {
        lines(&runs).len() >= before + 10
    });
    drop(flood);
    // Served again once the flood is gone.
    wait_for("/health to answer", || {
        std::net::TcpStream::connect(&address)
            .and_then(|mut s| {
                use std::io::{Read, Write};
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut answer = String::new();
                s.read_to_string(&mut answer)?;
                Ok(answer.starts_with("HTTP/1.1 200"))
            })
            .unwrap_or(false)
    });
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let all = String::from_utf8_lossy(&output.stderr);
    assert!(!all.contains("Too many open files"), "{all}");
    assert!(!all.contains("unable to open database file"), "{all}");
    assert!(!all.contains("task failed"), "{all}");
}

#[test]
fn a_status_endpoint_open_to_the_network_is_warned_about() {
    let root = support::shipped_root();
    let mut child = run_with_open_files(root.path(), 1024, &[("CLARA_STATUS__BIND", "0.0.0.0:0")]);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("clara is running") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() == 0 {
            panic!("clara exited: {seen}");
        }
        seen.push_str(&line);
    }
    signal(&child, libc::SIGTERM);
    assert!(child.wait().unwrap().success());
    assert!(
        seen.contains("reachable from other machines, and has no authentication"),
        "{seen}"
    );
}

#[test]
fn run_help_says_what_it_starts() {
    let out = support::clara(std::path::Path::new("."))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for what in ["Discord", "DISCORD_BOT_TOKEN", "/health", "[status] bind"] {
        assert!(help.contains(what), "{what}: {help}");
    }
}

#[test]
fn a_status_port_in_use_says_how_to_choose_another() {
    let root = support::shipped_root();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let child = run_with_open_files(root.path(), 1024, &[("CLARA_STATUS__BIND", &bind)]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {bind}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("`bind` under [status]") && stderr.contains("CLARA_STATUS__BIND"),
        "{stderr}"
    );
}

#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let root = support::shipped_root();
    let mut child = run_with_limits(
        root.path(),
        256,
        4096,
        &[("CLARA_STATUS__BIND", "127.0.0.1:0"), ("RUST_LOG", "warn")],
    );
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.contains("clara is running"), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    signal(&child, libc::SIGTERM);
    assert!(child.wait().unwrap().success());
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect::<Vec<_>>();
    assert_eq!(open_files, ["4096", "4096"]);
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let head = std::process::Command::new("git")
        .arg("-C")
        .arg(support::repo_root())
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    assert_eq!(
        version,
        format!("clara {} ({head})\n", env!("CARGO_PKG_VERSION"))
    );
}
