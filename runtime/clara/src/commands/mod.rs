//! One module per command.

pub mod schema;
pub mod validate;
