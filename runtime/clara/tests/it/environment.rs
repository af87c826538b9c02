//! The environment a root is checked against: `.env` in the root, process variables winning
//! over it, `CLARA_SECTION__KEY` overrides layered over `clara.toml`, and secret checks.

use std::path::Path;

use crate::support::{base_root, clara};

/// The fixture base root with an API key variable on its provider.
fn keyed_root() -> tempfile::TempDir {
    let dir = base_root();
    let clara = dir.path().join("clara.toml");
    let text = std::fs::read_to_string(&clara).unwrap();
    std::fs::write(
        &clara,
        text.replace(
            "model = \"llama3\"",
            "model = \"llama3\"\napi_key_env = \"LOCAL_KEY\"",
        ),
    )
    .unwrap();
    dir
}

fn validate(root: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut command = clara(root);
    command.arg("validate");
    command.envs(env.iter().copied());
    let out = command.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_missing_secret_is_reported_at_its_key_and_offline_skips_it() {
    let root = keyed_root();
    let (code, out) = validate(root.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "clara.toml:9:15: environment variable `LOCAL_KEY` is not set (needed by provider `local`: the default provider, memory extraction)\n\
         the files are valid: clara.toml, 1 persona, 1 pipeline, 1 tool, 1 hook and 0 tasks in 1 hook file\n\
         clara chat: needs LOCAL_KEY\n\
         clara run: needs LOCAL_KEY\n"
    );
    let (code, _) = validate(root.path(), &[("LOCAL_KEY", "")]);
    assert_eq!(code, 1, "an empty variable counts as unset");
    let (code, out) = validate(root.path(), &[("LOCAL_KEY", "secret")]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn dot_env_supplies_secrets_and_overrides_and_the_process_wins() {
    let root = keyed_root();
    std::fs::write(
        root.path().join(".env"),
        "LOCAL_KEY=from-dotenv\nCLARA_SESSIONS__IDLE_TIMEOUT_MINUTES=0\n",
    )
    .unwrap();
    let (code, out) = validate(root.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "$CLARA_SESSIONS__IDLE_TIMEOUT_MINUTES: must be at least 1\n"
    );
    let (code, out) = validate(
        root.path(),
        &[("CLARA_SESSIONS__IDLE_TIMEOUT_MINUTES", "45")],
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn overrides_are_checked_like_file_values() {
    let root = keyed_root();
    let env = [
        ("LOCAL_KEY", "k"),
        ("CLARA_DEFAULTS__PERSONA", "robot"),
        ("CLARA_PROVIDERS__LOCAL__TEMPERATURE", "\"warm\""),
        ("CLARA_STATUS__BINDD", "0.0.0.0:1"),
        ("CLARA_ROOT", "ignored: not an override"),
        ("CLARA_EVENT_TYPE", "ignored too"),
    ];
    let (code, out) = validate(root.path(), &env);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "$CLARA_PROVIDERS__LOCAL__TEMPERATURE: expected a number, found a string\n\
         $CLARA_STATUS__BINDD: unknown key `bindd`, did you mean `bind`?\n"
    );
    let (code, out) = validate(
        root.path(),
        &[("LOCAL_KEY", "k"), ("CLARA_DEFAULTS__PERSONA", "robot")],
    );
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "$CLARA_DEFAULTS__PERSONA: unknown persona `robot`; expected one of: clara\n"
    );
}

#[test]
fn a_broken_dot_env_line_is_reported_with_its_line() {
    let root = keyed_root();
    std::fs::write(
        root.path().join(".env"),
        "LOCAL_KEY=x\nTHIS IS NOT A LINE\n",
    )
    .unwrap();
    let (code, out) = validate(root.path(), &[]);
    assert_eq!(code, 1);
    assert!(out.starts_with(".env:2:"), "{out}");
}
