//! Budgets end to end: `clara chat` against the fake model server, with a cap in clara.toml.
//! A refusing cap answers with the persona's budget reply and never calls the model, the
//! message still stored; a warning cap lets the call through and says so in the log.

use std::path::Path;
use std::process::Output;

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, shipped_root};

async fn chat(root: &Path, fake: &FakeLlm, text: &str) -> Output {
    let mut command = clara(root);
    command
        .args(["chat", "-m", text])
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_MEMORY__ENABLED", "false");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn with_budget(root: &Path, budget: &str) {
    let path = root.join("clara.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(budget);
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_budget_is_answered_without_the_model_and_the_message_is_kept() {
    let root = shipped_root();
    // Any call reserves its whole `max_tokens` of reply: more than this cap.
    with_budget(
        root.path(),
        "\n[budgets.tiny]\nwindow = \"day\"\ntokens = 100\n",
    );
    let fake = FakeLlm::start().await;
    let out = chat(root.path(), &fake, "Hello there").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "I've reached my spending limit for now, so I can't answer this one. Your message is saved; try again later."
    );
    assert_eq!(fake.request_count(), 0, "the model was never called");
    assert!(
        stderr.contains("a model call would pass a budget's cap"),
        "{stderr}"
    );
    let env = clara_config::Env::from_vars([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]);
    let set = clara_config::load_with_env(root.path(), env).unwrap();
    let store = clara::store::open_default(&set, clara::store::Access::ReadOnly)
        .await
        .unwrap();
    let user = set.clara.value.adapters.chat.user.clone();
    let stored = store
        .user_message_stamps(Some(&user), None, 0, 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "the refused message is stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warning_budget_lets_the_call_through() {
    let root = shipped_root();
    with_budget(
        root.path(),
        "\n[budgets.tiny]\nwindow = \"day\"\ntokens = 100\naction = \"warn\"\n",
    );
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Hi ", "there"]));
    let out = chat(root.path(), &fake, "Hello there").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hi there");
    assert_eq!(fake.request_count(), 1);
    assert!(
        stderr.contains("a model call would pass a budget's cap") && stderr.contains("action=warn"),
        "{stderr}"
    );
}

/// The README's budgets example, exactly as written there, validates on the shipped root.
#[test]
fn the_readme_budgets_example_validates() {
    let readme = std::fs::read_to_string(crate::support::repo_root().join("README.md")).unwrap();
    let at = readme
        .find("[budgets.daily]")
        .expect("the README shows budgets");
    let start = readme[..at].rfind("```toml\n").expect("in a toml block") + "```toml\n".len();
    let end = at + readme[at..].find("```").expect("the block ends");
    let root = shipped_root();
    with_budget(root.path(), &format!("\n{}", &readme[start..end]));
    let out = clara(root.path())
        .args(["validate", "--offline"])
        .env("OPENROUTER_API_KEY", "k")
        .env("DISCORD_BOT_TOKEN", "t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn embeddings_count_against_budgets_like_chat_calls() {
    let root = shipped_root();
    // Room for the message's embedding (a few tokens), not for a reply's `max_tokens`.
    with_budget(
        root.path(),
        "\n[budgets.small]\nwindow = \"day\"\ntokens = 100\n",
    );
    let fake = FakeLlm::start().await;
    fake.auto_embeddings(16);
    let send = |text: &'static str| {
        let mut command = clara(root.path());
        command
            .args(["chat", "-m", text])
            .env("OPENROUTER_API_KEY", "sk-or-test")
            .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
            .env("OPENAI_API_KEY", "sk-openai-test")
            .env("CLARA_EMBEDDINGS__ENABLED", "true")
            .env("CLARA_EMBEDDINGS__DIMENSIONS", "16")
            .env("CLARA_PROVIDERS__OPENAI__BASE_URL", fake.base_url());
        async move {
            let out = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    send("Hello there").await;
    let paths = || -> Vec<String> { fake.requests().into_iter().map(|r| r.path).collect() };
    assert_eq!(
        paths(),
        ["/embeddings"],
        "the embedding fits, the reply does not"
    );
    let set = clara_config::load_with_env(
        root.path(),
        clara_config::Env::from_vars([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]),
    )
    .unwrap();
    let store = clara::store::open_default(&set, clara::store::Access::ReadOnly)
        .await
        .unwrap();
    let totals = store
        .usage_totals(clara_core::store::UsageBy::Model, 0, None)
        .await
        .unwrap();
    let embedded: Vec<(String, u64, u64)> = totals
        .into_iter()
        .map(|t| (t.key, t.calls, t.input_tokens))
        .collect();
    assert_eq!(
        embedded,
        [("openai/text-embedding-3-small".to_owned(), 1, 8)],
        "recorded with the tokens the API reported"
    );
    // The 8 tokens spent count: at a cap of 10, the next embedding (about 3 tokens) would
    // pass it, so it is not made.
    std::fs::write(
        root.path().join("clara.toml"),
        std::fs::read_to_string(root.path().join("clara.toml"))
            .unwrap()
            .replace("tokens = 100\n", "tokens = 10\n"),
    )
    .unwrap();
    send("Hello again").await;
    assert_eq!(paths(), ["/embeddings"], "no second embedding");
}
