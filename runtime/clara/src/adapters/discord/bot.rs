//! What every part of one Discord connection shares: the REST client, who clara is, the
//! servers it is in (names, roles and their permissions), the channel lanes, the messages
//! already seen, and where tool status lines go.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use clara_config::model::adapters::DiscordConfig;
use clara_core::engine::Event;
use clara_core::engine::EventData;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use twilight_http::Client;
use twilight_model::channel::Message;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{
    ApplicationMarker, ChannelMarker, GuildMarker, MessageMarker, RoleMarker, UserMarker,
};

use super::approvals::DiscordApprovals;
use super::reply::Update;
use crate::adapters::Observers;
use crate::adapters::tool_status_line;
use crate::hooks::HookBus;
use crate::live::Live;
use crate::status::{AdapterState, Health};

/// Message ids remembered to drop a redelivered message (a resume replays events).
const SEEN_LIMIT: usize = 4_096;

/// A Discord message waiting in its channel's lane.
pub type Pending = clara_core::lanes::Pending<Arc<Message>>;
/// What a channel's worker answers next.
pub type Work = clara_core::lanes::Work<Arc<Message>>;
/// The lanes of Discord's busy channels.
pub type Lanes = clara_core::lanes::Lanes<Id<ChannelMarker>, Arc<Message>>;

/// The adapter's name in health reports, events and outlets.
pub const ADAPTER: &str = "discord";

/// One Discord connection's shared state.
pub struct Bot {
    /// The running configuration.
    pub live: Arc<Live>,
    /// Discord's REST API.
    pub http: Arc<Client>,
    /// Events as they are emitted, for tool status lines.
    pub bus: Arc<HookBus>,
    /// Adapter state for `/health`.
    pub health: Arc<Health>,
    /// Busy channels.
    pub lanes: Lanes,
    /// Every channel worker under way, so closing the connection can wait for them.
    pub work: TaskTracker,
    /// Tool calls waiting for an approval click.
    pub approvals: Arc<DiscordApprovals>,
    identity: OnceLock<Identity>,
    seen: Mutex<Seen>,
    guilds: Mutex<HashMap<Id<GuildMarker>, Guild>>,
    shards: Mutex<BTreeMap<u32, ShardState>>,
    status_routes: Mutex<HashMap<String, mpsc::UnboundedSender<Update>>>,
}

/// Who clara is on Discord (from READY).
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    /// The bot user.
    pub user: Id<UserMarker>,
    /// The application, for slash commands.
    pub application: Id<ApplicationMarker>,
}

/// What clara knows of a server it is in.
#[derive(Clone, Debug, Default)]
pub struct Guild {
    /// The server's name.
    pub name: String,
    /// Its owner, who may always use admin commands.
    pub owner: Option<Id<UserMarker>>,
    /// Roles: name and permissions.
    pub roles: HashMap<Id<RoleMarker>, (String, Permissions)>,
    /// Channel names.
    pub channels: HashMap<Id<ChannelMarker>, String>,
}

/// A shard's connection, for `/health`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardState {
    /// Connecting or identifying for the first time.
    Starting,
    /// Identified (READY or RESUMED seen).
    Connected,
    /// Lost its connection; twilight is reconnecting.
    Reconnecting(String),
    /// Closed for good (a bad token, disallowed intents).
    Failed(String),
}

#[derive(Default)]
struct Seen {
    ids: HashSet<Id<MessageMarker>>,
    order: VecDeque<Id<MessageMarker>>,
}

impl Bot {
    /// A bot over `http` in the running configuration.
    pub fn new(live: Arc<Live>, http: Arc<Client>, observers: Observers) -> Bot {
        Bot {
            approvals: Arc::new(DiscordApprovals::new(http.clone(), live.clone())),
            live,
            http,
            bus: observers.bus,
            health: observers.health,
            lanes: Lanes::default(),
            work: TaskTracker::new(),
            identity: OnceLock::new(),
            seen: Mutex::default(),
            guilds: Mutex::default(),
            shards: Mutex::default(),
            status_routes: Mutex::default(),
        }
    }

    /// The current Discord settings.
    pub fn config(&self) -> DiscordConfig {
        self.live
            .current()
            .config
            .clara
            .value
            .adapters
            .discord
            .clone()
    }

    /// Who clara is, once a shard is ready.
    pub fn identity(&self) -> Option<Identity> {
        self.identity.get().copied()
    }

    /// Records who clara is; true the first time (when slash commands are registered).
    pub fn set_identity(&self, identity: Identity) -> bool {
        self.identity.set(identity).is_ok()
    }

    /// True the first time `id` is seen: a message redelivered after a resume is answered
    /// once.
    pub fn first_sight(&self, id: Id<MessageMarker>) -> bool {
        let mut seen = self.seen.lock().expect("seen lock");
        if !seen.ids.insert(id) {
            return false;
        }
        seen.order.push_back(id);
        if seen.order.len() > SEEN_LIMIT
            && let Some(old) = seen.order.pop_front()
        {
            seen.ids.remove(&old);
        }
        true
    }

