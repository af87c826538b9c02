//! The console in a real browser: Debian's headless Chromium, driven through chromedriver by
//! fantoccini, against `clara run` with the fake model. The overview loads; a message sent
//! through the gateway appears on the turns page without a reload and opens to its timeline,
//! and its conversation to its messages; a memory is forgotten; beyond loopback the browser logs in first. Screenshots of the main
//! pages go to `target/console-screenshots/` (CI keeps them).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support;
use crate::support::clara_run::clara_run;
use crate::support::fake_llm::{self, FakeLlm};

const SOON: Duration = Duration::from_secs(15);

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A browser session and what it runs on: chromedriver (killed when dropped) and Chromium's
/// profile folder (removed when dropped, after the driver).
struct Browser {
    client: Client,
    _driver: Killed,
    _profile: tempfile::TempDir,
}

/// Chromedriver on a free port, and a headless Chromium session through it.
async fn browser() -> Browser {
    let port = support::free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (apt-get install chromium-driver, as .ci/run does)");
    let driver = Killed(driver);
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Browser {
                    client,
                    _driver: driver,
                    _profile: profile,
                };
            }
            Err(error) => {
                assert!(started.elapsed() < SOON, "no browser session: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page's text holds `text`. A page mid-navigation has no body for a moment,
/// so a failed look is tried again.
async fn wait_for_text(client: &Client, text: &str) -> String {
    let started = Instant::now();
    loop {
        let body = match client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if body.contains(text) {
            return body;
        }
        assert!(started.elapsed() < SOON, "no {text:?} on the page:\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Chromium and chromedriver: apt-get install chromium chromium-driver as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn the_console_shows_a_turn_live_opens_its_timeline_and_forgets_a_memory() {
    let fake = FakeLlm::start().await;
    let running = clara_run(&fake, "127.0.0.1", &[]).await;
    let browser = browser().await;
    let client = &browser.client;

    client.goto(&format!("{}/", running.base)).await.unwrap();
    assert_eq!(client.title().await.unwrap(), "Overview · clara");
    let overview = wait_for_text(client, "Adapters").await;
    assert!(overview.contains("gateway"), "{overview}");
    screenshot(client, "overview").await;

    client
        .goto(&format!("{}/console/turns", running.base))
        .await
        .unwrap();
    wait_for_text(client, "live").await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6, \"count\": 2}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["You rolled a seven."]));
    running.say("ann", "roll two dice").await;
    // No reload: the page's script fetched the view again when the turn finished.
    wait_for_text(client, "ann").await;
    screenshot(client, "turns").await;
    let link = client.find(Locator::Css("tbody a")).await.unwrap();
    link.click().await.unwrap();
    let timeline = wait_for_text(client, "step llm_call").await;
    for label in [
        "step build_context",
        "chat anthropic/claude-sonnet-4",
        "execute_tool roll_dice",
    ] {
        assert!(timeline.contains(label), "{label} in\n{timeline}");
    }
    assert!(
        !timeline.contains("roll two dice"),
        "no message text without capture_content"
    );
    screenshot(client, "turn").await;

    client
        .goto(&format!("{}/console/conversations", running.base))
        .await
        .unwrap();
    wait_for_text(client, "ann").await;
    screenshot(client, "conversations").await;
    client
        .find(Locator::Css("tbody a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let session = wait_for_text(client, "roll two dice").await;
    assert!(session.contains("You rolled a seven."), "{session}");
    screenshot(client, "session").await;

    client
        .goto(&format!("{}/console/config", running.base))
        .await
        .unwrap();
    wait_for_text(client, "plan: nothing changes").await;
    screenshot(client, "config").await;

    let import = running.root.path().join("memories.jsonl");
    std::fs::write(
        &import,
        "{\"user_id\": \"ann\", \"text\": \"Ann keeps two goats\"}\n{\"user_id\": \"ann\", \"text\": \"Ann's sister is called Maud\"}\n",
    )
    .unwrap();
    let imported = support::clara(running.root.path())
        .args(["memory", "import"])
        .arg(&import)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    client
        .goto(&format!("{}/console/memory?user=ann", running.base))
        .await
        .unwrap();
    wait_for_text(client, "Ann keeps two goats").await;
    screenshot(client, "memory").await;
    let forget = client
        .find(Locator::XPath(
            "//tr[td[contains(., 'Ann keeps two goats')]]//button",
        ))
        .await
        .unwrap();
    forget.click().await.unwrap();
    let after = wait_for_text(client, "Maud").await;
    assert!(!after.contains("two goats"), "forgotten:\n{after}");
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Chromium and chromedriver: apt-get install chromium chromium-driver as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn beyond_loopback_the_browser_logs_in_first() {
    let fake = FakeLlm::start().await;
    let running = clara_run(
        &fake,
        "0.0.0.0",
        &[("CLARA_CONSOLE_TOKEN", "browser-test-token")],
    )
    .await;
    let browser = browser().await;
    let client = &browser.client;
    client.goto(&format!("{}/", running.base)).await.unwrap();
    wait_for_text(client, "Log in").await;
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    screenshot(client, "login").await;
    let field = client
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap();
    field.send_keys("wrong").await.unwrap();
    client
        .find(Locator::Css("main button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(client, "That token is not the console's").await;
    let field = client
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap();
    field.send_keys("browser-test-token").await.unwrap();
    client
        .find(Locator::Css("main button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(client, "Adapters").await;
    assert_eq!(client.title().await.unwrap(), "Overview · clara");
    client
        .find(Locator::Css("header button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(client, "Log in").await;
    browser.client.clone().close().await.unwrap();
}
