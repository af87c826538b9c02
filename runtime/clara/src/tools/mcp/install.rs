//! Installing an MCP server is writing its manifest: what its source needs is fetched and
//! built into `[mcp] servers_dir`, the server is started once to list its tools, and only then
//! is `tools.d/NAME.toml` written, in one step, for hot reload to pick up. Also removing,
//! enabling and disabling installed servers. Each way in (`clara mcp`, the chat tools) goes
//! through here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clara_config::model::mcp::McpConfig;
use clara_config::model::tool::{Runner, ToolManifest};
use clara_config::{ConfigSet, Env};
use tokio::process::Command;

use super::Launch;
use super::source::McpSource;

/// What to install.
#[derive(Clone, Debug, Default)]
pub struct Install {
    /// The source, as written (`npm:PKG`, `github.com/OWNER/REPO`, …).
    pub source: String,
    /// The manifest's name; the source suggests one when unset.
    pub name: Option<String>,
    /// Variables set for the server (written into the manifest: not for secrets).
    pub env: BTreeMap<String, String>,
    /// Host variables passed to the server (their values stay out of the manifest).
    pub secrets_env: Vec<String>,
    /// More arguments for the server.
    pub args: Vec<String>,
}

/// An installed server.
#[derive(Debug)]
pub struct Installed {
    /// Its manifest's name: its tools are `NAME__TOOL`.
    pub name: String,
    /// The manifest written.
    pub file: PathBuf,
    /// The tools it listed, with their descriptions.
    pub tools: Vec<(String, String)>,
}

/// Why an install or a change was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The source is none of the known forms.
    #[error(
        "`{0}` is not a server source: use npm:PACKAGE, pypi:PACKAGE, github.com/OWNER/REPO, docker:IMAGE, a path (./server.js) or an https:// URL"
    )]
    Source(String),
    /// A local source that is not there.
    #[error("there is no {0}")]
    NotFound(String),
    /// The name cannot be a manifest's.
    #[error("`{0}` is not a valid name: use letters, digits, `_` and `-`")]
    Name(String),
    /// A manifest of that name exists.
    #[error("`{name}` is taken by tools.d/{file}: choose another name, or remove it first")]
    Taken {
        /// The name.
        name: String,
        /// The file that has it.
        file: String,
    },
    /// A program the source needs is not installed.
    #[error("{0}")]
    Missing(String),
    /// Fetching or building failed.
    #[error("{step} failed: {why}")]
    Build {
        /// What was run.
        step: String,
        /// Its last words.
        why: String,
    },
    /// The server did not start or list its tools.
    #[error("the server did not start: {0}")]
    Start(String),
    /// Not allowed for who asked.
    #[error("{0}")]
    Refused(String),
    /// No installed server has that name.
    #[error("no MCP server is called `{0}` in tools.d")]
    Unknown(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Files(String),
}

/// Installs into one root.
pub struct Installer<'a> {
    root: &'a Path,
    config: &'a McpConfig,
    env: &'a Env,
    client: reqwest::Client,
    /// Set when someone asks from the chat, Discord or the gateway rather than at this
    /// machine: clara's own secret variables, which such an install may not hand a server.
    others: Option<Vec<String>>,
}

/// What a prepared source runs.
struct Prepared {
    runner: Runner,
    /// The folder built for it, removed again when the install fails.
    built: Option<PathBuf>,
}

