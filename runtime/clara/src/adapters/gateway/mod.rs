//! The WebSocket gateway: platform adapters written for MyPalClara (and `clara chat
//! --connect`) connect here and speak its JSON protocol. [`Gateway`] keeps a listener bound
//! to the configured address and rebinds only when its own section changes; every turn goes
//! through the shared lanes, like Discord's.

pub mod approvals;
pub mod approver;
pub mod connection;
pub mod mcp_frames;
pub mod nodes;
mod outbox;
pub mod outlet;
pub mod protocol;
pub mod turn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clara_config::ConfigSet;
use clara_config::model::gateway::GatewayConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Observers;
use super::supervised::{Supervised, changed};
use crate::live::Live;
use crate::status::AdapterState;
use nodes::Nodes;

/// The adapter's name in health reports, outlets and `deliver = { adapter = … }`.
pub const ADAPTER: &str = "gateway";

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// `bind` is not `host:port`.
    #[error("adapters.gateway.bind `{0}` is not an address and port such as 127.0.0.1:18789")]
    BadAddress(String),
    /// Reachable from other machines with nothing to keep strangers out.
    #[error(
        "adapters.gateway.bind `{0}` is reachable from other machines, so the gateway needs a secret: set adapters.gateway.secret_env to a variable holding one, or bind to 127.0.0.1"
    )]
    OpenWithoutSecret(String),
    /// The port is taken or the address is not this machine's.
    #[error("the gateway cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The secret's variable is empty or unset.
    #[error(
        "adapters.gateway.secret_env names {0}, which is not set: put the secret in {0} (environment or .env)"
    )]
    MissingSecret(String),
}

/// What the listener is made from; a change to any of it means rebinding.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The secret clients must present, when there is one.
    pub secret: Option<String>,
    /// The section as written (limits are read from here per connection).
    pub config: GatewayConfig,
}

impl Settings {
    /// The settings of an enabled gateway, `None` when it is disabled.
    pub fn of(set: &ConfigSet) -> Result<Option<Settings>, GatewayError> {
        let config = &set.clara.value.adapters.gateway;
        if !config.enabled {
            return Ok(None);
        }
        let bind: SocketAddr = config
            .bind
            .parse()
            .map_err(|_| GatewayError::BadAddress(config.bind.clone()))?;
        let secret = match &config.secret_env {
            Some(var) => Some(
                set.env
                    .get(var)
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| GatewayError::MissingSecret(var.clone()))?,
            ),
            None => None,
        };
        if secret.is_none() && !bind.ip().is_loopback() {
            return Err(GatewayError::OpenWithoutSecret(config.bind.clone()));
        }
        Ok(Some(Settings {
            bind,
            secret,
            config: config.clone(),
        }))
    }
}

/// Checks that an enabled gateway can start, before anything else starts.
pub fn check(set: &ConfigSet) -> Result<(), GatewayError> {
    Settings::of(set).map(|_| ())
}

/// Binds and starts serving if the configuration enables the gateway (`None` when it does
/// not). A port already in use fails here, so `clara run` can refuse to start.
pub async fn start(
    live: Arc<Live>,
    observers: Observers,
) -> Result<Option<Supervised>, GatewayError> {
    let Some(settings) = Settings::of(&live.current().config)? else {
        return Ok(None);
    };
    let listener = TcpListener::bind(settings.bind)
        .await
        .map_err(|e| GatewayError::Bind(settings.bind, e))?;
    // Reported before `start` returns, so whoever started clara can find the port.
    if let Ok(address) = listener.local_addr() {
        observers.health.set(ADAPTER, AdapterState::Connected);
        observers
            .health
            .set_detail(ADAPTER, "address", serde_json::json!(address.to_string()));
    }
    let nodes = Arc::new(Nodes::default());
    live.outlets()
        .register(ADAPTER, Arc::new(outlet::GatewayOutlet(nodes.clone())));
    Ok(Some(Supervised::spawn(ADAPTER, |stop| {
        supervise(live, observers, nodes, settings, listener, stop)
    })))
}

