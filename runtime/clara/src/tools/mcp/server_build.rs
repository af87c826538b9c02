//! Building an MCP server from its source: a cloned repository by its package manifest, each
//! step run with only the environment package managers need (never clara's secrets) and by
//! the install's deadline, and where a Node or Python package's server starts.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::install_error::InstallError;

/// Runs the steps of a build with the programs on `path`.
pub(super) struct Builder {
    /// Where programs are looked for (clara's `PATH`).
    pub(super) path: String,
}

impl Builder {
    /// Builds a cloned repository by its package manifest; the command (relative to it) that
    /// starts its server.
    pub(super) async fn build_repository(
        &self,
        dir: &Path,
        deadline: tokio::time::Instant,
    ) -> Result<(String, Vec<String>), InstallError> {
        let here = dir.to_string_lossy().into_owned();
        if dir.join("package.json").is_file() {
            self.need("npm", "this repository is a Node package, built with npm")?;
            self.run(
                "npm install",
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(dir),
                deadline,
            )
            .await?;
            let manifest = read_json(&dir.join("package.json"))?;
            if manifest.pointer("/scripts/build").is_some() {
                self.run(
                    "npm run build",
                    Command::new("npm")
                        .args(["run", "build", "--loglevel=error"])
                        .current_dir(dir),
                    deadline,
                )
                .await?;
            }
            let entry = node_entry(dir)?;
            return Ok(("node".to_owned(), vec![entry]));
        }
        if dir.join("pyproject.toml").is_file() {
            self.need(
                "python3",
                "this repository is a Python package, built with python3",
            )?;
            self.run(
                "python3 -m venv",
                Command::new("python3")
                    .args(["-m", "venv", ".venv"])
                    .current_dir(dir),
                deadline,
            )
            .await?;
            self.run(
                "pip install",
                Command::new(".venv/bin/pip")
                    .args(["install", "--quiet", "--disable-pip-version-check", &here])
                    .current_dir(dir),
                deadline,
            )
            .await?;
            let script = python_script(&dir.join("pyproject.toml"))?;
            return Ok((format!(".venv/bin/{script}"), Vec::new()));
        }
        if dir.join("Cargo.toml").is_file() {
            self.need(
                "cargo",
                "this repository is a Rust server: install Rust (https://rustup.rs) to build it",
            )?;
            self.run(
                "cargo build",
                Command::new("cargo")
                    .args(["build", "--release", "--quiet"])
                    .current_dir(dir),
                deadline,
            )
            .await?;
            let package = std::fs::read_to_string(dir.join("Cargo.toml"))
                .ok()
                .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok())
                .and_then(|d| Some(d.get("package")?.get("name")?.as_str()?.to_owned()))
                .ok_or_else(|| InstallError::Build {
                    step: "reading Cargo.toml".to_owned(),
                    why: "it names no package".to_owned(),
                })?;
            return Ok((format!("target/release/{package}"), Vec::new()));
        }
        if dir.join("go.mod").is_file() {
            self.need(
                "go",
                "this repository is a Go server: install Go (https://go.dev/dl) to build it",
            )?;
            self.run(
                "go build",
                Command::new("go")
                    .args(["build", "-o", "mcp-server", "."])
                    .current_dir(dir),
                deadline,
            )
            .await?;
            return Ok(("./mcp-server".to_owned(), Vec::new()));
        }
        Err(InstallError::Build {
            step: "recognizing the repository".to_owned(),
            why: "it has no package.json, pyproject.toml, Cargo.toml or go.mod to build it by"
                .to_owned(),
        })
    }

    /// Runs one step of fetching or building, with only the variables package managers need
    /// (never clara's secrets), by `deadline`.
    pub(super) async fn run(
        &self,
        step: &str,
        command: &mut Command,
        deadline: tokio::time::Instant,
    ) -> Result<(), InstallError> {
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
        command
            .env_clear()
            .envs(build_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(timeout, command.output())
            .await
            .map_err(|_| InstallError::Build {
                step: step.to_owned(),
                why: format!("it took longer than {} s", timeout.as_secs()),
            })?
            .map_err(|e| InstallError::Build {
                step: step.to_owned(),
                why: e.to_string(),
            })?;
        if output.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let said = if said.trim().is_empty() {
            String::from_utf8_lossy(&output.stdout)
        } else {
            said
        };
        let last: Vec<&str> = said.lines().rev().take(4).collect();
        let last: Vec<&str> = last.into_iter().rev().collect();
        Err(InstallError::Build {
            step: step.to_owned(),
            why: last.join(" / "),
        })
    }

    /// Whether `program` is on the path.
    pub(super) fn has(&self, program: &str) -> bool {
        std::env::split_paths(&self.path).any(|dir| dir.join(program).is_file())
    }

    pub(super) fn need(&self, program: &str, why: &str) -> Result<(), InstallError> {
        if self.has(program) {
            Ok(())
        } else {
            Err(InstallError::Missing(format!(
                "{why}, and `{program}` is not installed"
            )))
        }
    }
}

