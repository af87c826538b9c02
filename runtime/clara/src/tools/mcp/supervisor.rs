//! Keeps one MCP server running: starts it, publishes its tools, lists them again when the
//! server says they changed, restarts it with backoff when it dies (or at once when asked),
//! and stops it (with everything it started) when asked or when the last handle to it is
//! dropped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clara_core::engine::ToolError;
use rmcp::RoleClient;
use rmcp::model::Tool as RemoteTool;
use rmcp::service::Peer;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::{self, Connected, Launch};
use crate::children::ProcessGroup;

/// The first restart waits this long; each failure in a row doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A server that stayed up this long counts as healthy again: its next restart is quick.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// How long a stopping server may take to close its session before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One supervised server, shared by every generation whose manifest launches it.
pub struct Server {
    name: String,
    launch: Launch,
    state: watch::Receiver<State>,
    tools: watch::Receiver<Listed>,
    stop: watch::Sender<bool>,
    /// Counts restarts asked for: a session restarts when it moved since that session began,
    /// so an ask is never kept for a later session, nor lost during a start.
    restart: watch::Sender<u64>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Where a server is in its life.
#[derive(Clone)]
enum State {
    /// The first start is under way.
    Starting,
    /// Connected and answering.
    Running {
        peer: Peer<RoleClient>,
        pid: Option<u32>,
    },
    /// Not running; another start comes after a delay.
    Down { why: String },
    /// Stopped for good.
    Stopped,
}

/// The server's tools as last listed; `version` goes up with every new list. A restarting
/// server keeps its last list, so turns still see the tools it will have again.
#[derive(Clone, Default)]
pub struct Listed {
    /// Bumped on every new list.
    pub version: u64,
    /// The tools.
    pub tools: Arc<[RemoteTool]>,
}

impl Server {
    /// Starts supervising `launch` under `name` (the manifest's name, for logs and errors).
    pub fn start(name: &str, launch: Launch, client: reqwest::Client) -> Arc<Server> {
        let (state_tx, state) = watch::channel(State::Starting);
        let (tools_tx, tools) = watch::channel(Listed::default());
        let (stop, stop_rx) = watch::channel(false);
        let (restart, restart_rx) = watch::channel(0);
        let task = tokio::spawn(supervise(Supervision {
            name: name.to_owned(),
            launch: launch.clone(),
            client,
            state: state_tx,
            tools: tools_tx,
            stop: stop_rx,
            restart: restart_rx,
        }));
        Arc::new(Server {
            name: name.to_owned(),
            launch,
            state,
            tools,
            stop,
            restart,
            task: Mutex::new(Some(task)),
        })
    }

    /// What this server was started from.
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    /// The tools as last listed.
    pub fn tools(&self) -> Listed {
        self.tools.borrow().clone()
    }

    /// The process id of a running stdio server.
    pub fn pid(&self) -> Option<u32> {
        match &*self.state.borrow() {
            State::Running { pid, .. } => *pid,
            _ => None,
        }
    }

    /// Where the server is, in words: `starting`, `running`, `down (why)`, `stopped`.
    pub fn describe(&self) -> String {
        match &*self.state.borrow() {
            State::Starting => "starting".to_owned(),
            State::Running { .. } => "running".to_owned(),
            State::Down { why } => format!("down ({why})"),
            State::Stopped => "stopped".to_owned(),
        }
    }

    /// Waits until the first start has succeeded or failed.
    pub async fn started(&self) {
        let mut state = self.state.clone();
        let _ = state.wait_for(|s| !matches!(s, State::Starting)).await;
    }

    /// Calls one of the server's tools by its own name. A server that is restarting is
    /// waited for, within the same `timeout` as the call.
    pub async fn call(
        &self,
        tool: &str,
        arguments: &Value,
        timeout: Duration,
    ) -> Result<String, ToolError> {
        let deadline = Instant::now() + timeout;
        let peer = self.running_peer(timeout).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        // A call that meets the server's death fails and is not sent again: the server may
        // have done the work before it died, and a tool must not act twice.
        connection::call(&peer, tool, arguments, left).await
    }

    async fn running_peer(&self, timeout: Duration) -> Result<Peer<RoleClient>, ToolError> {
        let mut state = self.state.clone();
        let usable = |s: &State| match s {
            // A session whose transport closed is dead even before the supervisor notices.
            State::Running { peer, .. } => !peer.is_transport_closed(),
            State::Stopped => true,
            State::Starting | State::Down { .. } => false,
        };
        let waited = tokio::time::timeout(timeout, state.wait_for(usable)).await;
        let now = match waited {
            Ok(Ok(state)) => state.clone(),
            Ok(Err(_)) => State::Stopped,
            Err(_) => self.state.borrow().clone(),
        };
        match now {
            State::Running { peer, .. } if !peer.is_transport_closed() => Ok(peer),
            State::Stopped => Err(ToolError(format!(
                "the MCP server `{}` has been stopped",
                self.name
            ))),
            State::Down { why } => Err(ToolError(format!(
                "the MCP server `{}` is not running ({why}); clara keeps trying to restart it",
                self.name
            ))),
            State::Starting | State::Running { .. } => Err(ToolError(format!(
                "the MCP server `{}` did not become ready within {timeout:?}",
                self.name
            ))),
        }
    }