impl<'a> Installer<'a> {
    /// An installer for the root at `root`, with its `[mcp]` settings and environment.
    pub fn new(
        root: &'a Path,
        config: &'a McpConfig,
        env: &'a Env,
        client: reqwest::Client,
    ) -> Installer<'a> {
        Installer {
            root,
            config,
            env,
            client,
            others: None,
        }
    }

    /// The installer for someone asking from the chat, Discord or the gateway: servers from
    /// this machine's files (any program) are refused, and so are `secrets_env` names among
    /// `own`, clara's own secrets ([`own_secrets`]).
    pub fn for_others(mut self, own: Vec<String>) -> Installer<'a> {
        self.others = Some(own);
        self
    }

    /// Fetches and builds what `install` needs, starts the server once to list its tools,
    /// and writes its manifest. On any failure nothing is left behind.
    pub async fn add(&self, install: &Install) -> Result<Installed, InstallError> {
        let source = McpSource::parse(&install.source)
            .ok_or_else(|| InstallError::Source(install.source.clone()))?;
        let name = match &install.name {
            Some(name) => name.trim().to_owned(),
            None => source.suggested_name(),
        };
        check_name(&name)?;
        if let Some(file) = self.manifest_file(&name) {
            return Err(InstallError::Taken {
                name,
                file: file_name(&file),
            });
        }
        self.check_asker(&source, install)?;
        if let McpSource::Http(url) = &source {
            check_url(url)?;
        }
        // One deadline for fetching, building and the first start together.
        let timeout = Duration::from_secs(u64::from(self.config.install_timeout_secs));
        let deadline = tokio::time::Instant::now() + timeout;
        let prepared = match self.prepare(&source, &name, install, deadline).await {
            Ok(prepared) => prepared,
            Err((error, built)) => {
                // Only a folder this install made is removed.
                if let Some(dir) = built {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(error);
            }
        };
        let written = self.check_and_write(&source, &name, install, &prepared, deadline);
        match written.await {
            Ok(installed) => Ok(installed),
            Err(error) => {
                if let Some(dir) = &prepared.built {
                    let _ = std::fs::remove_dir_all(dir);
                }
                Err(error)
            }
        }
    }

    /// Starts the prepared server once and, when it lists its tools, writes the manifest.
    async fn check_and_write(
        &self,
        source: &McpSource,
        name: &str,
        install: &Install,
        prepared: &Prepared,
        deadline: tokio::time::Instant,
    ) -> Result<Installed, InstallError> {
        let text = manifest_text(source, name, install, &prepared.runner);
        let manifest: ToolManifest = toml::from_str(&text)
            .map_err(|e| InstallError::Files(format!("the manifest would not load: {e}")))?;
        let launch = self.launch(&manifest)?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let tools = super::probe(&launch, &self.client, left)
            .await
            .map_err(InstallError::Start)?;
        let listed = tools
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let text = text.replacen(
            "\n\ndescription",
            &format!(
                "\n{}\n\ndescription",
                comment_lines(&format!("Its tools when installed: {listed}."))
            ),
            1,
        );
        let file = self.tools_dir().join(format!("{name}.toml"));
        write_new(&file, &text).map_err(|e| match e {
            // Another install of the same name finished first.
            WriteNew::Exists => InstallError::Taken {
                name: name.to_owned(),
                file: file_name(&file),
            },
            WriteNew::Failed(e) => e,
        })?;
        Ok(Installed {
            name: name.to_owned(),
            file,
            tools,
        })
    }

    /// Deletes `name`'s manifest and the files built for it; what was removed, for people.
    pub fn remove(&self, name: &str) -> Result<String, InstallError> {
        let file = self.mcp_manifest(name)?;
        // The folder an install built, and only that: the one the manifest runs from, when it
        // is this server's folder under the servers folder.
        let built = self.built_dir(name);
        let own = manifest_working_dir(&file).is_some_and(|dir| self.root.join(dir) == built)
            && built.is_dir();
        if own {
            std::fs::remove_dir_all(&built).map_err(|e| {
                InstallError::Files(format!("cannot remove {}: {e}", built.display()))
            })?;
        }
        std::fs::remove_file(&file)
            .map_err(|e| InstallError::Files(format!("cannot remove {}: {e}", file.display())))?;
        Ok(if own {
            format!(
                "removed tools.d/{} and {}",
                file_name(&file),
                relative(self.root, &built)
            )
        } else {
            format!("removed tools.d/{}", file_name(&file))
        })
    }

    /// Sets `enabled` in `name`'s manifest, keeping the rest of the file as it is. Whether it
    /// changed.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<bool, InstallError> {
        let file = self.mcp_manifest(name)?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| InstallError::Files(format!("cannot read {}: {e}", file.display())))?;
        let changed = if file.extension().is_some_and(|e| e == "toml") {
            let mut doc: toml_edit::DocumentMut = text
                .parse()
                .map_err(|e| InstallError::Files(format!("{}: {e}", file.display())))?;
            let now = doc.get("enabled").and_then(toml_edit::Item::as_bool);
            if now.unwrap_or(true) == enabled {
                return Ok(false);
            }
            doc["enabled"] = toml_edit::value(enabled);
            doc.to_string()
        } else {
            let line = format!("enabled: {enabled}");
            let mut found = false;
            let mut lines: Vec<String> = text
                .lines()
                .map(|l| {
                    if l.starts_with("enabled:") {
                        found = true;
                        line.clone()
                    } else {
                        l.to_owned()
                    }
                })
                .collect();
            if !found {
                lines.insert(0, line);
            }
            let edited = lines.join("\n") + "\n";
            if edited == text {
                return Ok(false);
            }
            edited
        };
        write_atomically(&file, &changed)?;
        Ok(true)
    }

    /// The manifest of MCP server `name`, refusing a tool of another kind.
    fn mcp_manifest(&self, name: &str) -> Result<PathBuf, InstallError> {
        check_name(name)?;
        let file = self
            .manifest_file(name)
            .ok_or_else(|| InstallError::Unknown(name.to_owned()))?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| InstallError::Files(format!("cannot read {}: {e}", file.display())))?;
        let is_mcp = if file.extension().is_some_and(|e| e == "toml") {
            text.parse::<toml_edit::DocumentMut>()
                .ok()
                .and_then(|d| d.get("runner")?.get("type")?.as_str().map(|t| t == "mcp"))
        } else {
            Some(text.lines().any(|l| {
                let l = l.trim();
                l == "type: mcp" || l == "type: \"mcp\""
            }))
        };
        if is_mcp == Some(true) {
            Ok(file)
        } else {
            Err(InstallError::Unknown(name.to_owned()))
        }
    }

    /// Fetches and builds what the source needs; the runner that starts it. A failure comes
    /// with the folder it made, if it made one.
    async fn prepare(
        &self,
        source: &McpSource,
        name: &str,
        install: &Install,
        deadline: tokio::time::Instant,
    ) -> Result<Prepared, (InstallError, Option<PathBuf>)> {
        let mut made = None;
        let prepared = self
            .prepare_into(source, name, install, deadline, &mut made)
            .await;
        prepared.map_err(|error| (error, made))
    }

    async fn prepare_into(
        &self,
        source: &McpSource,
        name: &str,
        install: &Install,
        deadline: tokio::time::Instant,
        made: &mut Option<PathBuf>,
    ) -> Result<Prepared, InstallError> {
        let stdio = |command: &str, args: Vec<String>, working_dir: Option<String>| Runner::Mcp {
            command: Some(command.to_owned()),
            args: args.into_iter().chain(install.args.clone()).collect(),
            env: install.env.clone(),
            working_dir,
            url: None,
            headers: BTreeMap::new(),
            secrets_env: install.secrets_env.clone(),
            tools: vec!["*".to_owned()],
        };
        match source {
            McpSource::Npm(package) => {
                self.need("npm", "npm: sources are installed with npm (Node.js)")?;
                let dir = self.fresh_dir(name)?;
                *made = Some(dir.clone());
                let prefix = dir.to_string_lossy().into_owned();
                self.run(
                    "npm install",
                    Command::new("npm").args([
                        "install",
                        "--prefix",
                        &prefix,
                        "--no-audit",
                        "--no-fund",
                        "--loglevel=error",
                        package,
                    ]),
                    deadline,
                )
                .await?;
                let package_dir = dir.join("node_modules").join(package_name(package));
                let entry = node_entry(&package_dir)?;
                let script = relative(&dir, &package_dir.join(entry));
                Ok(Prepared {
                    runner: stdio("node", vec![script], Some(relative(self.root, &dir))),
                    built: Some(dir),
                })
            }
            McpSource::Pypi(package) => {
                let (program, args) = if self.on_path("uvx") {
                    ("uvx", vec![package.clone()])
                } else if self.on_path("pipx") {
                    ("pipx", vec!["run".to_owned(), package.clone()])
                } else {
                    return Err(InstallError::Missing(
                        "pypi: sources run with uvx or pipx, and neither is installed (pip install uv)"
                            .to_owned(),
                    ));
                };
                let mut runner = stdio(program, args, None);
                // They keep their downloads under the user's home.
                if let Runner::Mcp { secrets_env, .. } = &mut runner {
                    for name in [
                        "HOME",
                        "UV_CACHE_DIR",
                        "UV_INDEX_URL",
                        "UV_FIND_LINKS",
                        "UV_OFFLINE",
                        "PIP_INDEX_URL",
                    ] {
                        if self.host_var(name).is_some() && !secrets_env.iter().any(|n| n == name) {
                            secrets_env.push(name.to_owned());
                        }
                    }
                }
                Ok(Prepared {
                    runner,
                    built: None,
                })
            }
            McpSource::Docker(image) => {
                self.need("docker", "docker: sources run with Docker")?;
                let mut args = vec!["run".to_owned(), "-i".to_owned(), "--rm".to_owned()];
                // The variables reach the container by name; their values stay in the env.
                for key in install.env.keys().chain(&install.secrets_env) {
                    args.extend(["-e".to_owned(), key.clone()]);
                }
                args.push(image.clone());
                Ok(Prepared {
                    runner: stdio("docker", args, None),
                    built: None,
                })
            }
            McpSource::Http(url) => Ok(Prepared {
                runner: Runner::Mcp {
                    command: None,
                    args: Vec::new(),
                    env: BTreeMap::new(),
                    working_dir: None,
                    url: Some(url.clone()),
                    headers: BTreeMap::new(),
                    secrets_env: install.secrets_env.clone(),
                    tools: vec!["*".to_owned()],
                },
                built: None,
            }),
            McpSource::Local(path) => {
                let path = if path.is_absolute() {
                    path.clone()
                } else {
                    std::env::current_dir()
                        .map_err(|e| InstallError::Files(e.to_string()))?
                        .join(path)
                };
                let path = path
                    .canonicalize()
                    .map_err(|_| InstallError::NotFound(path.display().to_string()))?;
                let (command, args) = local_command(&path)?;
                Ok(Prepared {
                    runner: stdio(&command, args, None),
                    built: None,
                })
            }
            McpSource::GitHub { owner, repo } => {
                self.need("git", "github.com sources are cloned with git")?;
                let dir = self.fresh_dir(name)?;
                *made = Some(dir.clone());
                let url = format!(
                    "{}/{owner}/{repo}.git",
                    self.config.github_url.trim_end_matches('/')
                );
                let target = dir.to_string_lossy().into_owned();
                self.run(
                    "git clone",
                    Command::new("git").args(["clone", "--depth", "1", "--quiet", &url, &target]),
                    deadline,
                )
                .await?;
                let (command, args) = self.build_repository(&dir, deadline).await?;
                Ok(Prepared {
                    runner: stdio(&command, args, Some(relative(self.root, &dir))),
                    built: Some(dir),
                })
            }
        }
    }

    /// Builds a cloned repository by its package manifest; the command (relative to it) that
    /// starts its server.
    async fn build_repository(
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
    async fn run(
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

    /// How the manifest's server starts, as the runtime starts it.
    fn launch(&self, manifest: &ToolManifest) -> Result<Launch, InstallError> {
        let Runner::Mcp {
            command,
            args,
            env,
            working_dir,
            url,
            secrets_env,
            ..
        } = &manifest.runner
        else {
            unreachable!("installs write mcp manifests");
        };
        if let Some(url) = url {
            return Ok(Launch::Http {
                url: url.clone(),
                headers: BTreeMap::new(),
            });
        }
        let program = command.clone().unwrap_or_default();
        let working_dir = self.root.join(working_dir.as_deref().unwrap_or("."));
        let program = if program.contains('/') && Path::new(&program).is_relative() {
            working_dir.join(&program).to_string_lossy().into_owned()
        } else {
            program
        };
        Ok(Launch::Stdio {
            program,
            args: args.clone(),
            env: crate::tools::program_env(env, secrets_env, self.env),
            working_dir,
        })
    }

    fn tools_dir(&self) -> PathBuf {
        self.root.join(clara_config::set::TOOLS_DIR)
    }

    fn built_dir(&self, name: &str) -> PathBuf {
        self.root.join(&self.config.servers_dir).join(name)
    }

    /// `name`'s new folder under the servers folder. One that exists already is someone's
    /// (a server installed by hand, another install under way) and is left alone.
    fn fresh_dir(&self, name: &str) -> Result<PathBuf, InstallError> {
        let dir = self.built_dir(name);
        let parent = dir.parent().unwrap_or(self.root);
        std::fs::create_dir_all(parent)
            .map_err(|e| InstallError::Files(format!("cannot create {}: {e}", parent.display())))?;
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(InstallError::Files(format!(
                    "{} exists already: remove it, or choose another name",
                    relative(self.root, &dir)
                )))
            }
            Err(e) => Err(InstallError::Files(format!(
                "cannot create {}: {e}",
                dir.display()
            ))),
        }
    }

    /// Refuses what only someone at this machine may install.
    fn check_asker(&self, source: &McpSource, install: &Install) -> Result<(), InstallError> {
        let Some(own) = &self.others else {
            return Ok(());
        };
        if matches!(source, McpSource::Local(_)) {
            return Err(InstallError::Refused(
                "a server from this machine's files runs any program: install it with `clara mcp add` on the machine".to_owned(),
            ));
        }
        if let Some(name) = install.secrets_env.iter().find(|n| own.contains(n)) {
            return Err(InstallError::Refused(format!(
                "`{name}` is one of clara's own secrets and is not handed to a server from the chat"
            )));
        }
        Ok(())
    }

    /// The manifest file named `name`, whatever its extension.
    fn manifest_file(&self, name: &str) -> Option<PathBuf> {
        ["toml", "yaml", "yml"]
            .iter()
            .map(|ext| self.tools_dir().join(format!("{name}.{ext}")))
            .find(|f| f.exists())
    }

    fn host_var(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .map(str::to_owned)
            .or_else(|| std::env::var(name).ok())
    }

    fn on_path(&self, program: &str) -> bool {
        let path = self.host_var("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
    }

    fn need(&self, program: &str, why: &str) -> Result<(), InstallError> {
        if self.on_path(program) {
            Ok(())
        } else {
            Err(InstallError::Missing(format!(
                "{why}, and `{program}` is not installed"
            )))
        }
    }
}

