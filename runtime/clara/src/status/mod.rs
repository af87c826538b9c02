//! The status endpoint of `clara run`: `/health` and `/metrics` on a local address, the
//! restart of MCP servers `clara mcp restart` asks for, and the pages that authorize OAuth MCP
//! servers.

mod exposition;
mod health;
mod mcp_oauth_page;
mod mcp_restart_page;
mod metrics;
mod process;
mod server;

pub use health::{AdapterReport, AdapterState, Health, HealthReport, OverallStatus};
pub use mcp_oauth_page::McpOAuthPages;
pub use mcp_restart_page::{CONTROL_TOKEN_FILE, McpRestartPage};
pub use metrics::Metrics;
pub(crate) use server::{Body, full};
pub use server::{StatusError, StatusServer, local_address, serve};
