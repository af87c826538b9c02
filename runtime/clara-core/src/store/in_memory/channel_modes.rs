//! [`ChannelModes`] in memory: one setting per platform and channel.

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::{ChannelModeSetting, ChannelModes, StoreResult};

/// The key a channel's setting is kept under.
fn key(platform: &str, channel_id: &str) -> (String, String) {
    (platform.to_owned(), channel_id.to_owned())
}

impl ChannelModes for InMemoryStore {
    fn channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ChannelModeSetting>>> {
        self.with(|state| Ok(state.channel_modes.get(&key(platform, channel_id)).cloned()))
    }

    fn set_channel_mode<'a>(
        &'a self,
        setting: &'a ChannelModeSetting,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            let at = key(&setting.platform, &setting.channel_id);
            state.channel_modes.insert(at, setting.clone());
            Ok(())
        })
    }

    fn channel_modes<'a>(
        &'a self,
        platform: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<ChannelModeSetting>>> {
        self.with(|state| {
            let mut set: Vec<ChannelModeSetting> = state
                .channel_modes
                .values()
                .filter(|s| s.platform == platform)
                .cloned()
                .collect();
            set.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
            Ok(set)
        })
    }

    fn clear_channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            let removed = state.channel_modes.remove(&key(platform, channel_id));
            Ok(removed.is_some())
        })
    }
}
