//! Discord as a place hooks and scheduled pipelines post to: a channel by id, or a user's DMs.

use std::sync::Arc;

use clara_config::model::hook::Delivery;
use clara_core::llm::BoxFuture;
use twilight_http::Client;
use twilight_model::channel::message::AllowedMentions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, UserMarker};

use super::split::split;
use crate::live::Outlet;

/// Posts through one connection's REST client.
pub struct DiscordOutlet {
    /// Discord's REST API.
    pub http: Arc<Client>,
    /// Longest message, in characters.
    pub limit: usize,
}

impl Outlet for DiscordOutlet {
    fn post<'a>(
        &'a self,
        to: &'a Delivery,
        text: &'a str,
        mention: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let channel = self.channel(to).await?;
            // Only the user named is pinged, whatever the text contains.
            let mut allowed = AllowedMentions::default();
            let text = match mention {
                Some(user) => {
                    let id = user_id(user)?;
                    allowed.users = vec![id];
                    format!("<@{id}> {text}")
                }
                None => text.to_owned(),
            };
            for (n, chunk) in split(&text, self.limit).into_iter().enumerate() {
                let quiet = AllowedMentions::default();
                self.http
                    .create_message(channel)
                    .content(&chunk)
                    .allowed_mentions(Some(if n == 0 { &allowed } else { &quiet }))
                    .await
                    .map_err(|e| format!("Discord refused the message: {e}"))?;
            }
            Ok(())
        })
    }
}

impl DiscordOutlet {
    /// The channel to post in: the one named, or a DM channel with the user named.
    async fn channel(&self, to: &Delivery) -> Result<Id<ChannelMarker>, String> {
        if let Some(channel) = &to.channel {
            let id = channel
                .trim_start_matches("channel-")
                .parse::<Id<ChannelMarker>>()
                .map_err(|_| format!("`{channel}` is not a Discord channel id"))?;
            return Ok(id);
        }
        let Some(user) = &to.user else {
            return Err("a Discord delivery needs a `channel` or a `user`".to_owned());
        };
        let id = user_id(user)?;
        let dm = self
            .http
            .create_private_channel(id)
            .await
            .map_err(|e| format!("cannot open a DM with {user}: {e}"))?
            .model()
            .await
            .map_err(|e| format!("cannot open a DM with {user}: {e}"))?;
        Ok(dm.id)
    }
}

/// The Discord id in a clara user id (`discord-42`).
fn user_id(user: &str) -> Result<Id<UserMarker>, String> {
    user.trim_start_matches("discord-")
        .parse::<Id<UserMarker>>()
        .map_err(|_| format!("`{user}` is not a Discord user id"))
}