/// The manifest an install writes, before its tools are known.
fn manifest_text(source: &McpSource, name: &str, install: &Install, runner: &Runner) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    doc["description"] = toml_edit::value(format!("MCP server {source}"));
    doc["enabled"] = toml_edit::value(true);
    let mut table = toml_edit::Table::new();
    if let Runner::Mcp {
        command,
        args,
        env,
        working_dir,
        url,
        secrets_env,
        ..
    } = runner
    {
        table["type"] = toml_edit::value("mcp");
        if let Some(command) = command {
            table["command"] = toml_edit::value(command.as_str());
        }
        if !args.is_empty() {
            table["args"] = toml_edit::value(args.iter().collect::<toml_edit::Array>());
        }
        if let Some(dir) = working_dir {
            table["working_dir"] = toml_edit::value(dir.as_str());
        }
        if let Some(url) = url {
            table["url"] = toml_edit::value(url.as_str());
        }
        if !env.is_empty() {
            let mut inline = toml_edit::InlineTable::new();
            for (key, value) in env {
                inline.insert(key, value.as_str().into());
            }
            table["env"] = toml_edit::value(inline);
        }
        if !secrets_env.is_empty() {
            table["secrets_env"] =
                toml_edit::value(secrets_env.iter().collect::<toml_edit::Array>());
        }
    }
    doc["runner"] = toml_edit::Item::Table(table);
    let again = if install.name.is_some() {
        format!(" --name {name}")
    } else {
        String::new()
    };
    format!(
        "#:schema ../schema/tool.schema.json\n{}\n\n{doc}",
        comment_lines(&format!(
            "Installed by `clara mcp add {source}{again}`. Edit freely; `clara mcp remove {name}` deletes it and what was built for it."
        ))
    )
}

