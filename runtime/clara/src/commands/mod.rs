//! One module per command.

pub mod chat;
pub mod migrate;
pub mod schema;
pub mod validate;
