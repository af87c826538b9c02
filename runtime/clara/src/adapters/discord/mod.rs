//! The Discord adapter: twilight shards turn Discord events into pipeline turns, and replies
//! stream back by editing messages. [`Discord`] keeps one connection up and replaces it only
//! when its own settings (token, shards, endpoints) change; everything else (modes, lists,
//! limits) is read from the current configuration per message.

pub mod approvals;
pub mod attachments;
pub mod bot;
pub mod commands;
pub mod gate;
pub mod images;
pub mod inbound;
pub mod incoming;
pub mod mcp_command;
pub mod outlet;
pub mod reactions;
pub mod reply;
pub mod shard;
pub mod split;
pub mod turn;

use std::sync::Arc;
use std::time::Duration;

use clara_config::ConfigSet;
use clara_config::model::adapters::ShardRange;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use twilight_gateway::{ConfigBuilder, Intents, Shard, ShardId};

use crate::live::Live;
use crate::status::AdapterState;
use bot::{ADAPTER, Bot};

use super::Observers;
use super::supervised::{Supervised, changed};

/// Why the adapter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// The token variable is not set.
    #[error(
        "Discord is enabled but {0} is not set: put the bot token in {0} (environment or .env), or set adapters.discord.enabled = false"
    )]
    MissingToken(String),
}

/// What a connection is made from; a change to any of it means reconnecting.
#[derive(Clone, Debug, PartialEq)]
struct Connection {
    token: String,
    gateway_url: Option<String>,
    api_proxy: Option<String>,
    shards: Option<ShardRange>,
}

impl Connection {
    /// The settings of an enabled adapter, `None` when it is disabled.
    fn of(set: &ConfigSet) -> Result<Option<Connection>, DiscordError> {
        let discord = &set.clara.value.adapters.discord;
        if !discord.enabled {
            return Ok(None);
        }
        let token = set
            .env
            .get(&discord.token_env)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| DiscordError::MissingToken(discord.token_env.clone()))?;
        Ok(Some(Connection {
            token: token.trim().trim_start_matches("Bot ").to_owned(),
            gateway_url: discord.gateway_url.clone(),
            api_proxy: discord.api_proxy.clone(),
            shards: discord.shards.clone(),
        }))
    }
}

/// Checks that an enabled adapter can start (its token is set), before anything else starts.
pub fn check(set: &ConfigSet) -> Result<(), DiscordError> {
    Connection::of(set).map(|_| ())
}

/// Starts the adapter if the configuration enables it (`None` when it does not). A missing
/// token is an error, so `clara run` can refuse to start.
pub fn start(live: Arc<Live>, observers: Observers) -> Result<Option<Supervised>, DiscordError> {
    let Some(connection) = Connection::of(&live.current().config)? else {
        return Ok(None);
    };
    observers.health.set(ADAPTER, AdapterState::Starting);
    Ok(Some(Supervised::spawn(ADAPTER, |stop| {
        supervise(live, observers, connection, stop)
    })))
}

/// Keeps a connection matching the current settings until told to stop.
async fn supervise(
    live: Arc<Live>,
    observers: Observers,
    first: Connection,
    stop: CancellationToken,
) {
    let mut wanted = Some(first);
    loop {
        let session = match &wanted {
            Some(connection) => Some(Session::open(&live, &observers, connection).await),
            None => {
                // Turned off on purpose: not an adapter that is down.
                observers.health.remove(ADAPTER);
                None
            }
        };
        let next = tokio::select! {
            next = changed(&live, &wanted, Connection::of, "Discord connection") => Some(next),
            () = stop.cancelled() => None,
        };
        if let Some(session) = session {
            session.close(live.shutdown_grace()).await;
        }
        match next {
            Some(next) => {
                tracing::info!("the Discord settings changed: reconnecting");
                wanted = next;
            }
            None => break,
        }
    }
    live.outlets().remove(ADAPTER);
    live.approvers().remove(ADAPTER);
    observers.health.set(ADAPTER, AdapterState::Stopped);
}

