//! `clara replay` on a store holding a real conversation (had through `clara chat` with the
//! fake model server): the turns listed, a persona edit shown as a prompt diff against the
//! old root with the recorded answers kept, a live model asked where the prompt changed, an
//! unchanged root reported unchanged, `--record` writing a fixture `clara test` passes, and
//! the store's file never changed.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, edit, shipped_root};

const NO_FACTS: &str = r#"{"facts": []}"#;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `clara chat -m TEXT` at `now`, answered `reply` by the fake model.
async fn say(root: &Path, fake: &FakeLlm, now: &str, text: &str, reply: &str) {
    fake.push(fake_llm::openai_stream(&[reply]));
    fake.push_background(fake_llm::openai_json(NO_FACTS));
    let out = run(root, fake, &["chat", "-m", text], &[("CLARA_NOW", now)]).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `clara ARGS` on `root`, its provider pointed at `fake`.
async fn run(root: &Path, fake: &FakeLlm, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = clara(root);
    command
        .args(args)
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .envs(env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_compares_reruns_records_and_never_writes() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    say(
        root.path(),
        &fake,
        "2026-11-30T14:02:10Z",
        "Good morning!",
        "Morning, Sam! Coffee?",
    )
    .await;
    say(
        root.path(),
        &fake,
        "2026-11-30T14:05:40Z",
        "!high plan my week",
        "Here is your week, day by day.",
    )
    .await;
    fake.take_requests();

    // The current files, no baseline: what each turn does now, the recorded replies kept.
    let out = run(root.path(), &fake, &["replay", "--user", "cli-user"], &[]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains(" · cli-user in dm-cli-user · 2026-11-30 14:02 UTC · 2 turns\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  1. \"Good morning!\"\n      tier: base model · 1 model call · tools offered: memory_search,"
        ),
        "{text}"
    );
    assert!(
        // A tier prefix is taken off before a message is stored: the replay runs without it.
        text.contains("  2. \"plan my week\"\n      tier: base model · 1 model call"),
        "{text}"
    );
    assert!(
        text.contains("1 session, 2 turns replayed; the store was only read"),
        "{text}"
    );
    assert_eq!(fake.request_count(), 0, "recorded answers: no model call");

    // A persona edit, against the root the conversation was had with.
    let old = shipped_root();
    edit(
        &root.path().join("personas/clara.md"),
        "You are Clara, a personal",
        "You are Bob, a personal",
    );
    let against = old.path().to_str().unwrap();
    let out = run(root.path(), &fake, &["replay", "--against", against], &[]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("  1. \"Good morning!\" changed\n      prompt:\n"),
        "{text}"
    );
    assert!(
        text.contains("        - You are Clara, a personal"),
        "{text}"
    );
    assert!(text.contains("        + You are Bob, a personal"), "{text}");
    assert!(
        text.contains(
            "  2. \"plan my week\" changed\n      prompt: the same change as turn 1\n      reply: the recorded answer, though the request changed (--live asks the model)"
        ),
        "{text}"
    );
    assert!(!text.contains("tier:"), "the tiers did not change: {text}");
    assert!(
        text.contains(&format!(
            "2 turns replayed against {against}: 2 changed, 0 unchanged"
        )),
        "{text}"
    );
    assert_eq!(fake.request_count(), 0);

    // --live asks the model for the changed calls only.
    fake.push(fake_llm::openai_stream(&["Hi, I'm Bob."]));
    fake.push(fake_llm::openai_stream(&["Bob's plan for your week."]));
    let out = run(
        root.path(),
        &fake,
        &["replay", "--against", against, "--live"],
        &[],
    )
    .await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains(
            "      reply (live model):\n        - Morning, Sam! Coffee?\n        + Hi, I'm Bob.\n"
        ),
        "{text}"
    );
    let asked = fake.take_requests();
    assert_eq!(asked.len(), 2, "one live call per changed turn");
    assert_eq!(asked[1].body["stream"], true, "{}", asked[1].body);

    // The same files on both sides: nothing changed, nothing asked.
    let out = run(
        old.path(),
        &fake,
        &[
            "replay",
            "--against",
            against,
            "--store-root",
            root.path().to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("  1. \"Good morning!\" unchanged\n  2. \"plan my week\" unchanged\n"),
        "{text}"
    );
    assert!(text.contains(": 0 changed, 2 unchanged"), "{text}");

    // The conversation as a fixture, which `clara test` passes and `clara validate` accepts.
    let fixture = old.path().join("tests/recorded.toml");
    let out = run(
        old.path(),
        &fake,
        &[
            "replay",
            "--store-root",
            root.path().to_str().unwrap(),
            "--record",
            fixture.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let written = fs::read_to_string(&fixture).unwrap();
    assert!(
        written.contains("say = \"plan my week\"\nafter_minutes = 3\n"),
        "{written}"
    );
    assert!(
        written.contains(
            "{ reply = \"Here is your week, day by day.\" },\n    { reply = '{\"facts\": []}' },"
        ),
        "{written}"
    );
    let out = run(old.path(), &fake, &["test", fixture.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("1 case: 1 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
    let out = run(old.path(), &fake, &["validate", "--offline"], &[]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // More than one session with --record: choose one.
    say(
        root.path(),
        &fake,
        "2026-12-01T09:00:00Z",
        "New day",
        "Hello again",
    )
    .await;
    let out = run(root.path(), &fake, &["replay", "--record", "x.toml"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "--record writes one conversation, and 2 sessions match: choose one with --session"
        ),
        "{}",
        stderr(&out)
    );

    // What a replay reads never changes: neither the database file nor its write-ahead log
    // (readers only touch SQLite's shared-memory index, `-shm`).
    let stored = || {
        let db = root.path().join("data/clara.db");
        let wal = root.path().join("data/clara.db-wal");
        (store_digest(&db), store_digest(&wal))
    };
    let before = stored();
    let out = run(root.path(), &fake, &["replay"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1. \"New day\""), "{}", stdout(&out));
    assert_eq!(
        stored(),
        before,
        "replay never writes to the store it reads"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_classifier_call_gets_no_recorded_answer_and_the_fallback_tier_applies() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    say(
        root.path(),
        &fake,
        "2026-11-30T14:02:10Z",
        "Good morning!",
        "Morning! Below, a plan.",
    )
    .await;
    edit(
        &root.path().join("pipelines/chat.toml"),
        "classifier = false",
        "classifier = true",
    );
    let out = run(root.path(), &fake, &["replay"], &[]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    // The reply says "Below": read as a classifier's answer it would pick the low tier.
    assert!(
        text.contains("  1. \"Good morning!\"\n      tier: mid · 2 model calls"),
        "{text}"
    );
    let fixture = root.path().join("tests/recorded.toml");
    let out = run(
        root.path(),
        &fake,
        &["replay", "--record", fixture.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        root.path(),
        &fake,
        &["test", fixture.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// A short fingerprint of a file's bytes (`None` when it does not exist), so a failure does
/// not print a whole database.
fn store_digest(path: &Path) -> Option<(usize, u64)> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let bytes = fs::read(path).ok()?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some((bytes.len(), hasher.finish()))
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_of_an_empty_or_missing_store_says_so() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    let out = run(root.path(), &fake, &["replay"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("there is no database at"),
        "{}",
        stderr(&out)
    );
    assert!(
        !root.path().join("data/clara.db").exists(),
        "replay creates no store"
    );
    say(root.path(), &fake, "2026-11-30T14:02:10Z", "hi", "hello").await;
    let out = run(root.path(), &fake, &["replay", "--user", "nobody"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "no stored session matches\n");
    let out = run(root.path(), &fake, &["replay", "--since", "yesterday"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`yesterday` is neither an RFC 3339 time nor a date like 2026-11-30"),
        "{}",
        stderr(&out)
    );
}
