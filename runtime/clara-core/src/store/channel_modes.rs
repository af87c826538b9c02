//! Chat channel modes set at run time, overriding the configured ones until cleared.

use super::{ChannelModeSetting, StoreResult};
use crate::llm::BoxFuture;

/// Channel modes set at run time, shared by every instance using the store.
pub trait ChannelModes: Send + Sync {
    /// The mode set at run time for channel `channel_id` of `platform`; `None` when none is
    /// set (the configured mode applies).
    fn channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ChannelModeSetting>>>;

    /// Sets a channel's mode, replacing the one set before.
    fn set_channel_mode<'a>(
        &'a self,
        setting: &'a ChannelModeSetting,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Every mode set at run time on `platform`, by channel id: what the console lists.
    fn channel_modes<'a>(
        &'a self,
        platform: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<ChannelModeSetting>>>;

    /// Removes a channel's mode so the configured one applies again; `true` when one was set.
    fn clear_channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}
