//! The pages that authorize an OAuth MCP server on the status endpoint:
//! `/mcp-oauth/NAME/start/STATE` says what allowing access means and leads on to the server's
//! consent page; `/mcp-oauth/NAME/callback` takes the code back, keeps the grant, and then
//! installs the server the grant was begun for, or restarts the installed one with it. The
//! texts are `[mcp] oauth_*_page`.

use std::sync::Arc;

use clara_config::model::common::fill;
use clara_core::llm::BoxFuture;

use crate::connections::callback_code;
use crate::live::Live;
use crate::tools::mcp::install::{Install, Installer};
use crate::tools::mcp::{Finished, GrantError, Grants};
use crate::web_page::{Page, PageRequest, PageSource};

/// The MCP authorization pages of a running clara.
pub struct McpOAuthPages {
    live: Arc<Live>,
}

impl PageSource for McpOAuthPages {
    fn prefix(&self) -> &'static str {
        "/mcp-oauth/"
    }

    fn page<'a>(&'a self, request: PageRequest<'a>) -> BoxFuture<'a, Option<Page>> {
        Box::pin(async move {
            if request.method != "GET" {
                return None;
            }
            self.page(request.path, request.query).await
        })
    }
}

impl McpOAuthPages {
    /// The pages for `live`.
    pub fn new(live: Arc<Live>) -> McpOAuthPages {
        McpOAuthPages { live }
    }

    async fn page(&self, path: &str, query: Option<&str>) -> Option<Page> {
        let rest = path.strip_prefix("/mcp-oauth/")?;
        let (name, action) = rest.split_once('/')?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !valid {
            return None;
        }
        let generation = self.live.current();
        let texts = &generation.config.clara.value.mcp;
        let failed = |reason: &str| {
            let text = fill(
                &texts.oauth_failed_page,
                &[("name", name), ("reason", reason)],
            );
            Page::text(400, &text)
        };
        let Some(grants) = self.live.mcp_grants() else {
            return Some(failed(&GrantError::NoKey(name.to_owned()).to_string()));
        };
        if let Some(state) = action.strip_prefix("start/") {
            // Whoever continues signs in with their own account for everyone the assistant
            // serves: the page says so before the consent page.
            return Some(match grants.authorize_url(name, state).await {
                Ok(url) => Page::link(
                    &fill(&texts.oauth_confirm_page, &[("name", name)]),
                    &fill(&texts.oauth_confirm_button, &[("name", name)]),
                    &url,
                ),
                Err(error) => failed(&error.to_string()),
            });
        }
        if action != "callback" {
            return None;
        }
        let (code, state) = match callback_code(query) {
            Ok(found) => found,
            Err(reason) => {
                tracing::info!(server = name, reason, "an MCP server was not authorized");
                return Some(failed(&reason));
            }
        };
        let finished = match grants.finish(name, &code, &state).await {
            Ok(finished) => finished,
            Err(error) => {
                tracing::warn!(server = name, %error, "an MCP server could not be authorized");
                return Some(failed(&error.to_string()));
            }
        };
        Some(match self.follow_up(name, finished, grants).await {
            Ok(done) => Page::text(
                200,
                &fill(&texts.oauth_done_page, &[("name", name), ("done", &done)]),
            ),
            Err(why) => failed(&why),
        })
    }

    /// What follows a grant: the install it was begun for, or a restart of the server.
    async fn follow_up(
        &self,
        name: &str,
        finished: Finished,
        grants: Arc<Grants>,
    ) -> Result<String, String> {
        let Some(pending) = finished.install else {
            return Ok(if self.live.mcp().restart(name) {
                "it restarts with the new access.".to_owned()
            } else {
                "it uses the new access when it starts.".to_owned()
            });
        };
        let generation = self.live.current();
        let set = &generation.config;
        let mut installer = Installer::new(
            &set.root,
            &set.clara.value.mcp,
            &set.env,
            self.live.http_client().clone(),
        )
        .beside(set)
        .authorizing(Some(grants), "operator");
        if let Some(refused) = pending.refused_secrets {
            installer = installer.for_others(refused);
        }
        let install = Install {
            source: finished.url,
            name: pending.named.then(|| name.to_owned()),
            headers: pending.headers,
            secrets_env: pending.secrets_env,
            ..Install::default()
        };
        let installed = match installer.add(&install).await {
            Ok(installed) => installed,
            Err(error) => {
                // No manifest, no grant: a new install starts clean.
                if let Some(grants) = self.live.mcp_grants() {
                    let _ = grants.forget(name).await;
                }
                return Err(error.to_string());
            }
        };
        let tools = installed.tool_names();
        Ok(format!(
            "installed it with {} tools ({}).",
            tools.len(),
            tools.join(", ")
        ))
    }
}
