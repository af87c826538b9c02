//! `clara chat` as a person at a terminal sees it: the real binary on a pseudo-terminal, a
//! greeting naming the provider and model, a prompt, line editing and history (↑ recalls a
//! line, which is then edited), notices where a turn prints nothing, and Ctrl-D to leave.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, shipped_root};
use serde_json::Value;

/// A pseudo-terminal pair: the side clara gets, and the side the test reads and types on.
#[allow(unsafe_code)] // the SAFETY comments below say why
fn pty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the two integers, which are then owned.
    let made = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and nothing else owns them.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

/// What the terminal has shown so far, read on a thread.
struct Screen {
    shown: Arc<Mutex<Vec<u8>>>,
    keys: std::fs::File,
}

impl Screen {
    fn new(master: std::fs::File) -> Screen {
        let shown = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Reading ends with EIO once clara has exited and closed its side.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Screen {
            shown,
            keys: master,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().unwrap()).into_owned()
    }

    /// Waits until `what` has been shown `times` times in all.
    fn wait_for(&self, what: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.text().matches(what).count() < times {
            assert!(
                Instant::now() < deadline,
                "the terminal never showed `{what}` ×{times}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).unwrap();
        self.keys.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the user typed: the end of the last user message, after the per-turn context block.
fn last_user_message(request: &Value) -> &str {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .and_then(|text| text.rsplit("\n\n").next())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_at_a_terminal_gets_a_greeting_a_prompt_editing_history_and_notices() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    let (master, slave) = pty();
    let mut command = clara(root.path());
    command
        .arg("chat")
        .env("TERM", "xterm")
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_MEMORY__ENABLED", "false")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    let mut child = command.spawn().unwrap();
    drop(command);
    let mut screen = Screen::new(master);
    let screen_ref = &mut screen;

    tokio::task::block_in_place(|| {
        screen_ref.wait_for(
            "Clara is listening (openrouter, anthropic/claude-sonnet-4). Type a message and press Enter; ↑ recalls earlier lines, Ctrl-D quits.",
            1,
        );
        screen_ref.wait_for("you › ", 1);

        fake.push(fake_llm::openai_stream(&["Four."]));
        screen_ref.type_keys("What is 2+2?\r");
        screen_ref.wait_for("Four.", 1);
        screen_ref.wait_for("you › ", 2);

        // ↑ brings the line back, the cursor at its end; the edit is sent.
        fake.push(fake_llm::openai_stream(&[""]));
        screen_ref.type_keys("\x1b[A");
        screen_ref.type_keys(" Really?\r");
        screen_ref.wait_for("(no answer: the model replied with nothing)", 1);

        screen_ref.type_keys("clara stop\r");
        screen_ref.wait_for("(stopped)", 1);
        screen_ref.wait_for("you › ", 4);

        screen_ref.type_keys("\x04");
    });
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{}", screen.text());

    let requests = fake.requests();
    let asked: Vec<&str> = requests
        .iter()
        .map(|r| last_user_message(&r.body))
        .collect();
    assert_eq!(asked, ["What is 2+2?", "What is 2+2? Really?"]);
    let history = std::fs::read_to_string(root.path().join("data/chat_history")).unwrap();
    assert!(
        history.contains("What is 2+2?\n") && history.contains("What is 2+2? Really?\n"),
        "{history}"
    );
}
