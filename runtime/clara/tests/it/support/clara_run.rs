//! `clara run` as a child process, with the gateway and the status endpoint on free ports of
//! 127.0.0.1 (the status endpoint on another host when asked), the fake model as its provider,
//! killed when dropped; and `clara chat --connect` to say something through its gateway.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::fake_llm::FakeLlm;
use super::{clara, free_port, shipped_root};

/// How long `clara run` may take to answer `/health`.
const START: Duration = Duration::from_secs(15);

/// A running `clara run` on a copy of the shipped root.
pub struct ClaraRun {
    child: Child,
    /// `http://127.0.0.1:PORT` of the status endpoint.
    pub base: String,
    /// `ws://127.0.0.1:PORT` of the gateway.
    pub gateway: String,
    pub root: tempfile::TempDir,
}

impl Drop for ClaraRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `clara run` (Discord off, memory off) with its status endpoint on `host`, `vars` on
/// top, and waits until it answers.
pub async fn clara_run(fake: &FakeLlm, host: &str, vars: &[(&str, &str)]) -> ClaraRun {
    ::clara::llm::install_crypto_provider();
    let root = shipped_root();
    let (status, gateway) = (free_port(), free_port());
    let child = clara(root.path())
        .arg("run")
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_ADAPTERS__GATEWAY__ENABLED", "true")
        .env(
            "CLARA_ADAPTERS__GATEWAY__BIND",
            format!("127.0.0.1:{gateway}"),
        )
        .env("CLARA_STATUS__BIND", format!("{host}:{status}"))
        .env("CLARA_MEMORY__ENABLED", "false")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = ClaraRun {
        child,
        base: format!("http://127.0.0.1:{status}"),
        gateway: format!("ws://127.0.0.1:{gateway}"),
        root,
    };
    let started = Instant::now();
    while reqwest::get(format!("{}/health", running.base))
        .await
        .is_err()
    {
        assert!(started.elapsed() < START, "clara run did not start");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    running
}

impl ClaraRun {
    /// `user` says `text` through the gateway with `clara chat --connect`; asserts it worked.
    pub async fn say(&self, user: &str, text: &str) {
        let mut command = clara(self.root.path());
        command.args([
            "chat",
            "--connect",
            &self.gateway,
            "--user",
            user,
            "-m",
            text,
        ]);
        let out = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        super::ok(out);
    }
}
