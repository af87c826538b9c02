//! Why installing or changing an MCP server was refused: each says what to do, and nothing was
//! written.

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
    /// Another tool has that name.
    #[error("`{0}` is the name of another tool: choose another name")]
    NameInUse(String),
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
    /// The server asks for OAuth and is not authorized yet: nothing is written until it is.
    #[error(
        "`{name}` asks for authorization before it lists its tools. Open {link} (it works once, for 10 minutes) and allow access; clara installs it then"
    )]
    Authorize {
        /// The server's name.
        name: String,
        /// The one-time link.
        link: String,
    },
    /// Its OAuth grant could not be made or used.
    #[error(transparent)]
    Grant(#[from] super::server_grants::GrantError),
}
