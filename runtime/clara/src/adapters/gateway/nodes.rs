//! The platform adapters connected to the gateway: their session ids (kept across
//! reconnections, which MyPalClara's protocol could not recognise), and which connection last
//! carried each user and channel, so proactive messages find their way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use super::outbox::Outbox;

/// How many issued session ids are remembered for reconnecting nodes.
const REMEMBERED_SESSIONS: usize = 10_000;

/// One connected node.
#[derive(Clone)]
pub struct Node {
    /// The id it registered with.
    pub node_id: String,
    /// Its platform.
    pub platform: String,
    /// The session id it was given.
    pub session_id: String,
    /// Frames to it.
    pub outbox: Outbox,
}

/// Every connected node, by connection number.
#[derive(Default)]
pub struct Nodes(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    connected: HashMap<u64, Node>,
    issued: HashSet<String>,
    issued_order: VecDeque<String>,
    /// `user:<id>` and `channel:<id>` → the connection that last carried them.
    last_seen: HashMap<String, u64>,
}

impl Nodes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().expect("no panics while held")
    }

    /// Registers connection `conn`. A session id this gateway issued before is given back,
    /// whether or not its old connection is still open; anything else gets a new one.
    /// Returns the session id and whether it was a reconnection.
    pub fn register(
        &self,
        conn: u64,
        node_id: String,
        platform: String,
        previous: Option<&str>,
        outbox: Outbox,
    ) -> (String, bool) {
        let mut inner = self.lock();
        let reused = previous.filter(|id| inner.issued.contains(*id));
        let session_id = match reused {
            Some(id) => id.to_owned(),
            None => {
                let id = format!("gw-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
                inner.issued.insert(id.clone());
                inner.issued_order.push_back(id.clone());
                if inner.issued_order.len() > REMEMBERED_SESSIONS
                    && let Some(oldest) = inner.issued_order.pop_front()
                {
                    inner.issued.remove(&oldest);
                }
                id
            }
        };
        let reconnected = reused.is_some();
        inner.connected.insert(
            conn,
            Node {
                node_id,
                platform,
                session_id: session_id.clone(),
                outbox,
            },
        );
        (session_id, reconnected)
    }

    /// Forgets connection `conn`, returning its node.
    pub fn unregister(&self, conn: u64) -> Option<Node> {
        let mut inner = self.lock();
        inner.last_seen.retain(|_, seen| *seen != conn);
        inner.connected.remove(&conn)
    }

    /// Notes that `conn` carried a message from `user` in `channel`.
    pub fn saw(&self, conn: u64, user: &str, channel: &str) {
        let mut inner = self.lock();
        inner.last_seen.insert(format!("user:{user}"), conn);
        inner.last_seen.insert(format!("channel:{channel}"), conn);
    }

    /// The node that last carried `key` (`user:<id>` or `channel:<id>`).
    pub fn carrying(&self, key: &str) -> Option<Node> {
        let inner = self.lock();
        let conn = inner.last_seen.get(key)?;
        inner.connected.get(conn).cloned()
    }

    /// The connected nodes.
    pub fn all(&self) -> Vec<Node> {
        self.lock().connected.values().cloned().collect()
    }
}
