//! What rate limits count, kept in memory: for each user (or conversation) and window, the
//! newest messages or tool calls, read from the store once and then added to as they are
//! written, so a turn checks its limits without a query. The store is read again after
//! [`RESYNC_MS`], which brings in what other instances on the same database wrote.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use clara_config::model::steps::RateScope;

use crate::store::{Millis, Stamp, Store, StoreResult};

/// How long what a window read from the store is trusted before it is read again.
pub(crate) const RESYNC_MS: Millis = 60_000;

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Counted {
    /// User messages.
    Messages,
    /// Tool calls that ran.
    ToolCalls,
}

/// Which windows there are: what they count, whose, and how long they are.
type Kind = (Counted, RateScope, Millis);

/// Every window, by kind and then by the user or conversation it counts.
#[derive(Default)]
pub(crate) struct RateWindows {
    kinds: Mutex<HashMap<Kind, HashMap<String, Window>>>,
}

/// One user's (or conversation's) window.
#[derive(Default)]
struct Window {
    /// The newest stamps, oldest first, at most `keep` of them.
    stamps: VecDeque<Stamp>,
    /// How many stamps the limits that look at it need: one more than the largest allows.
    keep: usize,
    /// When the store was last read for it (`None` until it has been), and how many stamps
    /// that read asked for.
    synced: Option<(Millis, usize)>,
    /// When a limit last looked at it, so windows no one asks about are let go.
    used_at: Millis,
}

impl Window {
    /// Adds `new` (deduplicated by id: a row read from the store may also have been noted),
    /// keeping the newest `keep`.
    fn merge(&mut self, new: impl IntoIterator<Item = Stamp>) {
        let mut new = new.into_iter().peekable();
        // What is noted is almost always the newest yet: then it goes on the end.
        if let Some(stamp) = new.next_if(|s| self.stamps.back().is_none_or(|b| s > b)) {
            if new.peek().is_none() {
                self.stamps.push_back(stamp);
                if self.stamps.len() > self.keep {
                    self.stamps.pop_front();
                }
                return;
            }
            self.stamps.push_back(stamp);
        }
        let mut all: Vec<Stamp> = self.stamps.drain(..).chain(new).collect();
        all.sort_unstable();
        all.dedup_by_key(|s| s.id);
        let skip = all.len().saturating_sub(self.keep);
        self.stamps = all.into_iter().skip(skip).collect();
    }

    /// Stamps at or after `since`, forgetting older ones.
    fn count_since(&mut self, since: Millis) -> u64 {
        while self.stamps.front().is_some_and(|s| s.at < since) {
            self.stamps.pop_front();
        }
        self.stamps.len() as u64
    }
}

impl RateWindows {
    /// How many of `what` were written by `who` in the `window_ms` up to `now`, counted up to
    /// `up_to`. Reads the store the first time a window is asked for, when it was read more
    /// than [`RESYNC_MS`] ago, and when a limit needs more than it kept.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn count(
        &self,
        store: &dyn Store,
        what: Counted,
        per: RateScope,
        who: &str,
        window_ms: Millis,
        now: Millis,
        up_to: u32,
    ) -> StoreResult<u64> {
        let kind = (what, per, window_ms);
        let since = now - window_ms;
        let asked = up_to as usize;
        let keep = {
            let mut kinds = self.lock();
            let windows = kinds.entry(kind).or_default();
            // The window exists before the store is read, so rows noted meanwhile land in it.
            let window = windows.entry(who.to_owned()).or_default();
            window.used_at = now;
            window.keep = window.keep.max(asked);
            let fresh = window
                .synced
                .is_some_and(|(at, read)| now - at < RESYNC_MS && read >= asked);
            if fresh {
                return Ok(window.count_since(since).min(u64::from(up_to)));
            }
            window.keep
        };
        let read = u32::try_from(keep).unwrap_or(u32::MAX);
        let (user, conversation) = match per {
            RateScope::User => (Some(who), None),
            RateScope::Channel => (None, Some(who)),
        };
        let stored = match what {
            Counted::Messages => {
                store
                    .user_message_stamps(user, conversation, since, read)
                    .await?
            }
            Counted::ToolCalls => {
                store
                    .tool_call_stamps(user, conversation, since, read)
                    .await?
            }
        };
        let mut kinds = self.lock();
        let windows = kinds.entry(kind).or_default();
        // Windows no limit has looked at for a whole window (and a resync) are read again
        // when next needed.
        windows.retain(|_, w| now - w.used_at <= window_ms + RESYNC_MS);
        let window = windows.entry(who.to_owned()).or_default();
        window.keep = window.keep.max(keep);
        window.merge(stored);
        window.synced = Some((now, keep));
        window.used_at = now;
        Ok(window.count_since(since).min(u64::from(up_to)))
    }

    /// Counts a message or tool call just written, in every window that counts it.
    pub(crate) fn note(&self, what: Counted, user: &str, conversation: &str, stamp: Stamp) {
        let mut kinds = self.lock();
        for ((counted, per, _), windows) in kinds.iter_mut() {
            if *counted != what {
                continue;
            }
            let who = match per {
                RateScope::User => user,
                RateScope::Channel => conversation,
            };
            if let Some(window) = windows.get_mut(who) {
                window.merge([stamp]);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Kind, HashMap<String, Window>>> {
        self.kinds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(at: Millis, id: i64) -> Stamp {
        Stamp { at, id }
    }

    #[test]
    fn a_merge_keeps_the_newest_once_each() {
        let mut window = Window {
            keep: 3,
            ..Window::default()
        };
        window.merge([stamp(10, 1), stamp(20, 2)]);
        window.merge([stamp(20, 2), stamp(30, 3), stamp(40, 4)]);
        let ids: Vec<i64> = window.stamps.iter().map(|s| s.id).collect();
        assert_eq!(ids, [2, 3, 4]);
        window.merge([stamp(30, 3)]);
        window.merge([stamp(50, 5)]);
        window.merge([stamp(45, 6)]);
        let ids: Vec<i64> = window.stamps.iter().map(|s| s.id).collect();
        assert_eq!(ids, [4, 6, 5], "oldest first, by time");
        assert_eq!(window.count_since(42), 2);
        assert_eq!(
            window.count_since(0),
            2,
            "what fell out of the window is gone"
        );
    }
}
