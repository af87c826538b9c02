//! The clara engine: turns, steps, pipelines, generations and the event bus. It builds on the
//! typed config of `clara-config` and stays free of sqlx, twilight and reqwest, which live in
//! the `clara` binary crate at the edges.
//!
//! The engine itself arrives with the pipeline work; today this crate fixes the dependency
//! direction (`clara` → `clara-core` → `clara-config`) and re-exports the config language.

pub use clara_config as config;
