//! `POST /mcp/NAME/restart` on the status endpoint: how `clara mcp restart` reaches the
//! running clara. The request must carry the token this clara wrote into its root
//! (`.clara/control-token`, readable only by its user), so only someone who can read the root
//! restarts servers — not a browser page, nor a request through a proxy.

use std::path::Path;
use std::sync::Arc;

use clara_core::llm::BoxFuture;

use crate::live::Live;
use crate::web_page::{Page, PageRequest, PageSource};

/// Where in the root the token is.
pub const CONTROL_TOKEN_FILE: &str = ".clara/control-token";

/// Restarts MCP servers of a running clara when asked with its token.
pub struct McpRestartPage {
    live: Arc<Live>,
    /// `None` when it could not be written: nothing is restarted then.
    token: Option<String>,
}

impl McpRestartPage {
    /// The page for `live`, writing a new token into `root`.
    pub fn new(live: Arc<Live>, root: &Path) -> McpRestartPage {
        let token: String = rand::random::<[u8; 32]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let token = match write_private(&root.join(CONTROL_TOKEN_FILE), &token) {
            Ok(()) => Some(token),
            Err(error) => {
                tracing::warn!(%error, "the control token could not be written: `clara mcp restart` will not work");
                None
            }
        };
        McpRestartPage { live, token }
    }
}

impl PageSource for McpRestartPage {
    fn prefix(&self) -> &'static str {
        "/mcp/"
    }

    fn page<'a>(&'a self, request: PageRequest<'a>) -> BoxFuture<'a, Option<Page>> {
        Box::pin(async move {
            let name = request
                .path
                .strip_prefix("/mcp/")?
                .strip_suffix("/restart")?;
            if request.method != "POST" {
                return Some(Page::text(405, "Restarting takes a POST."));
            }
            let given = request
                .form
                .iter()
                .find(|(key, _)| key == "token")
                .map(|(_, value)| value.as_str());
            let allowed = match (&self.token, given) {
                (Some(token), Some(given)) => same(token.as_bytes(), given.as_bytes()),
                _ => false,
            };
            if !allowed {
                return Some(Page::text(
                    403,
                    "Restarting MCP servers needs the control token in clara's root.",
                ));
            }
            if self.live.mcp().restart(name) {
                tracing::info!(server = %name, "an MCP server restart was asked for");
                Some(Page::text(200, &format!("Restarting {name}.")))
            } else {
                Some(Page::text(
                    404,
                    &format!("No MCP server `{name}` is running."),
                ))
            }
        })
    }
}

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes `text` to `file`, readable and writable by this user only.
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file)?;
    out.write_all(text.as_bytes())
}
