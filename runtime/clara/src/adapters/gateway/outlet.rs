//! Proactive messages through the gateway: a hook's or task's `deliver = { adapter =
//! "gateway", channel | user }` becomes a `proactive_message` frame to the node that last
//! carried that channel or user.

use std::sync::Arc;

use clara_config::model::hook::Delivery;
use clara_core::llm::BoxFuture;
use serde_json::json;

use super::nodes::Nodes;
use crate::live::Outlet;

/// Posts through whichever connected node knows the recipient.
pub struct GatewayOutlet(pub Arc<Nodes>);

impl Outlet for GatewayOutlet {
    fn post<'a>(
        &'a self,
        to: &'a Delivery,
        text: &'a str,
        mention: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let (key, user, channel) = match (&to.channel, &to.user) {
                (Some(channel), _) => (
                    format!("channel:{channel}"),
                    json!(null),
                    json!({ "id": channel, "type": "server" }),
                ),
                (None, Some(user)) => (
                    format!("user:{user}"),
                    json!({ "id": user }),
                    json!({ "id": user, "type": "dm" }),
                ),
                (None, None) => return Err("the delivery names no channel or user".to_owned()),
            };
            let node = self.0.carrying(&key).ok_or_else(|| {
                format!("no node connected to the gateway has carried {key} since it started")
            })?;
            let frame = json!({
                "type": "proactive_message",
                "user": user,
                "channel": channel,
                "content": text,
                // A node notifies its user of a high-priority message (the gateway has no
                // mentions of its own).
                "priority": if mention.is_some() { "high" } else { "normal" },
            });
            if node.outbox.send(frame) {
                Ok(())
            } else {
                Err(format!("node {} is gone", node.node_id))
            }
        })
    }
}
