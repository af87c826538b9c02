//! The scheduler against a real store: a task runs when due and never overlaps itself, a
//! restart neither repeats nor forgets a run, runs missed while down follow the task's policy,
//! and `scheduler:task_run` / `scheduler:task_error` fire (seen here through hooks).

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clara::app::{App, Features};
use clara_config::Env;
use clara_core::engine::SystemClock;

async fn app(root: &Path) -> App {
    let vars = [
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_RUNTIME__WATCH", "false"),
    ];
    let features = Features {
        scheduler: true,
        jobs: false,
        adapters: false,
        connections: false,
    };
    App::start(
        support::loader(root, &vars),
        Arc::new(SystemClock),
        features,
    )
    .await
    .unwrap()
}

fn write_tasks(root: &Path, yaml: &str) {
    std::fs::write(root.join("hooks/tasks.yaml"), yaml).unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_never_overlaps_itself() {
    let root = support::shipped_root();
    let log = root.path().join("log");
    write_tasks(
        root.path(),
        &format!(
            "tasks:\n  - name: slow\n    type: interval\n    interval: 0.1\n    delay: 0.05\n    command: 'echo start >> {log}; sleep 0.4; echo end >> {log}'\n",
            log = log.display()
        ),
    );
    let app = app(root.path()).await;
    until("three runs", Duration::from_secs(10), || {
        lines(&log).iter().filter(|l| *l == "end").count() >= 3
    })
    .await;
    app.shutdown("test").await;
    let log = lines(&log);
    for pair in log.chunks(2) {
        assert!(
            pair[0] == "start" && pair.get(1).is_none_or(|l| l == "end"),
            "overlap: {log:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_does_not_repeat_a_run() {
    let root = support::shipped_root();
    let log = root.path().join("log");
    let run_at = (chrono::Utc::now() + chrono::Duration::milliseconds(500)).to_rfc3339();
    // `run_once`: a one-shot whose time passed while clara was down still runs, so only the
    // stored run keeps the restart from running it again.
    write_tasks(
        root.path(),
        &format!(
            "tasks:\n  - name: once\n    type: one_shot\n    run_at: \"{run_at}\"\n    missed: run_once\n    command: 'echo once >> {log}'\n",
            log = log.display()
        ),
    );
    let first = app(root.path()).await;
    until("it ran", Duration::from_secs(10), || lines(&log).len() == 1).await;
    first.shutdown("test").await;

    let second = app(root.path()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    second.shutdown("test").await;
    assert_eq!(lines(&log), ["once"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_sharing_a_database_run_each_due_time_once() {
    let root = support::shipped_root();
    let log = root.path().join("log");
    write_tasks(
        root.path(),
        &format!(
            "tasks:\n  - name: tick\n    type: interval\n    interval: 0.2\n    command: 'echo \"$CLARA_DUE_AT\" >> {log}'\n",
            log = log.display()
        ),
    );
    let (one, two) = tokio::join!(app(root.path()), app(root.path()));
    until("several runs", Duration::from_secs(10), || {
        lines(&log).len() >= 6
    })
    .await;
    tokio::join!(one.shutdown("test"), two.shutdown("test"));
    let runs = lines(&log);
    let mut unique = runs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), runs.len(), "a due time ran twice: {runs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_missed_while_down_follow_the_tasks_policy() {
    let root = support::shipped_root();
    let log = root.path().join("log");
    let task = |name: &str, missed: &str| {
        format!(
            "  - name: {name}\n    type: interval\n    interval: 60\n    missed: {missed}\n    command: 'echo {name} >> {log}'\n",
            log = log.display()
        )
    };
    write_tasks(
        root.path(),
        &format!(
            "tasks:\n{}{}",
            task("catch-up", "run_once"),
            task("skip-it", "skip")
        ),
    );
    // Both last ran five minutes ago: four runs each were missed while clara was down.
    let set = clara_config::load_with_env(
        root.path(),
        Env::from_vars([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]),
    )
    .unwrap();
    let store = clara::store::open_default(&set, clara::store::Access::ReadWrite)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    for name in ["catch-up", "skip-it"] {
        let due = now - 300_000;
        assert!(
            store
                .claim_task_run(name, due, due, due + 1_000, "old")
                .await
                .unwrap()
        );
        store
            .finish_task_run(name, "old", due + 10, None)
            .await
            .unwrap();
    }
    drop(store);

    let app = app(root.path()).await;
    until("the catch-up run", Duration::from_secs(10), || {
        !lines(&log).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.shutdown("test").await;
    assert_eq!(
        lines(&log),
        ["catch-up"],
        "one catch-up run, and nothing for `skip`"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn task_events_fire_and_reach_hooks() {
    let root = support::shipped_root();
    let log = root.path().join("log");
    write_tasks(
        root.path(),
        &format!(
            "tasks:\n  - name: fails\n    type: one_shot\n    delay: 0.1\n    command: 'exit 4'\nhooks:\n  - name: on-run\n    on: [scheduler:task_run]\n    command: 'echo \"run $CLARA_TASK_NAME $CLARA_TASK_TYPE\" >> {log}'\n  - name: on-error\n    on: [scheduler:task_error]\n    command: 'echo \"error $CLARA_TASK_NAME $CLARA_ERROR\" >> {log}'\n",
            log = log.display()
        ),
    );
    let app = app(root.path()).await;
    until("both events' hooks ran", Duration::from_secs(10), || {
        lines(&log).len() == 2
    })
    .await;
    app.shutdown("test").await;
    let mut seen = lines(&log);
    seen.sort();
    assert_eq!(seen, ["error fails exit code 4", "run fails one_shot"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_task_never_runs_and_a_task_runs_in_its_working_dir() {
    let root = support::shipped_root();
    let log = root.path().join("log");
    std::fs::create_dir(root.path().join("work")).unwrap();
    write_tasks(
        root.path(),
        &format!(
            "tasks:\n  - name: off\n    type: interval\n    interval: 0.05\n    enabled: false\n    command: 'echo off >> {log}'\n\
             \x20 - name: here\n    type: interval\n    interval: 0.05\n    working_dir: work\n    command: 'echo \"$(basename \"$PWD\")\" >> {log}'\n",
            log = log.display()
        ),
    );
    let app = app(root.path()).await;
    until("the enabled task ran", Duration::from_secs(10), || {
        lines(&log).len() >= 3
    })
    .await;
    app.shutdown("test").await;
    let seen = lines(&log);
    assert!(seen.iter().all(|l| l == "work"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_a_run_under_way_finish_and_records_its_end() {
    let root = support::shipped_root();
    let log = root.path().join("log");
    write_tasks(
        root.path(),
        &format!(
            "tasks:\n  - name: slow\n    type: one_shot\n    delay: 0.05\n    command: 'echo start >> {log}; sleep 0.8; echo end >> {log}'\n",
            log = log.display()
        ),
    );
    let app = app(root.path()).await;
    until("the run starts", Duration::from_secs(10), || {
        lines(&log) == ["start"]
    })
    .await;
    let store = app.live.current().services.store.clone();
    let stopping = Instant::now();
    app.shutdown("test").await;
    assert_eq!(lines(&log), ["start", "end"], "the run was cut off");
    assert!(stopping.elapsed() >= Duration::from_millis(500));
    let run = store
        .task_run("slow")
        .await
        .unwrap()
        .expect("the run is recorded");
    assert!(
        run.last_finished_at.is_some(),
        "its end is recorded: {run:?}"
    );
    assert_eq!(run.last_ok, Some(true));
}
