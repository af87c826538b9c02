//! Config problems with their positions, and the error type of this crate's boundary.

use std::fmt;

use crate::doc::At;

/// One thing wrong with the config, printed as `path:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// File path relative to the root (empty for problems with no file, like a missing root).
    pub file: String,
    /// Where in the file (or which environment variable).
    pub at: Option<At>,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl Problem {
    /// A problem at a position in a file.
    pub fn at(file: &str, at: At, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_owned(),
            at: Some(at),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(At::Env(var)) => write!(f, "${var}: {}", self.message),
            Some(at) if !self.file.is_empty() => write!(f, "{}:{at}: {}", self.file, self.message),
            _ if !self.file.is_empty() => write!(f, "{}: {}", self.file, self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Why a config set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The files have problems; every one found is listed, in file and position order.
    #[error("{} problem{} in the config", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The problems, sorted by file and position.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(problems) => problems,
        }
    }
}
