//! The clara runtime's edges: LLM providers over HTTP, stores, tool runners, the running
//! configuration with hot reload, hooks and the scheduler. The command line in `main.rs` is a
//! thin layer over this library.

pub mod adapters;
pub mod app;
pub mod backup;
pub mod children;
pub mod connections;
pub mod console;
pub mod email;
pub mod errors;
pub mod hooks;
pub mod import;
pub mod live;
pub mod llm;
pub mod scheduler;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod web_page;