    /// Remembers a server (GUILD_CREATE, GUILD_UPDATE).
    pub fn set_guild(&self, id: Id<GuildMarker>, guild: Guild) {
        self.guilds.lock().expect("guilds lock").insert(id, guild);
    }

    /// Changes what is known of a server, if it is known.
    pub fn update_guild(&self, id: Id<GuildMarker>, change: impl FnOnce(&mut Guild)) {
        if let Some(guild) = self.guilds.lock().expect("guilds lock").get_mut(&id) {
            change(guild);
        }
    }

    /// Forgets a server clara left.
    pub fn remove_guild(&self, id: Id<GuildMarker>) {
        self.guilds.lock().expect("guilds lock").remove(&id);
    }

    /// The names of a server and one of its channels, when known.
    pub fn names(
        &self,
        guild: Id<GuildMarker>,
        channel: Id<ChannelMarker>,
    ) -> (Option<String>, Option<String>) {
        let guilds = self.guilds.lock().expect("guilds lock");
        let Some(known) = guilds.get(&guild) else {
            return (None, None);
        };
        (
            Some(known.name.clone()),
            known.channels.get(&channel).cloned(),
        )
    }

    /// Whether a member may use admin actions: the server's owner, a member whose roles
    /// grant Administrator or Manage Channels, or who has the configured admin role (by
    /// name or id). `permissions` are Discord's own computation when it sent them (slash
    /// commands do).
    pub fn is_admin(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
        roles: &[Id<RoleMarker>],
        permissions: Option<Permissions>,
        admin_role: &str,
    ) -> bool {
        let powerful = Permissions::ADMINISTRATOR | Permissions::MANAGE_CHANNELS;
        if permissions.is_some_and(|p| p.intersects(powerful)) {
            return true;
        }
        let guilds = self.guilds.lock().expect("guilds lock");
        let Some(known) = guilds.get(&guild) else {
            return roles.iter().any(|r| r.to_string() == admin_role);
        };
        if known.owner == Some(user) {
            return true;
        }
        // @everyone's id is the server's.
        let everyone = Id::new(guild.get());
        roles.iter().chain([&everyone]).any(|role| {
            role.to_string() == admin_role
                || known.roles.get(role).is_some_and(|(name, granted)| {
                    name == admin_role || granted.intersects(powerful)
                })
        })
    }

    /// Records a shard's state and reports the adapter's to `/health`: connected when
    /// every shard is, failed when one failed, else starting or reconnecting.
    pub fn set_shard(&self, shard: u32, state: ShardState) {
        let mut shards = self.shards.lock().expect("shards lock");
        shards.insert(shard, state);
        let detail: serde_json::Map<String, serde_json::Value> = shards
            .iter()
            .map(|(id, state)| (id.to_string(), json!(shard_label(state))))
            .collect();
        let overall = if let Some(ShardState::Failed(reason)) =
            shards.values().find(|s| matches!(s, ShardState::Failed(_)))
        {
            AdapterState::Failed {
                reason: reason.clone(),
            }
        } else if let Some(ShardState::Reconnecting(reason)) = shards
            .values()
            .find(|s| matches!(s, ShardState::Reconnecting(_)))
        {
            AdapterState::Reconnecting {
                reason: reason.clone(),
            }
        } else if shards.values().all(|s| *s == ShardState::Connected) {
            AdapterState::Connected
        } else {
            AdapterState::Starting
        };
        drop(shards);
        self.health.set(ADAPTER, overall);
        self.health
            .set_detail(ADAPTER, "shards", serde_json::Value::Object(detail));
    }

    /// Fires `adapter:connected` / `adapter:disconnected`.
    pub fn emit_connection(&self, data: EventData) {
        self.live.current().services.events.emit(Event {
            platform: Some(ADAPTER.to_owned()),
            ..Event::global(data)
        });
    }

    /// Sends the tool status of the turn running in `conversation` to `reply`.
    pub fn route_status(&self, conversation: &str, reply: mpsc::UnboundedSender<Update>) {
        self.status_routes
            .lock()
            .expect("routes lock")
            .insert(conversation.to_owned(), reply);
    }

    /// Stops routing tool status for `conversation`.
    pub fn unroute_status(&self, conversation: &str) {
        self.status_routes
            .lock()
            .expect("routes lock")
            .remove(conversation);
    }

    /// Shows a `tool:start` of a Discord turn as a status line in its channel.
    pub fn show_tool_event(&self, event: &Event) {
        let EventData::ToolStart(start) = &event.data else {
            return;
        };
        if event.platform.as_deref() != Some(ADAPTER) {
            return;
        }
        let Some(conversation) = event.channel_id.as_deref() else {
            return;
        };
        let routes = self.status_routes.lock().expect("routes lock");
        let Some(reply) = routes.get(conversation) else {
            return;
        };
        let line = &self.config().notices.tool_status;
        if !line.is_empty() {
            let _ = reply.send(Update::Status(tool_status_line(line, start)));
        }
    }
}

fn shard_label(state: &ShardState) -> &'static str {
    match state {
        ShardState::Starting => "starting",
        ShardState::Connected => "connected",
        ShardState::Reconnecting(_) => "reconnecting",
        ShardState::Failed(_) => "failed",
    }
}
