//! The clara runtime's edges: LLM providers over HTTP, and (as they land) stores, adapters and
//! tool runners. The command line in `main.rs` is a thin layer over this library.

pub mod llm;
pub mod runtime;
pub mod store;
pub mod tools;
