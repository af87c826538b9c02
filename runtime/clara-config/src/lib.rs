//! The clara config language: every file kind as typed config, loading with positions,
//! cross-file validation and JSON Schema output. No async runtime here.

// No unsafe code here at all.
#![forbid(unsafe_code)]

mod checks;
pub mod diff;
pub mod doc;
pub mod env;
mod files;
pub mod fixtures;
pub mod loader;
pub mod model;
pub mod mypalclara;
pub mod plan;
pub mod problem;
pub mod prompt_cache;
pub mod read;
mod retired;
pub mod schema;
pub mod schema_check;
pub mod secrets;
pub mod set;
pub mod suggest;
pub mod template;
pub mod text_diff;

pub use env::Env;
pub use fixtures::load_fixtures;
pub use loader::{load, load_with_env};
pub use problem::{ConfigError, Problem};
pub use schema::FileKind;
pub use secrets::MissingSecret;
pub use set::{ConfigSet, Loaded, LoadedPersona, Source};
