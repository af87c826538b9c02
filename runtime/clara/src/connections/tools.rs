//! The built-in tools `connect`, `connection_status` and `disconnect`: a user connects their
//! own account from the chat (the model passes on a one-time link), checks what is connected,
//! and takes the access back.

use std::sync::Arc;

use clara_core::engine::{Tool, ToolContext, ToolError};
use clara_core::llm::{BoxFuture, ToolSpec};
use serde_json::{Value, json};

use super::connector::{ConnectError, Connector};

/// What each tool does.
#[derive(Clone, Copy)]
enum Action {
    Connect,
    Status,
    Disconnect,
}

struct ConnectionTool {
    spec: ToolSpec,
    action: Action,
    connector: Arc<Connector>,
}

/// The three tools over `connector`'s connections that are set up (none when none is): a
/// model is never offered what cannot work.
pub fn tools(connector: &Arc<Connector>) -> Vec<Arc<dyn Tool>> {
    let names: Vec<&str> = connector.available().map(|(name, _)| name).collect();
    if names.is_empty() {
        return Vec::new();
    }
    let listed = connector
        .available()
        .map(|(name, title)| format!("`{name}` ({title})"))
        .collect::<Vec<_>>()
        .join(", ");
    let connection = json!({"type": "string", "enum": names, "description": "The connection."});
    let tool = |action, name: &str, description: String, parameters: Value| {
        Arc::new(ConnectionTool {
            spec: ToolSpec {
                name: name.to_owned(),
                description,
                parameters,
            },
            action,
            connector: connector.clone(),
        }) as Arc<dyn Tool>
    };
    vec![
        tool(
            Action::Connect,
            "connect",
            format!(
                "Gives a one-time link (valid 10 minutes) that connects the user's own account at a service, so tools can act as them there. Pass the link on as it is. Connections: {listed}."
            ),
            json!({"type": "object", "properties": {"connection": connection}, "required": ["connection"]}),
        ),
        tool(
            Action::Status,
            "connection_status",
            format!("Says which services the user has connected. Connections: {listed}."),
            json!({"type": "object", "properties": {"connection": connection}}),
        ),
        tool(
            Action::Disconnect,
            "disconnect",
            format!(
                "Disconnects the user's account at a service: its access is revoked and forgotten. Connections: {listed}."
            ),
            json!({"type": "object", "properties": {"connection": connection}, "required": ["connection"]}),
        ),
    ]
}

impl ConnectionTool {
    async fn run(
        &self,
        arguments: &Value,
        context: &ToolContext<'_>,
    ) -> Result<String, ConnectError> {
        let connector = &self.connector;
        let user = context.user_id;
        let now = context.clock.now();
        let chosen = arguments.get("connection").and_then(Value::as_str);
        match (self.action, chosen) {
            (Action::Connect, Some(name)) => {
                let link = connector.link(user, name, now)?;
                let title = connector.title(name);
                let already = connector.status(context.store, user, name).await?.is_some();
                let note = if already {
                    " It is already connected; connecting again replaces that access."
                } else {
                    ""
                };
                Ok(format!(
                    "Link to connect {title}, for this user only, working once for 10 minutes: {link}{note}"
                ))
            }
            (Action::Disconnect, Some(name)) => {
                let title = connector.title(name);
                Ok(if connector.disconnect(context.store, user, name).await? {
                    format!("Disconnected {title}: its access was revoked and forgotten.")
                } else {
                    format!("{title} was not connected.")
                })
            }
            (Action::Status, chosen) => {
                let mut lines = Vec::new();
                for (name, title) in connector.available() {
                    if chosen.is_some_and(|c| c != name) {
                        continue;
                    }
                    lines.push(match connector.status(context.store, user, name).await? {
                        Some(_) => format!("{title}: connected"),
                        None => format!("{title}: not connected"),
                    });
                }
                Ok(lines.join("\n"))
            }
            (_, None) => Ok("Say which connection.".to_owned()),
        }
    }
}

impl Tool for ConnectionTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            self.run(arguments, context)
                .await
                .map_err(|e| ToolError(e.to_string()))
        })
    }
}
