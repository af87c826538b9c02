//! The Discord adapter: twilight shards turn Discord events into pipeline turns, and replies
//! stream back by editing messages.

pub mod images;
pub mod split;
