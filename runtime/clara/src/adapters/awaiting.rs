//! Tool approvals waiting for a person's answer, kept the same way by every adapter that asks
//! (Discord, the gateway): the first answer from someone allowed decides; the time running
//! out, or the wait being dropped (a cancelled turn), leaves nothing for a later answer.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use clara_core::engine::{ApprovalRequest, Decision};
use tokio::sync::oneshot;

/// The requests waiting, by approval id, each with what the adapter keeps beside it (`T`: the
/// gateway connection that was asked, say).
pub struct Awaiting<T>(Mutex<HashMap<String, Pending<T>>>);

struct Pending<T> {
    request: ApprovalRequest,
    tag: T,
    answer: oneshot::Sender<Decision>,
}

/// One request's wait; dropping it takes the request out of the waiting.
pub struct Ticket<'a, T> {
    awaiting: &'a Awaiting<T>,
    id: String,
    decided: oneshot::Receiver<Decision>,
}

/// The right to decide a request that was taken from the waiting.
pub struct Answer(oneshot::Sender<Decision>);

impl<T> Default for Awaiting<T> {
    fn default() -> Self {
        Awaiting(Mutex::default())
    }
}

impl<T> Awaiting<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Pending<T>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `request` among the waiting, before it is asked, so the quickest answer finds it.
    pub fn add(&self, request: &ApprovalRequest, tag: T) -> Ticket<'_, T> {
        let (answer, decided) = oneshot::channel();
        self.lock().insert(
            request.id.clone(),
            Pending {
                request: request.clone(),
                tag,
                answer,
            },
        );
        Ticket {
            awaiting: self,
            id: request.id.clone(),
            decided,
        }
    }

    /// Takes request `id` when it is still waiting and `allowed` says this answer counts;
    /// otherwise the answer changes nothing and `None` comes back.
    pub fn take(
        &self,
        id: &str,
        allowed: impl FnOnce(&ApprovalRequest, &T) -> bool,
    ) -> Option<Answer> {
        let mut waiting = self.lock();
        let counts = waiting
            .get(id)
            .is_some_and(|pending| allowed(&pending.request, &pending.tag));
        counts
            .then(|| waiting.remove(id))
            .flatten()
            .map(|pending| Answer(pending.answer))
    }
}

impl<T> Ticket<'_, T> {
    /// The decision, or `None` when `timeout` passed first. An answer taken at the last
    /// moment still decides, as the adapter has already told its giver.
    pub async fn decision(&mut self, timeout: Duration) -> Option<Decision> {
        if let Ok(Ok(decision)) = tokio::time::timeout(timeout, &mut self.decided).await {
            return Some(decision);
        }
        let gone = self.awaiting.lock().remove(&self.id).is_none();
        if gone {
            (&mut self.decided).await.ok()
        } else {
            None
        }
    }
}

impl<T> Drop for Ticket<'_, T> {
    fn drop(&mut self) {
        self.awaiting.lock().remove(&self.id);
    }
}

impl Answer {
    /// Decides the request (its wait may have just given up; then this changes nothing).
    pub fn send(self, decision: Decision) {
        let _ = self.0.send(decision);
    }
}
