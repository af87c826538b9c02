//! A folder standing in for GitHub, for installing MCP servers from `github.com/OWNER/REPO`
//! without a network: bare git repositories cloned over `file://`.

use std::path::Path;
use std::process::Command;

/// A stand-in for GitHub holding `acme/tiny-mcp`, the tiny MCP server (one tool, `shout`) as a
/// Node package with a build script; its `file://` address, for `[mcp] github_url`.
pub fn tiny_hub() -> (tempfile::TempDir, String) {
    let hub = tempfile::tempdir().unwrap();
    let server = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/tiny_server.mjs"),
    )
    .unwrap();
    repository(
        hub.path(),
        "acme",
        "tiny-mcp",
        &[
            (
                "package.json",
                r#"{"name": "tiny-mcp", "version": "1.0.0", "type": "module", "bin": {"tiny-mcp": "./server.mjs"}, "scripts": {"build": "node -e \"require('fs').writeFileSync('built.txt', 'yes')\""}}"#.to_owned(),
            ),
            ("server.mjs", server),
        ],
    );
    let url = format!("file://{}", hub.path().display());
    (hub, url)
}

/// A bare repository `OWNER/NAME.git` under `base` holding `files`.
pub fn repository(base: &Path, owner: &str, name: &str, files: &[(&str, String)]) {
    let work = base.join("work").join(name);
    std::fs::create_dir_all(&work).unwrap();
    for (file, text) in files {
        std::fs::write(work.join(file), text).unwrap();
    }
    let bare = base.join(owner).join(format!("{name}.git"));
    let git = |dir: &Path, args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "a server"]);
    std::fs::create_dir_all(base.join(owner)).unwrap();
    git(
        base,
        &[
            "clone",
            "--quiet",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
}
