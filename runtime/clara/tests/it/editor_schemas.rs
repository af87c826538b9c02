//! The schemas work in editors: an independent validator (taplo for TOML, Python's
//! `jsonschema` over ruamel.yaml — YAML 1.2, like editors — for YAML, both as editors use them) accepts every shipped file through its
//! `#:schema` / `yaml-language-server` line and rejects broken copies.
//!
//! The tools come from `.ci/run` (npm `@taplo/cli`, pip `jsonschema ruamel.yaml`). Without them
//! the test says so and passes locally; with `CI` set a missing tool fails it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::repo_root;

fn shipped(ext: &str) -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![];
    if ext == "toml" {
        files.push(root.join("clara.toml"));
    }
    for dir in [
        "personas",
        "pipelines",
        "tools.d",
        "hooks",
        "email/presets",
        "tests",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == ext) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn required(found: Option<PathBuf>, name: &str) -> PathBuf {
    found.unwrap_or_else(|| {
        panic!("CLARA_TEST_TOOLS is set but {name} is not installed (see .ci/run for how)")
    })
}

fn taplo() -> PathBuf {
    let local = repo_root().join("node_modules/.bin/taplo");
    let found = if local.exists() {
        Some(local)
    } else {
        Command::new("taplo")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from("taplo"))
    };
    required(found, "taplo")
}

fn taplo_accepts(taplo: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(taplo)
        .args(["check", "--no-auto-config"])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A copy of the shipped root (files and schemas) to break things in.
fn scratch_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    for sub in ["schema", "pipelines", "hooks", "tools.d", "personas"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for file in [
        "clara.toml",
        "pipelines/chat.toml",
        "hooks/hooks.yaml",
        "tools.d/everything.yaml",
    ] {
        std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
    }
    for entry in std::fs::read_dir(root.join("schema")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("schema").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    dir
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
fn taplo_accepts_every_shipped_toml_file() {
    let taplo = taplo();
    for file in shipped("toml") {
        let first_line = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            first_line.starts_with("#:schema "),
            "{} must start with a #:schema line",
            file.display()
        );
        let (ok, output) = taplo_accepts(&taplo, &file);
        assert!(ok, "taplo rejects {}:\n{output}", file.display());
    }
}

#[test]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
fn taplo_rejects_broken_copies() {
    let taplo = taplo();
    let broken = [
        (
            "clara.toml",
            "idle_timeout_minutes = 30",
            "idle_timeout_minutes = 30\nidle_timout = 5",
        ),
        (
            "clara.toml",
            "idle_timeout_minutes = 30",
            "idle_timeout_minutes = \"half an hour\"",
        ),
        ("pipelines/chat.toml", "max_rounds = 75", "max_roundz = 75"),
        (
            "pipelines/chat.toml",
            "max_rounds = 75",
            "max_rounds = \"many\"",
        ),
    ];
    for (file, from, to) in broken {
        let root = scratch_root();
        edit(&root.path().join(file), from, to);
        let (ok, _) = taplo_accepts(&taplo, &root.path().join(file));
        assert!(!ok, "taplo accepted {file} with `{to}`");
    }
}

/// Validates a YAML file against the schema named on its modeline, with Python's jsonschema.
const YAML_CHECK: &str = r##"
import json, os, re, sys, jsonschema
from ruamel.yaml import YAML
path = sys.argv[1]
text = open(path).read()
schema_ref = re.match(r"# yaml-language-server: \$schema=(\S+)", text).group(1)
schema = json.load(open(os.path.join(os.path.dirname(path), schema_ref)))
errors = list(jsonschema.Draft7Validator(schema).iter_errors(YAML(typ="safe").load(text) or {}))
for e in errors:
    print(f"{path}: {'/'.join(map(str, e.path))}: {e.message}")
sys.exit(1 if errors else 0)
"##;

fn python_jsonschema() -> PathBuf {
    let ok = Command::new("python3")
        .args(["-c", "import ruamel.yaml, jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    required(
        ok.then(|| PathBuf::from("python3")),
        "python3 with jsonschema and ruamel.yaml",
    )
}

fn yaml_accepted(python: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(python)
        .args(["-c", YAML_CHECK])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
fn json_schema_accepts_every_shipped_yaml_file() {
    let python = python_jsonschema();
    for file in shipped("yaml") {
        let (ok, output) = yaml_accepted(&python, &file);
        assert!(
            ok,
            "{} does not match its schema:\n{output}",
            file.display()
        );
    }
}

#[test]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
fn json_schema_rejects_broken_yaml_copies() {
    let python = python_jsonschema();
    let broken = [
        (
            "hooks/hooks.yaml",
            "    timeout: 10\n",
            "    timeout: 10\n    timout: 5\n",
        ),
        (
            "hooks/hooks.yaml",
            "    timeout: 10\n",
            "    timeout: soon\n",
        ),
        ("tools.d/everything.yaml", "  type: mcp\n", "  type: mcq\n"),
    ];
    for (file, from, to) in broken {
        let root = scratch_root();
        edit(&root.path().join(file), from, to);
        let (ok, _) = yaml_accepted(&python, &root.path().join(file));
        assert!(!ok, "the schema accepted {file} with `{}`", to.trim());
    }
}
