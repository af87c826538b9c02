//! The adapters: where people talk to clara. Each long-running one (Discord, the gateway) starts from
//! the configuration and stops through one seam, [`Adapter`], so the app starts, watches and
//! stops them alike; the terminal is the `chat` command's own. What every adapter shares —
//! per-conversation lanes, queue notices, batching, stop phrases, the duplicate guard — lives
//! in `clara_core::lanes` and the engine, so the next adapter gets it for free.

pub mod awaiting;
pub mod discord;
pub mod gateway;
pub mod supervised;
pub mod terminal;

use std::sync::Arc;
use std::time::Duration;

use clara_config::ConfigSet;
use clara_config::model::common::fill;
use clara_core::engine::event_data::ToolStart;
use clara_core::llm::BoxFuture;

use crate::hooks::HookBus;
use crate::live::Live;
use crate::status::{Health, Metrics};

/// What watches the adapters: the event bus (for tool status and `/metrics`) and `/health`.
#[derive(Clone)]
pub struct Observers {
    /// Events as they are emitted.
    pub bus: Arc<HookBus>,
    /// Adapter states.
    pub health: Arc<Health>,
    /// Counters only an adapter sees (the gateway's frames).
    pub metrics: Arc<Metrics>,
}

/// A running adapter.
pub trait Adapter: Send {
    /// Its name in health reports, events and outlets.
    fn name(&self) -> &'static str;

    /// Stops taking messages, lets the running and queued turns finish (at most `grace`),
    /// and disconnects.
    fn stop(self: Box<Self>, grace: Duration) -> BoxFuture<'static, ()>;
}

/// Why an adapter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// Discord is enabled but cannot connect (no token).
    #[error(transparent)]
    Discord(#[from] discord::DiscordError),
    /// The gateway is enabled but cannot listen, or would listen unprotected.
    #[error(transparent)]
    Gateway(#[from] gateway::GatewayError),
}

/// Checks that every enabled adapter can start, before anything else starts.
pub fn check(set: &ConfigSet) -> Result<(), AdapterError> {
    discord::check(set)?;
    gateway::check(set)?;
    Ok(())
}

/// Starts every adapter the configuration enables.
pub async fn start(
    live: &Arc<Live>,
    observers: &Observers,
) -> Result<Vec<Box<dyn Adapter>>, AdapterError> {
    let mut running: Vec<Box<dyn Adapter>> = Vec::new();
    if let Some(discord) = discord::start(live.clone(), observers.clone())? {
        running.push(Box::new(discord));
    }
    if let Some(gateway) = gateway::start(live.clone(), observers.clone()).await? {
        running.push(Box::new(gateway));
    }
    Ok(running)
}

/// Stops every adapter at once, each within `grace`.
pub async fn stop_all(adapters: Vec<Box<dyn Adapter>>, grace: Duration) {
    futures_util::future::join_all(adapters.into_iter().map(|adapter| {
        tracing::debug!(adapter = adapter.name(), "stopping");
        adapter.stop(grace)
    }))
    .await;
}

/// `line` with a tool's `{emoji}` (🔧 when it has none), `{label}` and `{step}`.
pub fn tool_status_line(line: &str, start: &ToolStart) -> String {
    fill(
        line,
        &[
            ("emoji", start.emoji.as_deref().unwrap_or("🔧")),
            ("label", &start.label),
            ("step", &start.step.to_string()),
        ],
    )
}
