//! The adapters' states for `/health`: which adapter is connected, which is not and why, and
//! since when.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// Where an adapter's connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterState {
    /// Connecting for the first time.
    Starting,
    /// Up and receiving messages.
    Connected,
    /// Lost its connection and is trying again.
    Reconnecting {
        /// Why the connection was lost.
        reason: String,
    },
    /// Gave up; needs attention (a bad token, say).
    Failed {
        /// Why it gave up.
        reason: String,
    },
    /// Stopped on purpose (shutdown, disabled by a reload).
    Stopped,
}

impl AdapterState {
    /// Every state's name, in the order `/metrics` lists them.
    pub const NAMES: [&'static str; 5] =
        ["starting", "connected", "reconnecting", "failed", "stopped"];

    /// The state's name in `/health` and `/metrics`, e.g. `connected`.
    pub fn name(&self) -> &'static str {
        match self {
            AdapterState::Starting => "starting",
            AdapterState::Connected => "connected",
            AdapterState::Reconnecting { .. } => "reconnecting",
            AdapterState::Failed { .. } => "failed",
            AdapterState::Stopped => "stopped",
        }
    }

    /// Why the adapter is not connected, when it says.
    pub fn reason(&self) -> Option<&str> {
        match self {
            AdapterState::Reconnecting { reason } | AdapterState::Failed { reason } => Some(reason),
            _ => None,
        }
    }
}

/// The whole runtime's health, from its adapters'.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    /// Every adapter is connected (or there are none).
    Ok,
    /// Some adapter is starting, reconnecting or stopped.
    Degraded,
    /// Some adapter failed.
    Failed,
}

/// What `/health` answers.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct HealthReport {
    /// The overall verdict.
    pub status: OverallStatus,
    /// Whole seconds since the runtime started.
    pub uptime_secs: u64,
    /// Each adapter's state, by adapter name.
    pub adapters: BTreeMap<String, AdapterReport>,
}

impl HealthReport {
    /// The HTTP status `/health` answers with: 200 when ok, 503 otherwise, so a load balancer
    /// or `curl --fail` can tell without parsing the body.
    pub fn http_status(&self) -> u16 {
        match self.status {
            OverallStatus::Ok => 200,
            OverallStatus::Degraded | OverallStatus::Failed => 503,
        }
    }
}

