//! One module per command.

pub mod chat;
pub mod migrate;
pub mod schema;
pub mod validate;

use std::path::Path;

use clara_config::{ConfigSet, LoadOptions};

/// The root's config, or `None` after printing every problem (the caller exits 1). Secrets are
/// not required here; each command says what it needs.
fn load_or_report(root: &Path) -> Option<ConfigSet> {
    match clara_config::load(root, LoadOptions { offline: true }) {
        Ok(set) => Some(set),
        Err(err) => {
            for problem in err.problems() {
                eprintln!("{problem}");
            }
            eprintln!("{err}; run `clara validate` for details");
            None
        }
    }
}
