//! `clara init`: the shipped root written from the binary, a folder without a root explained,
//! and a MyPalClara `.env` carried into clara's files, each then validated and chatted with
//! against the fake model server.

use crate::support;

use std::process::Output;

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, fixtures, repo_root};
use serde_json::json;

fn run(command: &mut std::process::Command) -> Output {
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn init_writes_the_shipped_root_that_then_answers() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("assistant");
    let out = run(clara(parent.path()).arg("init").arg(&dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("next: set OPENROUTER_API_KEY"), "{said}");
    assert!(
        said.contains(&format!("clara chat --root {}", dir.display())),
        "{said}"
    );
    for rel in [
        "clara.toml",
        "personas/clara.md",
        "pipelines/chat.toml",
        "tools.d/roll_dice.toml",
        "hooks/hooks.yaml",
        "schema/clara.schema.json",
    ] {
        assert_eq!(
            std::fs::read(dir.join(rel)).unwrap(),
            std::fs::read(repo_root().join(rel)).unwrap(),
            "{rel} is the shipped file"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let script = std::fs::metadata(dir.join("tools.d/scripts/run_python.sh")).unwrap();
    assert_ne!(
        script.permissions().mode() & 0o111,
        0,
        "scripts stay executable"
    );

    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Hello from a fresh root."]));
    fake.push(fake_llm::openai_json(&json!({ "facts": [] }).to_string()));
    let mut chat = clara(&dir);
    chat.args(["chat", "-m", "hi"])
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url());
    let out = tokio::task::spawn_blocking(move || run(&mut chat))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello from a fresh root.\n");

    // A second init changes nothing.
    std::fs::write(dir.join("clara.toml"), "# mine\n").unwrap();
    let again = run(clara(parent.path()).arg("init").arg(&dir));
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already holds a clara root"));
    assert_eq!(
        std::fs::read_to_string(dir.join("clara.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn a_folder_without_a_root_says_where_it_looked_and_how_to_make_one() {
    let empty = tempfile::tempdir().unwrap();
    let out = run(clara(empty.path()).args(["chat", "-m", "hi"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "clara.toml: not found in {}",
            empty.path().display()
        )),
        "{stderr}"
    );
    for hint in ["clara init", "--root", "CLARA_ROOT"] {
        assert!(stderr.contains(hint), "{hint}: {stderr}");
    }
    let missing = empty.path().join("nowhere");
    let out = run(clara(&missing).args(["validate"]));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "the root `{}` is not a folder: run `clara init",
            missing.display()
        )),
        "{stdout}"
    );
    assert!(!stdout.contains(".env"), "one problem, not two: {stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mypalclara_env_becomes_clara_files_that_chat_on_its_provider_and_models() {
    let fake = FakeLlm::start().await;
    let parent = tempfile::tempdir().unwrap();
    let old = parent.path().join("mypalclara.env");
    let fixture = std::fs::read_to_string(fixtures().join("../init/mypalclara.env")).unwrap();
    std::fs::write(&old, fixture.replace("FAKE_URL", &fake.base_url())).unwrap();
    let dir = parent.path().join("clara");
    let out = run(clara(parent.path())
        .arg("init")
        .arg(&dir)
        .arg("--from-env")
        .arg(&old));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("TOOL_CALL_MODE") && said.contains("not carried over"),
        "{said}"
    );
    assert!(
        said.contains(&format!("next: clara chat --root {}", dir.display())),
        "{said}"
    );

    let config: toml::Table = std::fs::read_to_string(dir.join("clara.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(config["defaults"]["provider"].as_str(), Some("anthropic"));
    assert_eq!(
        config["defaults"]["timezone"].as_str(),
        Some("Europe/Berlin")
    );
    assert_eq!(
        config["sessions"]["idle_timeout_minutes"].as_integer(),
        Some(45)
    );
    assert_eq!(
        config["adapters"]["discord"]["enabled"].as_bool(),
        Some(false),
        "no token, no Discord"
    );
    assert_eq!(
        config["adapters"]["discord"]["allowed_channels"],
        toml::Value::Array(vec![
            "123456789012345678".into(),
            "223456789012345678".into()
        ])
    );
    let persona: toml::Table = std::fs::read_to_string(dir.join("personas/clara.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(persona["default_tier"].as_str(), Some("high"));
    let clara_toml = std::fs::read_to_string(dir.join("clara.toml")).unwrap();
    assert!(
        clara_toml.contains("# MyPalClara's LLM_PROVIDER"),
        "comments are kept"
    );
    assert!(
        std::fs::read_to_string(dir.join(".env"))
            .unwrap()
            .contains("ANTHROPIC_API_KEY=sk-ant-test-key")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join(".env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the copied keys are private");

    let validate = run(clara(&dir).arg("validate"));
    assert!(validate.status.success(), "{}", text(&validate.stdout));
    assert!(
        !text(&validate.stdout).contains("warning"),
        "every setting carried: {}",
        text(&validate.stdout)
    );

    fake.push(fake_llm::anthropic_stream(&["Guten Tag!"]));
    fake.push(fake_llm::anthropic_json(
        &json!({ "facts": [] }).to_string(),
    ));
    let mut chat = clara(&dir);
    chat.args(["chat", "-m", "hallo"]);
    let out = tokio::task::spawn_blocking(move || run(&mut chat))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Guten Tag!\n");
    let requests = fake.requests();
    let models: Vec<&str> = requests
        .iter()
        .map(|r| r.body["model"].as_str().unwrap())
        .collect();
    // MODEL_TIER=high has no ANTHROPIC_MODEL_HIGH, so the persona's tier falls to the shipped
    // high model; memory runs on ROOK_MODEL.
    assert_eq!(models, ["claude-opus-4-5", "claude-3-5-haiku-latest"]);
    assert!(requests.iter().all(|r| r.path == "/v1/messages"));
    assert_eq!(requests[0].header("x-api-key"), Some("sk-ant-test-key"));
}

#[test]
fn a_mypalclara_setting_clara_does_not_read_is_a_warning_not_silence() {
    let root = support::shipped_root();
    let out = run(clara(root.path())
        .args(["validate", "--offline"])
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:8484")
        .env("DEFAULT_TIMEZONE", "America/New_York"));
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).lines().next().unwrap(),
        "warning: $ANTHROPIC_BASE_URL: set as for MyPalClara, but clara reads `providers.anthropic.base_url` in clara.toml instead (`clara init --from-env FILE` carries such settings over)"
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "the time zone agrees: no warning"
    );
}