/// One adapter in a [`HealthReport`].
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct AdapterReport {
    /// The state's name ([`AdapterState::name`]).
    pub state: &'static str,
    /// Why it is not connected, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it entered this state, RFC 3339 in UTC.
    pub since: String,
    /// What the adapter added with [`Health::set_detail`] (its shards, say).
    #[serde(flatten)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

/// Keys of an [`AdapterReport`] that detail may not overwrite.
const RESERVED_KEYS: [&str; 3] = ["state", "reason", "since"];

struct Entry {
    state: AdapterState,
    since: DateTime<Utc>,
    detail: serde_json::Map<String, serde_json::Value>,
}

/// The adapters' states, shared by the adapters (which write) and the status endpoint (which
/// reads).
pub struct Health {
    started: Instant,
    adapters: Mutex<BTreeMap<String, Entry>>,
}

impl Health {
    /// An empty registry; uptime counts from now.
    pub fn new() -> Arc<Health> {
        Arc::new(Health {
            started: Instant::now(),
            adapters: Mutex::default(),
        })
    }

    /// Records `adapter`'s state. `since` moves only when the state's kind changes, so an
    /// adapter that reports "reconnecting" on every attempt still shows when the trouble began.
    pub fn set(&self, adapter: &str, state: AdapterState) {
        let now = Utc::now();
        let mut adapters = self.lock();
        match adapters.get_mut(adapter) {
            Some(entry) => {
                if entry.state.name() != state.name() {
                    entry.since = now;
                }
                entry.state = state;
            }
            None => {
                adapters.insert(
                    adapter.to_owned(),
                    Entry {
                        state,
                        since: now,
                        detail: serde_json::Map::new(),
                    },
                );
            }
        }
    }

    /// Adds `key` to `adapter`'s report (e.g. `shards` → `{"0": "connected"}`); `null` removes
    /// it. An adapter not yet known is recorded as starting. The report's own keys (`state`,
    /// `reason`, `since`) cannot be overwritten and are ignored.
    pub fn set_detail(&self, adapter: &str, key: &str, value: serde_json::Value) {
        if RESERVED_KEYS.contains(&key) {
            tracing::debug!(adapter, key, "health detail key is reserved; ignored");
            return;
        }
        let mut adapters = self.lock();
        let entry = adapters.entry(adapter.to_owned()).or_insert_with(|| Entry {
            state: AdapterState::Starting,
            since: Utc::now(),
            detail: serde_json::Map::new(),
        });
        if value.is_null() {
            entry.detail.remove(key);
        } else {
            entry.detail.insert(key.to_owned(), value);
        }
    }

    /// Forgets `adapter` (it was removed from the configuration).
    pub fn remove(&self, adapter: &str) {
        self.lock().remove(adapter);
    }

    /// How long the runtime has been up.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every adapter's state and the verdict.
    pub fn snapshot(&self) -> HealthReport {
        let adapters: BTreeMap<String, AdapterReport> = self
            .lock()
            .iter()
            .map(|(name, entry)| {
                let report = AdapterReport {
                    state: entry.state.name(),
                    reason: entry.state.reason().map(str::to_owned),
                    since: entry.since.to_rfc3339_opts(SecondsFormat::Millis, true),
                    detail: entry.detail.clone(),
                };
                (name.clone(), report)
            })
            .collect();
        let status = if adapters.values().any(|a| a.state == "failed") {
            OverallStatus::Failed
        } else if adapters.values().all(|a| a.state == "connected") {
            OverallStatus::Ok
        } else {
            OverallStatus::Degraded
        };
        HealthReport {
            status,
            uptime_secs: self.uptime().as_secs(),
            adapters,
        }
    }

    // A panic elsewhere while holding the lock leaves the map consistent (every write is one
    // statement), so health keeps answering rather than poisoning the endpoint.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.adapters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_adapters_is_ok() {
        let report = Health::new().snapshot();
        assert_eq!(report.status, OverallStatus::Ok);
        assert_eq!(report.http_status(), 200);
    }

    #[test]
    fn failed_outranks_degraded() {
        let health = Health::new();
        health.set("a", AdapterState::Starting);
        health.set(
            "b",
            AdapterState::Failed {
                reason: "bad token".into(),
            },
        );
        let report = health.snapshot();
        assert_eq!(report.status, OverallStatus::Failed);
        assert_eq!(report.http_status(), 503);
        assert_eq!(report.adapters["b"].reason.as_deref(), Some("bad token"));
    }

    #[test]
    fn since_moves_only_when_the_kind_changes() {
        let health = Health::new();
        health.set(
            "a",
            AdapterState::Reconnecting {
                reason: "one".into(),
            },
        );
        let first = health.snapshot().adapters["a"].since.clone();
        std::thread::sleep(Duration::from_millis(5));
        health.set(
            "a",
            AdapterState::Reconnecting {
                reason: "two".into(),
            },
        );
        let again = &health.snapshot().adapters["a"];
        assert_eq!(again.since, first);
        assert_eq!(again.reason.as_deref(), Some("two"));
        health.set("a", AdapterState::Connected);
        assert_ne!(health.snapshot().adapters["a"].since, first);
    }

    #[test]
    fn detail_is_flattened_and_reserved_keys_are_kept() {
        let health = Health::new();
        health.set_detail("discord", "shards", json!({"0": "connected"}));
        health.set_detail("discord", "state", json!("hijacked"));
        let value = serde_json::to_value(health.snapshot()).unwrap();
        let discord = &value["adapters"]["discord"];
        assert_eq!(discord["state"], "starting");
        assert_eq!(discord["shards"]["0"], "connected");
        assert!(discord.get("reason").is_none());
        health.set_detail("discord", "shards", serde_json::Value::Null);
        let value = serde_json::to_value(health.snapshot()).unwrap();
        assert!(value["adapters"]["discord"].get("shards").is_none());
    }
}
