//! Typed config for every file kind. Doc comments here become the JSON Schema descriptions.

pub mod adapters;
pub mod approval;
pub mod backup;
pub mod budget;
pub mod clara;
pub mod common;
pub mod connection;
pub mod console;
pub mod discord_notices;
pub mod email;
pub mod email_rule;
pub mod fixture;
pub mod gateway;
pub mod hook;
pub mod mcp;
pub mod persona;
pub mod pipeline;
pub mod pricing;
pub mod prompts;
pub mod provider;
pub mod steps;
pub mod store;
pub mod telemetry;
pub mod tool;
