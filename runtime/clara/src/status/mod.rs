//! The status endpoint of `clara run`: `/health` and `/metrics` on a local address, and the
//! restart of MCP servers `clara mcp restart` asks for.

mod exposition;
mod health;
mod mcp_restart_page;
mod metrics;
mod process;
mod server;

pub use health::{AdapterReport, AdapterState, Health, HealthReport, OverallStatus};
pub use mcp_restart_page::{CONTROL_TOKEN_FILE, McpRestartPage};
pub use metrics::Metrics;
pub use server::{StatusError, StatusServer, serve};
