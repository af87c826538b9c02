//! `POST /mcp/NAME/restart` on the status endpoint: how `clara mcp restart` reaches the
//! running clara. Only a request from this machine is obeyed.

use std::sync::Arc;

use clara_core::llm::BoxFuture;

use crate::live::Live;
use crate::web_page::{Page, PageRequest, PageSource};

/// Restarts MCP servers of a running clara when asked from this machine.
pub struct McpRestartPage {
    live: Arc<Live>,
}

impl McpRestartPage {
    /// The page for `live`.
    pub fn new(live: Arc<Live>) -> McpRestartPage {
        McpRestartPage { live }
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
            if !request.local {
                return Some(Page::text(
                    403,
                    "MCP servers are restarted only from the machine clara runs on.",
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