    /// Stops the server and starts it again at once (a server waiting out its backoff starts
    /// now); calls meanwhile wait for it, as during any restart.
    pub fn restart(&self) {
        self.restart.send_modify(|asked| *asked += 1);
    }

    /// Asks the supervisor to stop the server; it goes on in the background.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops the server and waits until it and everything it started are gone.
    pub async fn stopped(&self) {
        self.stop();
        let task = self.task.lock().expect("no panics while held").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The supervisor also stops when the sender goes; saying so is clearer.
        self.stop.send_replace(true);
    }
}

struct Supervision {
    name: String,
    launch: Launch,
    client: reqwest::Client,
    state: watch::Sender<State>,
    tools: watch::Sender<Listed>,
    stop: watch::Receiver<bool>,
    restart: watch::Receiver<u64>,
}

/// How a connected server's session ended.
enum Ended {
    /// It went away by itself.
    Gone,
    /// A restart was asked for.
    Restart,
    /// A stop was asked for.
    Stopped,
}

impl Supervision {
    fn publish_tools(&self, tools: Vec<RemoteTool>) {
        self.tools.send_modify(|listed| {
            listed.version += 1;
            listed.tools = tools.into();
        });
    }

    /// Resolves when a stop was asked for (or every handle is gone).
    async fn stop_asked(&mut self) {
        let _ = self.stop.wait_for(|stop| *stop).await;
    }
}

async fn supervise(mut s: Supervision) {
    let mut failures: u32 = 0;
    loop {
        // Restarts asked for until now are what this start does.
        s.restart.mark_unchanged();
        let opening = match connection::open(&s.launch, &s.client) {
            Ok(opening) => opening,
            Err(why) => {
                if !down(&mut s, &mut failures, why).await {
                    return;
                }
                continue;
            }
        };
        let pid = opening.pid;
        // The server and everything it starts go with this group, on every path out of here.
        let group = ProcessGroup::of(pid);
        let connected = tokio::select! {
            connected = opening.handshake() => connected,
            _ = s.stop_asked() => {
                // The half-started child goes with its group.
                group.kill();
                s.state.send_replace(State::Stopped);
                return;
            }
        };
        match connected {
            Ok(connected) => {
                tracing::info!(
                    server = %s.name,
                    tools = connected.tools.len(),
                    "MCP server {} is running",
                    s.launch.describe()
                );
                let since = Instant::now();
                let ended = run(&mut s, connected, pid).await;
                group.kill();
                match ended {
                    Ended::Stopped => {
                        s.state.send_replace(State::Stopped);
                        return;
                    }
                    Ended::Restart => {
                        tracing::info!(server = %s.name, "restarting MCP server, as asked");
                        failures = 0;
                        s.state.send_replace(State::Starting);
                        continue;
                    }
                    Ended::Gone => {}
                }
                if since.elapsed() >= HEALTHY_AFTER {
                    failures = 0;
                }
                if !down(&mut s, &mut failures, "it stopped".to_owned()).await {
                    return;
                }
            }
            Err(why) => {
                group.kill();
                if !down(&mut s, &mut failures, why).await {
                    return;
                }
            }
        }
    }
}

/// Serves a connected server until it goes away or a restart or stop is asked for.
async fn run(s: &mut Supervision, connected: Connected, pid: Option<u32>) -> Ended {
    let Connected {
        service,
        tools_changed,
        tools,
    } = connected;
    let peer = service.peer().clone();
    s.publish_tools(tools);
    s.state.send_replace(State::Running {
        peer: peer.clone(),
        pid,
    });
    let cancel = service.cancellation_token();
    let mut restart = s.restart.clone();
    let quit = service.waiting();
    tokio::pin!(quit);
    loop {
        tokio::select! {
            _ = &mut quit => return Ended::Gone,
            _ = tools_changed.notified() => {
                match connection::list_tools(&peer).await {
                    Ok(tools) => {
                        tracing::info!(server = %s.name, tools = tools.len(), "MCP server's tool list changed");
                        s.publish_tools(tools);
                    }
                    Err(why) => tracing::warn!(server = %s.name, "{why}"),
                }
            }
            Ok(()) = restart.changed() => {
                cancel.cancel();
                let _ = tokio::time::timeout(STOP_GRACE, &mut quit).await;
                return Ended::Restart;
            }
            _ = s.stop_asked() => {
                cancel.cancel();
                let _ = tokio::time::timeout(STOP_GRACE, &mut quit).await;
                return Ended::Stopped;
            }
        }
    }
}

/// Records that the server is down and waits out the backoff. `false` when a stop was asked
/// for meanwhile.
async fn down(s: &mut Supervision, failures: &mut u32, why: String) -> bool {
    *failures += 1;
    let delay = FIRST_BACKOFF
        .saturating_mul(1 << (*failures - 1).min(16))
        .min(MAX_BACKOFF);
    tracing::warn!(
        server = %s.name,
        "MCP server {} is down: {why}; starting it again in {delay:?}",
        s.launch.describe()
    );
    s.state.send_replace(State::Down { why });
    let mut restart = s.restart.clone();
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        Ok(()) = restart.changed() => {
            *failures = 0;
            true
        }
        _ = s.stop_asked() => {
            s.state.send_replace(State::Stopped);
            false
        }
    }
}