/// One connection: the REST client, the shards and the listener for tool status.
struct Session {
    bot: Arc<Bot>,
    /// Stops the shards: no new messages.
    stop: CancellationToken,
    shards: Vec<JoinHandle<()>>,
    /// Stops the tool-status listener, once the turns under way are done.
    listening: CancellationToken,
    listener: JoinHandle<()>,
}

impl Session {
    async fn open(live: &Arc<Live>, observers: &Observers, connection: &Connection) -> Session {
        let mut http = twilight_http::Client::builder()
            .token(connection.token.clone())
            .timeout(Duration::from_secs(30));
        if let Some(proxy) = &connection.api_proxy {
            http = http.proxy(proxy.clone(), true);
        }
        let http = Arc::new(http.build());
        let bot = Arc::new(Bot::new(live.clone(), http.clone(), observers.clone()));
        let limit = bot.config().split_chars as usize;
        live.outlets().register(
            ADAPTER,
            Arc::new(outlet::DiscordOutlet {
                http: http.clone(),
                limit,
            }),
        );
        live.approvers().register(ADAPTER, bot.approvals.clone());
        let intents = Intents::GUILDS
            | Intents::GUILD_MESSAGES
            | Intents::DIRECT_MESSAGES
            | Intents::MESSAGE_CONTENT;
        let mut config = ConfigBuilder::new(connection.token.clone(), intents);
        if let Some(url) = &connection.gateway_url {
            config = config.proxy_url(url.clone());
        }
        let config = config.build();
        let (ids, total) = match &connection.shards {
            Some(range) => (range.ids.clone(), range.total),
            None => {
                let total = recommended_shards(&http).await;
                ((0..total).collect(), total)
            }
        };
        let stop = CancellationToken::new();
        let shards = ids
            .into_iter()
            .map(|id| {
                let shard = Shard::with_config(ShardId::new(id, total), config.clone());
                tokio::spawn(shard::run(shard, bot.clone(), stop.clone()))
            })
            .collect();
        let listening = CancellationToken::new();
        let listener = tokio::spawn(show_tool_status(bot.clone(), listening.clone()));
        Session {
            bot,
            stop,
            shards,
            listening,
            listener,
        }
    }

    /// Disconnects (no new messages), then waits (at most `grace`) for the turns under way and
    /// the messages already queued to finish.
    async fn close(self, grace: Duration) {
        self.stop.cancel();
        for shard in self.shards {
            let _ = shard.await;
        }
        self.bot.work.close();
        if tokio::time::timeout(grace, self.bot.work.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                channels = self.bot.lanes.busy(),
                "Discord turns still running at shutdown were cut off"
            );
        }
        self.listening.cancel();
        let _ = self.listener.await;
    }
}

/// Discord's recommended shard count; one shard when it cannot be fetched (a bot in fewer
/// than 2,500 servers needs no more, and a bad token shows up on the gateway).
async fn recommended_shards(http: &twilight_http::Client) -> u32 {
    let fetched = async {
        http.gateway()
            .authed()
            .await?
            .model()
            .await
            .map_err(Into::into)
    };
    let result: Result<_, Box<dyn std::error::Error + Send + Sync>> = fetched.await;
    match result {
        Ok(info) => info.shards.max(1),
        Err(error) => {
            tracing::warn!(%error, "cannot ask Discord how many shards to run; running one");
            1
        }
    }
}

/// Routes `tool:start` events of Discord turns to their channels as status lines.
async fn show_tool_status(bot: Arc<Bot>, stop: CancellationToken) {
    let mut events = bot.bus.subscribe();
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => return,
            next = events.recv() => next,
        };
        match next {
            Ok(event) => bot.show_tool_event(&event),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "tool status lines skipped");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
}