/// `text` as `# ` comment lines of at most 96 characters.
fn comment_lines(text: &str) -> String {
    let mut lines = vec![String::from("#")];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line at least");
        if last.len() + 1 + word.len() > 96 && last.len() > 1 {
            lines.push(format!("# {word}"));
        } else {
            last.push(' ');
            last.push_str(word);
        }
    }
    lines.join("\n")
}

/// Why a new file was not written.
enum WriteNew {
    /// A file of that name appeared meanwhile.
    Exists,
    /// It could not be written.
    Failed(InstallError),
}

/// Writes the new file `file` through a hidden one beside it, so a reload never reads half of
/// it and a file that appeared meanwhile is never replaced.
fn write_new(file: &Path, text: &str) -> Result<(), WriteNew> {
    let hidden = hidden_beside(file);
    let failed = |e: std::io::Error| {
        WriteNew::Failed(InstallError::Files(format!(
            "cannot write {}: {e}",
            file.display()
        )))
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    std::fs::write(&hidden, text).map_err(failed)?;
    // A hard link fails when the name is taken, where a rename would replace it.
    let linked = std::fs::hard_link(&hidden, file);
    let _ = std::fs::remove_file(&hidden);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(WriteNew::Exists),
        Err(e) => Err(failed(e)),
    }
}

