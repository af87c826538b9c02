//! `[mcp]`: installing MCP servers (`clara mcp add`, the `mcp_install` tool) and finding them
//! in registries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::yes;

/// Where installed servers are built and which registries are searched.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Where servers installed from npm or a git repository are put, relative to the root
    /// (one folder per server).
    #[serde(default = "default_servers_dir")]
    pub servers_dir: String,
    /// The official MCP registry searched by `clara mcp search`.
    #[serde(default = "default_registry_url")]
    pub registry_url: String,
    /// Smithery's registry, searched too when the variable `smithery_key_env` names is set.
    #[serde(default = "default_smithery_url")]
    pub smithery_url: String,
    /// The environment variable holding a Smithery API key.
    #[serde(default = "default_smithery_key_env")]
    pub smithery_key_env: String,
    /// Where `github.com/OWNER/REPO` sources are cloned from.
    #[serde(default = "default_github_url")]
    pub github_url: String,
    /// Longest an install may take to fetch and build a server, and to start it once to
    /// list its tools.
    #[serde(default = "default_install_timeout_secs")]
    #[schemars(range(min = 1, max = 3600))]
    pub install_timeout_secs: u32,
    /// Offer admins the tools that manage servers from the chat (`mcp_install`, `mcp_list`,
    /// …); off keeps them out of every prompt.
    #[serde(default = "yes")]
    pub chat_tools: bool,
    /// The page an MCP server's authorization link opens, before the server's consent page
    /// (`{name}` is the server's name).
    #[serde(default = "default_oauth_confirm_page")]
    pub oauth_confirm_page: String,
    /// The label of that page's button on to the consent page (`{name}`).
    #[serde(default = "default_oauth_confirm_button")]
    pub oauth_confirm_button: String,
    /// The page shown when a server is authorized (`{name}`, `{done}` says what followed).
    #[serde(default = "default_oauth_done_page")]
    pub oauth_done_page: String,
    /// The page shown when authorizing fails (`{name}`, `{reason}`).
    #[serde(default = "default_oauth_failed_page")]
    pub oauth_failed_page: String,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            servers_dir: default_servers_dir(),
            registry_url: default_registry_url(),
            smithery_url: default_smithery_url(),
            smithery_key_env: default_smithery_key_env(),
            github_url: default_github_url(),
            install_timeout_secs: default_install_timeout_secs(),
            chat_tools: true,
            oauth_confirm_page: default_oauth_confirm_page(),
            oauth_confirm_button: default_oauth_confirm_button(),
            oauth_done_page: default_oauth_done_page(),
            oauth_failed_page: default_oauth_failed_page(),
        }
    }
}

fn default_servers_dir() -> String {
    "mcp_servers".to_owned()
}
fn default_registry_url() -> String {
    "https://registry.modelcontextprotocol.io".to_owned()
}
fn default_smithery_url() -> String {
    "https://registry.smithery.ai".to_owned()
}
fn default_smithery_key_env() -> String {
    "SMITHERY_API_KEY".to_owned()
}
fn default_github_url() -> String {
    "https://github.com".to_owned()
}
fn default_install_timeout_secs() -> u32 {
    300
}
fn default_oauth_confirm_page() -> String {
    "This link lets the assistant use the MCP server `{name}` with the account you sign in \
     with next, for everyone the assistant serves. Continue only if you asked for it."
        .to_owned()
}
fn default_oauth_confirm_button() -> String {
    "Continue to authorize {name}".to_owned()
}
fn default_oauth_done_page() -> String {
    "Authorized `{name}`: {done} You can close this tab and go back to the chat.".to_owned()
}
fn default_oauth_failed_page() -> String {
    "Could not authorize `{name}`: {reason}. Ask for a new link and try again.".to_owned()
}
