//! Installing an MCP server is writing its manifest: what its source needs is fetched and
//! built into `[mcp] servers_dir`, the server is started once to list its tools, and only then
//! is `tools.d/NAME.toml` written, in one step, for hot reload to pick up. Also removing,
//! enabling and disabling installed servers. Each way in (`clara mcp`, the chat tools) goes
//! through here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clara_config::model::mcp::McpConfig;
use clara_config::model::tool::{Runner, ToolManifest};
use clara_config::{ConfigSet, Env};
use tokio::process::Command;

use super::Launch;
pub use super::install_error::InstallError;
use super::manifest_file::{
    WriteNew, check_name, comment_lines, file_name, manifest_text, manifest_working_dir,
    write_atomically, write_new, yaml_with_enabled,
};
use super::oauth_discovery;
use super::server_build::{Builder, local_command, node_entry, package_name};
use super::server_grants::{GrantError, Grants, PendingInstall};
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
    /// Headers for a streamable-HTTP server: templates over `env` (`Bearer {{ env.KEY }}`,
    /// with `KEY` among `secrets_env`), so no secret is written into the manifest.
    pub headers: BTreeMap<String, String>,
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

impl Installed {
    /// Its tools as the model sees them: `NAME__TOOL`.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools
            .iter()
            .map(|(tool, _)| super::model_name(&self.name, tool))
            .collect()
    }
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
    /// The names of the root's tools now (a manifest's `name` may differ from its file's),
    /// and the built-in ones.
    taken: Vec<String>,
    /// Where the grants of servers that ask for OAuth are kept, and who asks (the link's
    /// owner).
    grants: Option<(Arc<Grants>, String)>,
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
            grants: None,
            taken: clara_config::model::tool::BUILTIN_TOOLS
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        }
    }

    /// Also refuses the names of `set`'s tools, whichever files they are in.
    pub fn beside(self, set: &ConfigSet) -> Installer<'a> {
        let names: Vec<String> = set.tools.keys().cloned().collect();
        self.taking_none_of(&names)
    }

    /// Also refuses `names` (the root's tools, when its set is gone).
    pub fn taking_none_of(mut self, names: &[String]) -> Installer<'a> {
        self.taken.extend(names.iter().cloned());
        self
    }

    /// The installer for someone asking from the chat, Discord or the gateway: servers from
    /// this machine's files (any program) are refused, and so are `secrets_env` names among
    /// `own`, clara's own secrets ([`own_secrets`]).
    pub fn for_others(mut self, own: Vec<String>) -> Installer<'a> {
        self.others = Some(own);
        self
    }

    /// Lets a server that asks for OAuth be authorized: `asker` gets the link, the grant is
    /// kept among `grants` (none: such a server is refused with what to set).
    pub fn authorizing(mut self, grants: Option<Arc<Grants>>, asker: &str) -> Installer<'a> {
        self.grants = grants.map(|g| (g, asker.to_owned()));
        self
    }

    /// Fetches and builds what `install` needs, starts the server once to list its tools,
    /// and writes its manifest. On any failure nothing is left behind. A server that asks
    /// for OAuth and is not authorized yet gives [`InstallError::Authorize`] with the link;
    /// the callback finishes the install.
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
        if self.taken.contains(&name) {
            return Err(InstallError::NameInUse(name));
        }
        self.check_asker(&source, install)?;
        if let McpSource::Http(url) = &source {
            check_url(url)?;
        }
        check_headers(install)?;
        let oauth = match &source {
            McpSource::Http(url) => self.authorization(&name, url, install).await?,
            _ => false,
        };
        // One deadline for fetching, building and the first start together.
        let timeout = Duration::from_secs(u64::from(self.config.install_timeout_secs));
        let deadline = tokio::time::Instant::now() + timeout;
        let mut prepared = match self.prepare(&source, &name, install, deadline).await {
            Ok(prepared) => prepared,
            Err((error, built)) => {
                // Only a folder this install made is removed.
                if let Some(dir) = built {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(error);
            }
        };
        if let Runner::Mcp { oauth: wanted, .. } = &mut prepared.runner {
            *wanted = oauth;
        }
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

    /// Whether the server at `url` asks for OAuth and `name` holds its grant. One that asks
    /// and holds none gives the link to authorize it, keeping `install` for the callback.
    async fn authorization(
        &self,
        name: &str,
        url: &str,
        install: &Install,
    ) -> Result<bool, InstallError> {
        // A server given its credentials in a header is not asked for OAuth.
        let authenticated = install
            .headers
            .keys()
            .any(|h| h.eq_ignore_ascii_case("authorization"));
        if authenticated {
            return Ok(false);
        }
        let http = oauth_discovery::client();
        let Some(challenge) = oauth_discovery::challenge(&http, url).await else {
            return Ok(false);
        };
        let server = oauth_discovery::discover(&http, url, &challenge).await;
        let server = server.map_err(|why| {
            InstallError::Start(format!(
                "it asks for credentials (HTTP 401) and offers no OAuth authorization clara can use ({why}); if it takes a key, give it with --header 'Authorization=Bearer {{{{ env.KEY }}}}' --secret-env KEY"
            ))
        })?;
        let Some((grants, asker)) = &self.grants else {
            return Err(GrantError::NoKey(name.to_owned()).into());
        };
        if grants.is_authorized(name, url).await? {
            return Ok(true);
        }
        let pending = PendingInstall {
            headers: install.headers.clone(),
            secrets_env: install.secrets_env.clone(),
            named: install.name.is_some(),
            refused_secrets: self.others.clone(),
        };
        let link = grants
            .begin(name, url, server, Some(pending), asker)
            .await?;
        Err(InstallError::Authorize {
            name: name.to_owned(),
            link,
        })
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
        let text = manifest_text(source, name, install.name.is_some(), &prepared.runner);
        let manifest: ToolManifest = toml::from_str(&text)
            .map_err(|e| InstallError::Files(format!("the manifest would not load: {e}")))?;
        let launch = self.launch(name, &manifest)?;
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

    /// Deletes `name`'s manifest, the files built for it and its OAuth grant; what was
    /// removed, for people.
    pub async fn remove(&self, name: &str) -> Result<String, InstallError> {
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
        if let Some((grants, _)) = &self.grants
            && let Err(error) = grants.forget(name).await
        {
            tracing::warn!(server = name, %error, "its OAuth grant could not be forgotten");
        }
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
            match yaml_with_enabled(&text, enabled) {
                Some(edited) => edited,
                None => return Ok(false),
            }
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
            let doc: toml_edit::DocumentMut = text
                .parse()
                .map_err(|e| InstallError::Files(format!("{}: {e}", file.display())))?;
            doc.get("runner")
                .and_then(|r| r.get("type")?.as_str())
                .is_some_and(|t| t == "mcp")
        } else {
            // `runner:`'s `type`, one level in.
            text.lines().any(|l| {
                let key = l.strip_prefix("  ").filter(|k| !k.starts_with(' '));
                key.is_some_and(|k| {
                    ["type: mcp", "type: \"mcp\"", "type: 'mcp'"].contains(&k.trim_end())
                })
            })
        };
        if is_mcp {
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
            oauth: false,
            secrets_env: install.secrets_env.clone(),
            tools: vec!["*".to_owned()],
        };
        match source {
            McpSource::Npm(package) => {
                self.builder()
                    .need("npm", "npm: sources are installed with npm (Node.js)")?;
                let dir = self.fresh_dir(name)?;
                *made = Some(dir.clone());
                let prefix = dir.to_string_lossy().into_owned();
                self.builder()
                    .run(
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
                let (program, args) = if self.builder().has("uvx") {
                    ("uvx", vec![package.clone()])
                } else if self.builder().has("pipx") {
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
                self.builder()
                    .need("docker", "docker: sources run with Docker")?;
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
                    headers: install.headers.clone(),
                    oauth: false,
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
                self.builder()
                    .need("git", "github.com sources are cloned with git")?;
                let dir = self.fresh_dir(name)?;
                *made = Some(dir.clone());
                let url = format!(
                    "{}/{owner}/{repo}.git",
                    self.config.github_url.trim_end_matches('/')
                );
                let target = dir.to_string_lossy().into_owned();
                self.builder()
                    .run(
                        "git clone",
                        Command::new("git")
                            .args(["clone", "--depth", "1", "--quiet", &url, &target]),
                        deadline,
                    )
                    .await?;
                let (command, args) = self.builder().build_repository(&dir, deadline).await?;
                Ok(Prepared {
                    runner: stdio(&command, args, Some(relative(self.root, &dir))),
                    built: Some(dir),
                })
            }
        }
    }

    /// How the manifest's server starts, as the runtime starts it.
    fn launch(&self, name: &str, manifest: &ToolManifest) -> Result<Launch, InstallError> {
        let grants = self.grants.as_ref().map(|(g, _)| g);
        super::launch_in(self.root, self.env, name, manifest, grants).map_err(InstallError::Start)
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

    /// A variable of clara's environment (a `.env` may set it), else of the process.
    fn host_var(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .map(str::to_owned)
            .or_else(|| std::env::var(name).ok())
    }

    /// What runs build steps with the programs on clara's `PATH`.
    fn builder(&self) -> Builder {
        Builder {
            path: self.host_var("PATH").unwrap_or_default(),
        }
    }

    /// The manifest file named `name`, whatever its extension.
    fn manifest_file(&self, name: &str) -> Option<PathBuf> {
        ["toml", "yaml", "yml"]
            .iter()
            .map(|ext| self.tools_dir().join(format!("{name}.{ext}")))
            .find(|f| f.exists())
    }
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

/// Refuses a header that would write a secret into the manifest: one that authenticates must
/// read it from a variable.
fn check_headers(install: &Install) -> Result<(), InstallError> {
    for (name, value) in &install.headers {
        let lower = name.to_ascii_lowercase();
        let secretive = ["authorization", "token", "key", "secret", "cookie"]
            .iter()
            .any(|w| lower.contains(w));
        if secretive && !value.contains("{{") {
            return Err(InstallError::Refused(format!(
                "header `{name}` would write its secret into the manifest: give it as a template, like `{name}=Bearer {{{{ env.NAME }}}}` with --secret-env NAME"
            )));
        }
    }
    Ok(())
}
