//! The files clara ships: they validate, the checked-in schemas are current, and the chat
//! pipeline writes out exactly the defaults (so reading it tells a user what clara does).

use crate::support;

use std::process::Output;

use crate::support::repo_root;
use clara_config::Env;
use clara_config::model::steps::{
    BuildContextStep, ClassifyTierStep, IngestStep, LlmCallStep, Step, ToolLoopStep,
    WriteMemoryStep,
};

fn clara(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = support::clara(&repo_root());
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn shipped_root_validates_offline() {
    let out = clara(&["validate", "--offline"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout,
        "ok: clara.toml, 1 persona, 3 pipelines, 57 tools, 3 hooks and 3 tasks in 2 hook files, 5 email presets, 2 fixtures\n"
    );
}

#[test]
fn shipped_root_needs_a_provider_key_and_a_discord_token() {
    let missing = clara(&["validate"], &[]);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "nothing can run without a model"
    );
    assert_eq!(
        String::from_utf8_lossy(&missing.stdout),
        "clara.toml:24:15: environment variable `OPENROUTER_API_KEY` is not set (needed by provider `openrouter`: the default provider, memory extraction)\n\
         clara.toml:124:13: environment variable `DISCORD_BOT_TOKEN` is not set (needed by the Discord adapter)\n\
         the files are valid: clara.toml, 1 persona, 3 pipelines, 57 tools, 3 hooks and 3 tasks in 2 hook files, 5 email presets, 2 fixtures\n\
         clara chat: needs OPENROUTER_API_KEY\n\
         clara run: needs OPENROUTER_API_KEY, DISCORD_BOT_TOKEN (or adapters.discord.enabled = false to run without Discord)\n"
    );
    let present = clara(
        &["validate"],
        &[
            ("OPENROUTER_API_KEY", "sk-test"),
            ("DISCORD_BOT_TOKEN", "t"),
        ],
    );
    assert!(
        present.status.success(),
        "{}",
        String::from_utf8_lossy(&present.stdout)
    );
}

#[test]
fn a_chat_only_user_on_a_fresh_clone_is_told_chat_is_ready_and_what_run_needs() {
    let key = [("OPENROUTER_API_KEY", "sk-test")];
    let out = clara(&["validate"], &key);
    assert_eq!(out.status.code(), Some(0), "chat can run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.ends_with(
            "clara chat: ready\n\
             clara run: needs DISCORD_BOT_TOKEN (or adapters.discord.enabled = false to run without Discord)\n"
        ),
        "{stdout}"
    );
    assert_eq!(
        clara(&["validate", "--for", "chat"], &key).status.code(),
        Some(0)
    );
    assert_eq!(
        clara(&["validate", "--for", "run"], &key).status.code(),
        Some(1)
    );
    let without_discord = [
        ("OPENROUTER_API_KEY", "sk-test"),
        ("CLARA_ADAPTERS__DISCORD__ENABLED", "false"),
    ];
    let out = clara(&["validate", "--for", "run"], &without_discord);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: clara.toml"));
}

#[test]
fn checked_in_schemas_are_current() {
    let out = clara(&["schema", "--check"], &[]);
    assert!(
        out.status.success(),
        "schema/ is stale; run `cargo run -p clara -- schema`:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn schema_check_notices_a_stale_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    assert!(clara(&["schema", "--out", out_dir], &[]).status.success());
    assert!(
        clara(&["schema", "--out", out_dir, "--check"], &[])
            .status
            .success()
    );
    std::fs::write(dir.path().join("tool.schema.json"), "{}\n").unwrap();
    let stale = clara(&["schema", "--out", out_dir, "--check"], &[]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stdout).contains("tool.schema.json: out of date"));
}

#[test]
fn chat_pipeline_writes_out_the_defaults() {
    let set = clara_config::load_with_env(&repo_root(), Env::default()).unwrap();
    let mut chat = set.pipelines["chat"].value.clone();
    // Left out, `background_template` is the shipped text unless `memories_template` shows its
    // variables, so the default is written out as that text.
    for step in &mut chat.steps {
        if let Step::BuildContext(build) = step {
            assert_eq!(
                build.background_template.as_deref(),
                Some(clara_config::model::prompts::BACKGROUND)
            );
            build.background_template = None;
        }
    }
    let defaults = vec![
        Step::Ingest(IngestStep::default()),
        Step::ClassifyTier(ClassifyTierStep::default()),
        Step::BuildContext(BuildContextStep::default()),
        Step::LlmCall(LlmCallStep::default()),
        Step::ToolLoop(ToolLoopStep::default()),
        Step::WriteMemory(WriteMemoryStep::default()),
    ];
    assert_eq!(chat.steps, defaults);
}

#[test]
fn the_readmes_tool_examples_validate() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let examples: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(text, _)| text))
        .filter(|text| text.starts_with("#:schema ../schema/tool.schema.json"))
        .collect();
    assert_eq!(examples.len(), 4, "command, HTTP and two MCP examples");
    let root = support::shipped_root();
    for (i, example) in examples.iter().enumerate() {
        std::fs::write(
            root.path().join(format!("tools.d/readme_{i}.toml")),
            example,
        )
        .unwrap();
    }
    let out = support::clara(root.path())
        .args(["validate", "--offline"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
