//! The status endpoint of `clara run`: `/health` and `/metrics` on a local address.

mod exposition;
mod health;
mod metrics;
mod process;
mod server;

pub use health::{AdapterReport, AdapterState, Health, HealthReport, OverallStatus};
pub use metrics::Metrics;
pub use server::{StatusError, StatusServer, serve};