/// A hidden file beside `file`, this process's and this call's alone.
fn hidden_beside(file: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = file.parent().unwrap_or(Path::new("."));
    dir.join(format!(
        ".{}.{}-{n}.partial",
        file_name(file),
        std::process::id()
    ))
}

/// Writes `text` over `file` through a hidden file beside it, so a reload never reads half of
/// it.
fn write_atomically(file: &Path, text: &str) -> Result<(), InstallError> {
    let hidden = hidden_beside(file);
    let failed =
        |e: std::io::Error| InstallError::Files(format!("cannot write {}: {e}", file.display()));
    std::fs::write(&hidden, text).map_err(failed)?;
    std::fs::rename(&hidden, file).map_err(|e| {
        let _ = std::fs::remove_file(&hidden);
        failed(e)
    })
}

fn check_name(name: &str) -> Result<(), InstallError> {
    let fine = !name.is_empty()
        && name.len() <= 48
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if fine {
        Ok(())
    } else {
        Err(InstallError::Name(name.to_owned()))
    }
}

/// The variables fetching and building get: where programs and caches are, proxies and the
/// certificates they need, and the package managers' own settings; nothing that could be a
/// key of clara's.
fn build_env() -> Vec<(String, String)> {
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
fn package_name(package: &str) -> &str {
    match package.rfind('@') {
        Some(at) if at > 0 => &package[..at],
        _ => package,
    }
}

/// The script a Node package's server starts from: its `bin` (the one named after the package
/// when there are several), else its `main`.
fn node_entry(package_dir: &Path) -> Result<String, InstallError> {
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
fn python_script(pyproject: &Path) -> Result<String, InstallError> {
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
fn local_command(path: &Path) -> Result<(String, Vec<String>), InstallError> {
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

fn read_json(file: &Path) -> Result<serde_json::Value, InstallError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| InstallError::Files(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| InstallError::Files(format!("{} is not JSON: {e}", file.display())))
}

fn file_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `path` relative to `base`, with `/`.
fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// The variables holding clara's own secrets: model keys, the bot token, the gateway's and
/// the connections' secrets, the key that seals users' tokens, database URLs.
pub fn own_secrets(set: &ConfigSet) -> Vec<String> {
    let config = &set.clara.value;
    let mut names: Vec<String> = Vec::new();
    for provider in config.providers.values() {
        names.extend(provider.api_key_env.clone());
        names.extend(provider.headers_env.values().cloned());
    }
    names.push(config.adapters.discord.token_env.clone());
    names.extend(config.adapters.gateway.secret_env.clone());
    names.push(config.runtime.secret_key_env.clone());
    for connection in config.connections.values() {
        names.extend(connection.client_secret_env.clone());
    }
    for store in config.stores.values() {
        if let clara_config::model::store::StoreConfig::Postgres { url_env, .. } = store {
            names.push(url_env.clone());
        }
    }
    names.push(config.mcp.smithery_key_env.clone());
    names
}

/// Refuses a server URL that carries credentials: they would be written into the manifest.
fn check_url(url: &str) -> Result<(), InstallError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| InstallError::Source(url.to_owned()))?;
    let secret_query = parsed.query_pairs().any(|(key, _)| {
        let key = key.to_ascii_lowercase();
        ["key", "token", "secret", "password", "auth"]
            .iter()
            .any(|w| key.contains(w))
    });
    if !parsed.username().is_empty() || parsed.password().is_some() || secret_query {
        return Err(InstallError::Refused(
            "the URL carries credentials, which would be written into the manifest: install it without them and add a header that reads them from a variable (see the README's MCP section)".to_owned(),
        ));
    }
    Ok(())
}

/// The `working_dir` a TOML manifest runs its server from.
fn manifest_working_dir(file: &Path) -> Option<String> {
    if file.extension().is_none_or(|e| e != "toml") {
        return None;
    }
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(file).ok()?.parse().ok()?;
    Some(doc.get("runner")?.get("working_dir")?.as_str()?.to_owned())
}
