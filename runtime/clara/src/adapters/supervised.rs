//! What the long-running adapters share around their own connection: the task that keeps it
//! matching the configuration, stopped through [`Adapter`], and the wait for a reload that
//! changes the settings it is made from.

use std::time::Duration;

use clara_config::ConfigSet;
use clara_core::llm::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Adapter;
use crate::live::Live;

/// A running adapter: its supervising task and the token that tells it to stop.
pub struct Supervised {
    name: &'static str,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Supervised {
    /// Runs `supervise` with a fresh stop token, as adapter `name`.
    pub fn spawn<F>(name: &'static str, supervise: impl FnOnce(CancellationToken) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let task = tokio::spawn(supervise(stop.clone()));
        Supervised { name, stop, task }
    }
}

impl Adapter for Supervised {
    fn name(&self) -> &'static str {
        self.name
    }

    fn stop(self: Box<Self>, grace: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            self.stop.cancel();
            if tokio::time::timeout(grace + Duration::from_secs(2), self.task)
                .await
                .is_err()
            {
                tracing::warn!(adapter = self.name, "the adapter did not stop in time");
            }
        })
    }
}

/// Waits until a reload changes what `settings_of` reads from the configuration, and returns
/// the new settings (`None`: the adapter is now off). Settings that are invalid (a secret's
/// variable emptied) keep the running connection, with a warning naming `what` stays.
pub async fn changed<T: PartialEq, E: std::fmt::Display>(
    live: &Live,
    current: &Option<T>,
    settings_of: impl Fn(&ConfigSet) -> Result<Option<T>, E>,
    what: &str,
) -> Option<T> {
    let mut changes = live.changes();
    // The generation current now is checked first: a reload may have landed while the
    // connection was opening.
    changes.mark_changed();
    loop {
        if changes.changed().await.is_err() {
            // No more reloads will come: the connection stays as it is.
            std::future::pending::<()>().await;
        }
        let generation = changes.borrow_and_update().clone();
        match settings_of(&generation.config) {
            Ok(next) if next != *current => return next,
            Ok(_) => {}
            Err(error) => tracing::warn!("{error}; the running {what} stays"),
        }
    }
}
