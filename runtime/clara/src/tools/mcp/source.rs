//! Where an MCP server to install comes from, as a person writes it: `npm:PKG`, `pypi:PKG`,
//! `github.com/OWNER/REPO`, `docker:IMAGE`, a local path or an `https://` URL. Parsing it and
//! the manifest name it suggests.

use std::fmt;
use std::path::PathBuf;

/// A server's source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpSource {
    /// An npm package (`@scope/name`, optionally `@version`), installed into the servers
    /// folder and run with Node.
    Npm(String),
    /// A PyPI package, run with `uvx` (or `pipx run`).
    Pypi(String),
    /// A GitHub repository, cloned into the servers folder and built by its manifest.
    GitHub {
        /// Its owner.
        owner: String,
        /// Its name.
        repo: String,
    },
    /// A Docker image, run with `docker run -i --rm`.
    Docker(String),
    /// A server on this machine: a script, a program, or a Node package folder.
    Local(PathBuf),
    /// A streamable-HTTP server.
    Http(String),
}

impl McpSource {
    /// Reads `text`; `None` when it is none of the forms above.
    pub fn parse(text: &str) -> Option<McpSource> {
        let text = text.trim();
        let rest = |prefix: &str| {
            text.strip_prefix(prefix)
                .map(str::trim)
                .filter(|r| !r.is_empty())
        };
        if let Some(package) = rest("npm:") {
            return npm_package(package).then(|| McpSource::Npm(package.to_owned()));
        }
        if let Some(package) = rest("pypi:") {
            return pypi_package(package).then(|| McpSource::Pypi(package.to_owned()));
        }
        if let Some(image) = rest("docker:") {
            // Never an option of `docker run`.
            let fine = !image.starts_with('-')
                && image
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
            return fine.then(|| McpSource::Docker(image.to_owned()));
        }
        if text.starts_with("https://") || text.starts_with("http://") {
            let url = reqwest::Url::parse(text).ok()?;
            if url.host_str() == Some("github.com") {
                return github(url.path());
            }
            return Some(McpSource::Http(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("github.com/") {
            return github(path);
        }
        if text.starts_with('/') || text.starts_with("./") || text.starts_with("../") {
            return Some(McpSource::Local(PathBuf::from(text)));
        }
        None
    }

    /// The manifest name it suggests: the package's, image's or repository's own name,
    /// without the `mcp-server-` kind of wording around it (`@modelcontextprotocol/
    /// server-everything` gives `everything`).
    pub fn suggested_name(&self) -> String {
        let base: String = match self {
            McpSource::Npm(package) | McpSource::Pypi(package) => {
                let unversioned = match package.rfind('@') {
                    Some(at) if at > 0 => &package[..at],
                    _ => package.as_str(),
                };
                unversioned
                    .rsplit('/')
                    .next()
                    .unwrap_or(unversioned)
                    .to_owned()
            }
            McpSource::GitHub { repo, .. } => repo.clone(),
            McpSource::Docker(image) => {
                let name = image.rsplit('/').next().unwrap_or(image);
                name.split([':', '@']).next().unwrap_or(name).to_owned()
            }
            McpSource::Local(path) => path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("server")
                .to_owned(),
            // `mcp.example.com` is example's server.
            McpSource::Http(url) => reqwest::Url::parse(url)
                .ok()
                .and_then(|u| {
                    let host = u.host_str()?.to_owned();
                    host.split('.').rev().nth(1).map(str::to_owned)
                })
                .unwrap_or_else(|| "server".to_owned()),
        };
        let mut name = base.to_lowercase();
        for wording in ["mcp-server-", "server-", "mcp-", "mcp_server_", "mcp_"] {
            if let Some(rest) = name.strip_prefix(wording).filter(|r| !r.is_empty()) {
                name = rest.to_owned();
            }
        }
        for wording in [
            "-mcp-server",
            "_mcp_server",
            "-server",
            "_server",
            "-mcp",
            "_mcp",
        ] {
            if let Some(rest) = name.strip_suffix(wording).filter(|r| !r.is_empty()) {
                name = rest.to_owned();
            }
        }
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // A valid manifest name: no `__` (it separates a server from its tools), 48 at most.
        let mut name = name.trim_matches(['_', '-']).to_owned();
        while name.contains("__") {
            name = name.replace("__", "_");
        }
        let name: String = name.chars().take(48).collect();
        let name = name.trim_end_matches(['_', '-']).to_owned();
        if name.is_empty() {
            "server".to_owned()
        } else {
            name
        }
    }
}

impl fmt::Display for McpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpSource::Npm(package) => write!(f, "npm:{package}"),
            McpSource::Pypi(package) => write!(f, "pypi:{package}"),
            McpSource::GitHub { owner, repo } => write!(f, "github.com/{owner}/{repo}"),
            McpSource::Docker(image) => write!(f, "docker:{image}"),
            McpSource::Local(path) => write!(f, "{}", path.display()),
            McpSource::Http(url) => write!(f, "{url}"),
        }
    }
}

/// `OWNER/REPO` (with `.git` or more path after it) as a GitHub source.
fn github(path: &str) -> Option<McpSource> {
    let mut parts = path.trim_matches('/').split('/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let fine = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    (fine(owner) && fine(repo)).then(|| McpSource::GitHub {
        owner: owner.to_owned(),
        repo: repo.to_owned(),
    })
}

/// Whether `package` is an npm package (`name` or `@scope/name`, with an optional
/// `@version`): never a path, a URL or an option of npm.
fn npm_package(package: &str) -> bool {
    let (scope, rest) = match package.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) => (Some(scope), rest),
            None => return false,
        },
        None => (None, package),
    };
    let (name, version) = rest.split_once('@').unwrap_or((rest, ""));
    let part = |s: &str| {
        !s.is_empty()
            && !s.starts_with(['.', '-', '_'])
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    };
    scope.is_none_or(part)
        && part(name)
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+^~<>=*x ".contains(c))
}

/// Whether `package` is a PyPI requirement (`name`, with an optional version like `==1.2`):
/// never a path, a URL or an option of uv.
fn pypi_package(package: &str) -> bool {
    !package.starts_with(['-', '.'])
        && !package.contains(['/', ':'])
        && package
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-=<>!~[],".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_read_and_name_themselves() {
        let cases = [
            ("npm:@modelcontextprotocol/server-everything", "everything"),
            ("npm:@scope/weather-mcp@1.2.0", "weather"),
            ("pypi:mcp-server-fetch", "fetch"),
            ("github.com/acme/notes-mcp-server", "notes"),
            ("https://github.com/acme/Tasks.git", "tasks"),
            ("docker:mcp/github:latest", "github"),
            ("./servers/my_tool.py", "my_tool"),
            ("https://mcp.example.com/mcp", "example"),
        ];
        for (text, name) in cases {
            let source = McpSource::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(source.suggested_name(), name, "{text}");
        }
        assert_eq!(
            McpSource::parse("github.com/acme/tasks.git")
                .unwrap()
                .to_string(),
            "github.com/acme/tasks"
        );
        assert_eq!(
            McpSource::parse("pypi:mcp-server-fetch==2.0")
                .unwrap()
                .suggested_name(),
            "fetch_2_0"
        );
        for bad in [
            "npm:",
            "npm:--global",
            "npm:../evil",
            "npm:acme/repo",
            "npm:/tmp/pkg",
            "pypi:./pkg",
            "pypi:git+https://x",
            "docker:--privileged",
            "ftp://x",
            "weather",
            "github.com/acme",
            "docker:a b",
        ] {
            assert_eq!(McpSource::parse(bad), None, "{bad}");
        }
    }
}
