//! clara's integration tests, in one binary: each module is what was once its own test file
//! (`chat`, `hooks`, `store_contract`, …), so a test's name is still `file::test`, and clara is
//! linked once instead of once per file.

// Test code unwraps: a panic is how a test fails, and says where.
#![allow(clippy::unwrap_used)]

mod support;

mod approvals_chat;
mod backup;
mod budgets_chat;
mod chat;
mod chat_on_a_terminal;
mod chat_terminal;
mod claude_code;
mod command_tools;
mod config_keys;
mod config_keys_steps;
mod connections;
mod console;
mod console_browser;
mod console_pages;
mod console_sign_in;
mod deployment;
mod discord_access;
mod discord_approvals;
mod discord_connection;
mod discord_queue;
mod discord_replies;
mod discord_setup;
mod editor_schemas;
mod email_gmail;
mod email_imap;
mod email_watch;
mod environment;
mod events;
mod fake_discord_server;
mod fake_llm_server;
mod file_tools;
mod gateway;
mod github_pack;
mod google_pack;
mod hooks;
mod hostile_files;
mod http_tools;
mod import_mypalclara;
mod init;
mod mcp_install;
mod mcp_oauth;
mod mcp_server;
mod memory_command;
mod migrate;
mod module_graph;
mod orphans;
mod oversized_replies;
mod plan_command;
mod prompt_cache;
mod providers;
mod readme_recipes;
mod reload;
mod replay_command;
mod run;
mod scheduler;
mod sessions;
mod shipped_root;
mod status;
mod store_contract;
mod test_command;
mod tool_arguments;
mod tracing;
mod usage_command;
mod validate_fixtures;
