//! What the benches share: a copy of the shipped root, the fake model (and fake Discord) on
//! their own thread, a running clara pointed at them, and the user's message.

#![allow(dead_code)] // each bench uses its own subset

#[allow(dead_code)]
#[path = "../../tests/it/support/fake_llm/mod.rs"]
pub mod fake_llm;

#[path = "../../tests/it/support/fake_discord/mod.rs"]
pub mod fake_discord;

#[path = "../../tests/it/support/http_server.rs"]
pub mod http_server;

#[path = "../../tests/it/support/otlp_collector.rs"]
pub mod otlp_collector;

pub mod postgres;

use std::path::Path;
use std::sync::Arc;

use clara::live::Live;
use clara_config::Env;
use clara_core::engine::{Conversation, Incoming, LogEvents, SystemClock};

/// A temporary copy of the shipped root's config files.
pub fn shipped_root() -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(repo.join("clara.toml"), root.path().join("clara.toml")).unwrap();
    for dir in ["personas", "pipelines", "tools.d", "hooks"] {
        copy_dir(&repo.join(dir), &root.path().join(dir));
    }
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Starts the fake model on a thread of its own, as a model server lives outside clara: its
/// work (reading requests, writing streams) is not clara's overhead, only the round trip is.
pub fn start_fake_model() -> fake_llm::FakeLlm {
    on_own_thread(|| async {
        let fake = fake_llm::FakeLlm::start().await;
        fake.keep_alive();
        fake
    })
}

/// Starts a fake OpenTelemetry collector on a thread of its own, like the fake model.
pub fn start_fake_collector() -> otlp_collector::FakeCollector {
    on_own_thread(otlp_collector::FakeCollector::start)
}

/// Starts the fake Discord on a thread of its own, like the fake model.
pub fn start_fake_discord() -> fake_discord::FakeDiscord {
    on_own_thread(fake_discord::FakeDiscord::start)
}

/// Runs what `start` starts on a thread with its own runtime, for as long as the bench runs.
fn on_own_thread<T, F, S>(start: S) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
    S: FnOnce() -> F + Send + 'static,
{
    let (started, fake) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            started.send(start().await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    fake.recv().unwrap()
}

/// A running clara on the config at `root`, its default provider pointed at `fake`, with the
/// `overrides` (`CLARA_…` variables) on top.
pub async fn start_live(
    root: &Path,
    fake: &fake_llm::FakeLlm,
    overrides: &[(&str, &str)],
) -> Arc<Live> {
    let mut vars = vec![
        ("OPENROUTER_API_KEY".to_owned(), "k".to_owned()),
        (
            "CLARA_PROVIDERS__OPENROUTER__BASE_URL".to_owned(),
            fake.base_url(),
        ),
    ];
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let env = Env::from_vars(vars);
    let dir = root.to_owned();
    Live::start(
        Box::new(move || clara_config::load_with_env(&dir, env.clone())),
        Arc::new(SystemClock),
        Arc::new(LogEvents),
    )
    .await
    .unwrap()
}

/// The `q` quantile (0.5 is the median) of `times`, which it sorts.
pub fn percentile(times: &mut [std::time::Duration], q: f64) -> std::time::Duration {
    times.sort();
    times[((times.len() - 1) as f64 * q) as usize]
}

/// Resident and peak resident memory of process `pid`, in MiB.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `clara run` (the binary this bench was built with) on `root`, its default provider at
/// `model_url`, memory off and the status endpoint on a free port, with an environment of
/// `PATH` alone otherwise and its output discarded; the caller adds its adapter's settings.
pub fn clara_run(root: &Path, model_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_clara"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--root")
        .arg(root)
        .arg("run")
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", model_url)
        .env("CLARA_STATUS__BIND", "127.0.0.1:0")
        .env("CLARA_MEMORY__ENABLED", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// The bench user's direct message.
pub fn message(text: String) -> Incoming {
    Incoming::text(
        "chat",
        "bench-user",
        "Bench",
        Conversation::dm("bench-user"),
        text,
    )
}
