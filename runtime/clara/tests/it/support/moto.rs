//! An S3-compatible server on 127.0.0.1: moto's server mode (from PyPI, installed by
//! `.ci/run`), started per test and stopped when dropped.

use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    child: tokio::process::Child,
}

impl Moto {
    /// Starts it on a free port and waits until it answers.
    pub async fn start() -> Moto {
        let port = super::free_port();
        let child = tokio::process::Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (moto is installed by .ci/run: pip install 'moto[server]')");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = clara::tools::http_client();
        loop {
            if client.get(&endpoint).send().await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not start (pip install 'moto[server]')"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto { endpoint, child }
    }

    /// Creates `bucket` (moto takes any credentials).
    pub async fn bucket(&self, bucket: &str) {
        let made = clara::tools::http_client()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(made.status().is_success(), "{}", made.status());
    }

    /// The names of the objects in `bucket`.
    pub async fn objects(&self, bucket: &str) -> Vec<String> {
        let listing = clara::tools::http_client()
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