/// The variables fetching and building get: where programs and caches are, proxies and the
/// certificates they need, and the package managers' own settings; nothing that could be a
/// key of clara's.
pub(super) fn build_env() -> Vec<(String, String)> {
    const KEPT: [&str; 8] = [
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "USER",
        "CARGO_HOME",
        "GOPATH",
    ];
    const PREFIXES: [&str; 5] = ["npm_config_", "NPM_CONFIG_", "UV_", "PIP_", "GIT_"];
    std::env::vars()
        .filter(|(name, _)| {
            let upper = name.to_ascii_uppercase();
            KEPT.contains(&name.as_str())
                || PREFIXES.iter().any(|p| name.starts_with(p))
                || upper.ends_with("_PROXY")
                || upper.contains("CERT")
                || upper.contains("CA_BUNDLE")
                || upper.contains("CAINFO")
        })
        .filter(|(name, _)| {
            let upper = name.to_ascii_uppercase();
            !["TOKEN", "PASSWORD", "SECRET", "_KEY", "AUTH"]
                .iter()
                .any(|w| upper.contains(w))
        })
        .collect()
}

/// `@scope/name@1.2` without its version.
pub(super) fn package_name(package: &str) -> &str {
    match package.rfind('@') {
        Some(at) if at > 0 => &package[..at],
        _ => package,
    }
}

/// The script a Node package's server starts from: its `bin` (the one named after the package
/// when there are several), else its `main`.
pub(super) fn node_entry(package_dir: &Path) -> Result<String, InstallError> {
    let manifest = read_json(&package_dir.join("package.json"))?;
    let own = manifest
        .get("name")
        .and_then(|n| n.as_str())
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
        .unwrap_or_default();
    let entry = match manifest.get("bin") {
        Some(serde_json::Value::String(bin)) => Some(bin.clone()),
        Some(serde_json::Value::Object(bins)) => bins
            .get(&own)
            .or_else(|| (bins.len() == 1).then(|| bins.values().next()).flatten())
            .or_else(|| bins.values().next())
            .and_then(|b| b.as_str().map(str::to_owned)),
        _ => None,
    }
    .or_else(|| {
        manifest
            .get("main")
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    })
    .ok_or_else(|| InstallError::Build {
        step: "reading package.json".to_owned(),
        why: "it names no `bin` or `main` to start".to_owned(),
    })?;
    Ok(entry.trim_start_matches("./").to_owned())
}

/// The first console script a Python package declares (`[project.scripts]`).
pub(super) fn python_script(pyproject: &Path) -> Result<String, InstallError> {
    std::fs::read_to_string(pyproject)
        .ok()
        .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|d| {
            let scripts = d.get("project")?.get("scripts")?.as_table_like()?;
            scripts.iter().next().map(|(name, _)| name.to_owned())
        })
        .ok_or_else(|| InstallError::Build {
            step: "reading pyproject.toml".to_owned(),
            why: "it declares no [project.scripts] entry to start the server by".to_owned(),
        })
}

/// How a server on this machine starts: a script by its interpreter, a Node package folder by
/// its entry, a program as it is.
pub(super) fn local_command(path: &Path) -> Result<(String, Vec<String>), InstallError> {
    let shown = path.to_string_lossy().into_owned();
    if path.is_dir() {
        if path.join("package.json").is_file() {
            let entry = node_entry(path)?;
            return Ok((
                "node".to_owned(),
                vec![path.join(entry).to_string_lossy().into_owned()],
            ));
        }
        return Err(InstallError::Build {
            step: "recognizing the folder".to_owned(),
            why: format!(
                "{shown} has no package.json: name the server's script or program instead"
            ),
        });
    }
    let interpreter = match path.extension().and_then(|e| e.to_str()) {
        Some("js" | "mjs" | "cjs") => Some("node"),
        Some("py") => Some("python3"),
        Some("ts") => Some("npx tsx"),
        _ => None,
    };
    match interpreter {
        Some("npx tsx") => Ok(("npx".to_owned(), vec!["tsx".to_owned(), shown])),
        Some(program) => Ok((program.to_owned(), vec![shown])),
        None => Ok((shown, Vec::new())),
    }
}

pub(super) fn read_json(file: &Path) -> Result<serde_json::Value, InstallError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| InstallError::Files(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| InstallError::Files(format!("{} is not JSON: {e}", file.display())))
}