/// Serves with the current settings until told to stop, rebinding when they change and
/// waiting, listener closed, while a reload has turned the gateway off.
async fn supervise(
    live: Arc<Live>,
    observers: Observers,
    nodes: Arc<Nodes>,
    first: Settings,
    listener: TcpListener,
    stop: CancellationToken,
) {
    let mut settings = Some(first);
    let mut listener = Some(listener);
    let shared = Arc::new(turn::Shared::new(live.clone(), observers.clone(), nodes));
    let listening = CancellationToken::new();
    let router = tokio::spawn(turn::route_tool_events(shared.clone(), listening.clone()));
    loop {
        let serving = match &settings {
            Some(settings) => serve(&shared, &observers, settings, listener.take()).await,
            None => {
                observers.health.remove(ADAPTER);
                None
            }
        };
        // A listener that could not bind tries again on its own, not only on the next edit.
        let retry = serving.is_none() && settings.is_some();
        let next = tokio::select! {
            next = changed(&live, &settings, Settings::of, "gateway") => Some(next),
            () = tokio::time::sleep(REBIND_AFTER), if retry => Some(settings.clone()),
            () = stop.cancelled() => None,
        };
        let Some((stops, served)) = serving else {
            match next {
                Some(next) => {
                    settings = next;
                    continue;
                }
                None => break,
            }
        };
        stops.accepting.cancel();
        match next {
            Some(next) => {
                // Settings changed: connections close now and the listener starts over.
                tracing::info!("the gateway settings changed");
                stops.closing.cancel();
                let _ = served.await;
                settings = next;
            }
            None => {
                // Stopping: the turns under way finish and reach their clients first.
                finish_turns(&live, &shared).await;
                stops.closing.cancel();
                let _ = served.await;
                break;
            }
        }
    }
    if !shared.work.is_closed() {
        finish_turns(&live, &shared).await;
    }
    listening.cancel();
    let _ = router.await;
    live.outlets().remove(ADAPTER);
    observers.health.set(ADAPTER, AdapterState::Stopped);
}

/// Lets the turns under way (and queued) finish, at most the runtime's shutdown grace.
async fn finish_turns(live: &Live, shared: &turn::Shared) {
    shared.work.close();
    let grace = live.shutdown_grace();
    if tokio::time::timeout(grace, shared.work.wait())
        .await
        .is_err()
    {
        tracing::warn!("gateway turns still running at shutdown were cut off");
    }
}

/// How long a listener that could not bind waits before trying again.
const REBIND_AFTER: Duration = Duration::from_secs(5);

/// Starts accepting connections with `settings` (on `listener` when already bound); the
/// token closes them and the task ends when they are gone. `None` when it cannot bind.
async fn serve(
    shared: &Arc<turn::Shared>,
    observers: &Observers,
    settings: &Settings,
    listener: Option<TcpListener>,
) -> Option<(connection::Stops, JoinHandle<()>)> {
    let bound = match listener {
        Some(listener) => Ok(listener),
        None => TcpListener::bind(settings.bind).await,
    };
    let listener = match bound {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(address = %settings.bind, %error, "the gateway cannot listen");
            observers.health.set(
                ADAPTER,
                AdapterState::Failed {
                    reason: format!("cannot listen on {}: {error}", settings.bind),
                },
            );
            return None;
        }
    };
    // The address as bound: with port 0 in `bind`, the port the system picked.
    let address = listener.local_addr().unwrap_or(settings.bind);
    tracing::info!(%address, "gateway listening");
    observers.health.set(ADAPTER, AdapterState::Connected);
    observers
        .health
        .set_detail(ADAPTER, "address", serde_json::json!(address.to_string()));
    shared.publish_nodes();
    let stops = connection::Stops::default();
    let served = tokio::spawn(connection::accept(
        listener,
        shared.clone(),
        Arc::new(settings.clone()),
        stops.clone(),
    ));
    Some((stops, served))
}
