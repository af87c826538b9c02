//! The clara engine: the provider seam and tool-call protocols today; turns, steps, pipelines,
//! generations and the event bus as they land. It stays free of sqlx, twilight and reqwest,
//! which live at the edges in the `clara` crate.

// No unsafe code here at all.
#![forbid(unsafe_code)]

pub mod engine;
pub mod lanes;
pub mod llm;
pub mod store;

pub use clara_config as config;
