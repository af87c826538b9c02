//! Usage accounting end to end: `clara chat` against the fake model server (which reports
//! usage as the real API does, cached tokens included) records every call with its tokens and
//! its cost from the price table, and `clara usage` sums it by each grouping; a price in
//! clara.toml overrides the shipped one, and an unpriced model costs nothing, with a warning.

use std::path::Path;
use std::process::Output;

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, shipped_root};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn run(root: &Path, fake: &FakeLlm, args: &[&str]) -> Output {
    let mut command = clara(root);
    command
        .args(args)
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_is_counted_and_priced_and_clara_usage_sums_it() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    // Day one: a streamed reply (10 prompt tokens, 4 of them cached; 2 reply tokens), then
    // the memory extraction on the low tier (not streamed, 1 reply token). Day two: the same,
    // and the summary of day one's session, which the new message ended.
    for (now, text, background) in [
        ("2026-11-30T10:00:00Z", "Good morning", 1),
        ("2026-12-01T10:00:00Z", "Hello again", 2),
    ] {
        fake.push(fake_llm::openai_stream(&["Hi ", "there"]));
        for _ in 0..background {
            fake.push_background(fake_llm::openai_json(r#"{"facts": []}"#));
        }
        let mut command = clara(root.path());
        command
            .args(["chat", "-m", text])
            .env("OPENROUTER_API_KEY", "sk-or-test")
            .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
            .env("CLARA_NOW", now);
        let out = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        // The low tier's model is not in the price table: free, said once per run.
        assert_eq!(
            stderr(&out)
                .matches("no price for this model: its calls count as free")
                .count(),
            1,
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(fake.request_count(), 5);

    // Sonnet: 6 input at $3/M, 2 output at $15/M, 4 cache reads at $0.30/M = $0.0000492 a call.
    let usage = |args: &'static [&'static str]| run(root.path(), &fake, args);
    let out = usage(&["usage", "--by", "model", "--since", "2026-11-01"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = [
        "model                                 calls  input  output  cache read  cache write     cost",
        "openrouter/anthropic/claude-sonnet-4      2     12       4           8            0  $0.0001",
        "openrouter/anthropic/claude-haiku         3     18       3          12            0  $0.0000",
        "total                                     5     30       7          20            0  $0.0001",
    ];
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), expected);
    let out = usage(&["usage", "--by", "day", "--since", "2026-11-01"]).await;
    let text = stdout(&out);
    assert!(text.starts_with("day (UTC)   calls"), "{text}");
    assert!(text.contains("\n2026-11-30      2 "), "{text}");
    assert!(text.contains("\n2026-12-01      3 "), "{text}");
    let out = usage(&["usage", "--by", "purpose", "--since", "2026-11-01"]).await;
    let text = stdout(&out);
    for line in [
        "\nturn         2 ",
        "\nmemory       2 ",
        "\nsummary      1 ",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let out = usage(&["usage", "--by", "user", "--since", "2026-12-01"]).await;
    assert!(
        stdout(&out).contains("\ncli-user      3 "),
        "{}",
        stdout(&out)
    );
    let out = usage(&["usage", "--since", "2026-12-02"]).await;
    assert_eq!(stdout(&out), "no model calls in this period\n");

    // A price in clara.toml wins over the shipped table.
    let config = root.path().join("clara.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[pricing.\"anthropic/claude-haiku\"]\ninput = 1000.0\noutput = 0.0\n");
    std::fs::write(&config, text).unwrap();
    // (Today ends the last session too: a summary and an extraction.)
    fake.push(fake_llm::openai_stream(&["Hi"]));
    fake.push_background(fake_llm::openai_json(r#"{"facts": []}"#));
    fake.push_background(fake_llm::openai_json(r#"{"facts": []}"#));
    let out = run(root.path(), &fake, &["chat", "-m", "once more"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("no price for this model"),
        "{}",
        stderr(&out)
    );
    // Each call: 6 input at $1000/M plus 4 cache reads at the input price, $0.0100.
    let out = usage(&["usage", "--by", "model", "--since", "2026-12-02"]).await;
    let text = stdout(&out);
    let haiku: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("openrouter/anthropic/claude-haiku "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        haiku,
        [
            "openrouter/anthropic/claude-haiku",
            "2",
            "12",
            "2",
            "8",
            "0",
            "$0.0200"
        ],
        "{text}"
    );
}
