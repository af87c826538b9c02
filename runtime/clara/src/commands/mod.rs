//! One module per command.

pub mod chat;
pub mod schema;
pub mod validate;
