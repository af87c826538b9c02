//! The built-in tools for a user's watched inboxes: a link to connect one over IMAP (the
//! password is typed on that page, never in the chat) or their Gmail through their Google
//! connection, the list of them with how their checks go,
//! disconnecting one, where alerts go, quiet hours, and the latest alerts.

use std::sync::Arc;

use clara_config::model::email::EmailConfig;
use clara_core::engine::{Tool, ToolContext, ToolError};
use clara_core::llm::{BoxFuture, ToolSpec};
use clara_core::store::EmailAccount;
use serde_json::{Value, json};

use super::gmail_mailbox::{GmailError, with_renewal};
use super::inbox_link::connect_link;
use super::quiet_hours::minutes_of;
use crate::connections::Connector;

/// What each tool does.
#[derive(Clone, Copy)]
enum Action {
    Connect,
    ConnectGmail,
    List,
    Disconnect,
    QuietHours,
    RecentAlerts,
    Status,
    AlertChannel,
    Ping,
    Interval,
}

struct AccountTool {
    spec: ToolSpec,
    action: Action,
    connector: Arc<Connector>,
    email: Arc<EmailConfig>,
}

/// The account tools; none when the secret key that seals passwords is not set.
pub fn account_tools(connector: &Arc<Connector>, email: &EmailConfig) -> Vec<Arc<dyn Tool>> {
    if connector.secret_key().is_none() {
        return Vec::new();
    }
    let email = Arc::new(email.clone());
    let tool = |action, name: &str, description: &str, parameters: Value| {
        Arc::new(AccountTool {
            spec: ToolSpec {
                name: name.to_owned(),
                description: description.to_owned(),
                parameters,
            },
            action,
            connector: connector.clone(),
            email: email.clone(),
        }) as Arc<dyn Tool>
    };
    let gmail = connector.is_available(&email.gmail_connection);
    let mut tools = vec![
        tool(
            Action::Connect,
            "email_connect_imap",
            "Gives a one-time link (valid 10 minutes, for this user only) to a page where the user connects an email inbox over IMAP (iCloud, Outlook, Fastmail, any provider) for you to watch. Pass the link on as it is. Never ask for the password in the chat: it is typed on that page.",
            json!({"type": "object", "properties": {
                "address": {"type": "string", "description": "The address to connect, if the user said, to fill in on the page."}}}),
        ),
        tool(
            Action::List,
            "email_list_accounts",
            "Lists the user's watched inboxes: when each was last checked and whether checks fail.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            Action::Disconnect,
            "email_disconnect",
            "Stops watching one of the user's inboxes and forgets its password and alerts.",
            json!({"type": "object", "required": ["address"], "properties": {
                "address": {"type": "string", "description": "The inbox's address, as email_list_accounts shows it."}}}),
        ),
        tool(
            Action::Interval,
            "email_set_check_interval",
            "Sets how often one of the user's inboxes is checked for new mail.",
            json!({"type": "object", "required": ["address", "minutes"], "properties": {
                "address": {"type": "string", "description": "The inbox's address, as email_list_accounts shows it."},
                "minutes": {"type": "integer", "minimum": 1, "maximum": 1440}}}),
        ),
        tool(
            Action::QuietHours,
            "email_set_quiet_hours",
            "Sets the hours when email alerts wait instead of arriving (they come when the hours end), or turns them off.",
            json!({"type": "object", "properties": {
                "start": {"type": "string", "description": "HH:MM, e.g. 22:00. Leave out start and end to turn quiet hours off."},
                "end": {"type": "string", "description": "HH:MM, e.g. 07:00; before start means the next morning."},
                "timezone": {"type": "string", "description": "The user's IANA time zone, e.g. Europe/Berlin (default: clara's)."}}}),
        ),
        tool(
            Action::AlertChannel,
            "email_set_alert_channel",
            "Chooses where the user's email alerts go: `here` (this channel, on this platform) or `dm` (a direct message, the default).",
            json!({"type": "object", "required": ["to"], "properties": {
                "to": {"type": "string", "enum": ["here", "dm"]}}}),
        ),
        tool(
            Action::Ping,
            "email_toggle_ping",
            "Turns mentions in the user's email alerts on or off (a mention notifies them; a rule can always or never ping, whatever this says).",
            json!({"type": "object", "properties": {
                "on": {"type": "boolean", "description": "true to be mentioned, false not; leave out to switch."}}}),
        ),
        tool(
            Action::Status,
            "email_status",
            "Says how email watching stands for the user: their inboxes and checks, their rules, quiet hours, and alerts waiting.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            Action::RecentAlerts,
            "email_recent_alerts",
            "Lists the latest email alerts the user got (or that wait for their quiet hours to end).",
            json!({"type": "object", "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many (default 10)."}}}),
        ),
    ];
    // Gmail is read through a connection: offered once that connection is set up.
    if gmail {
        tools.push(tool(
            Action::ConnectGmail,
            "email_connect_gmail",
            "Starts watching the user's Gmail through their Google connection (if they have not connected Google yet, the result has the link to do it; pass it on, then call this again).",
            json!({"type": "object", "properties": {}}),
        ));
    }
    tools
}

impl AccountTool {
    /// Saves the user's Gmail as a watched inbox, once the API accepts their token; reading
    /// starts with the mail that arrives from now on.
    async fn connect_gmail(&self, context: &ToolContext<'_>) -> Result<String, ToolError> {
        let (store, user, now) = (context.store, context.user_id, context.clock.now());
        let email = &self.email;
        let read = with_renewal(
            &self.connector,
            store,
            user,
            email,
            now,
            |mailbox| async move { mailbox.profile().await },
        );
        let (address, cursor) = read.await.map_err(|e| match e {
            GmailError::Connect(e) => ToolError(e.to_string()),
            GmailError::Mail(e) => ToolError(format!("Gmail cannot be read: {e}")),
        })?;
        let interval = email.poll_interval_minutes.max(1);
        let account = EmailAccount {
            id: 0,
            user_id: user.to_owned(),
            kind: "gmail".to_owned(),
            address: address.clone(),
            host: String::new(),
            port: 0,
            tls: true,
            sealed_password: None,
            poll_interval_minutes: interval,
            cursor: serde_json::to_string(&cursor).ok(),
            next_poll_at: now + i64::from(interval) * 60_000,
            error_count: 0,
            last_error: None,
            last_checked_at: None,
            created_at: now,
        };
        store
            .save_email_account(&account)
            .await
            .map_err(|e| ToolError(e.to_string()))?;
        Ok(format!(
            "Watching {address} (Gmail): new mail is checked every {interval} min against the user's rules."
        ))
    }

    /// The user's inboxes, one line each.
    async fn list(&self, context: &ToolContext<'_>) -> Result<String, ToolError> {
        let (store, user) = (context.store, context.user_id);
        let failed = |e: clara_core::store::StoreError| ToolError(e.to_string());
        let accounts = store.email_accounts(user).await.map_err(failed)?;
        if accounts.is_empty() {
            return Ok("No inboxes are watched yet.".to_owned());
        }
        let now = context.clock.now();
        Ok(accounts
            .iter()
            .map(|a| {
                let checked = a.last_checked_at.map_or_else(
                    || "not checked yet".to_owned(),
                    |at| format!("checked {} min ago", (now - at).max(0) / 60_000),
                );
                let trouble = match (&a.last_error, a.error_count) {
                    (Some(why), n) if n > 0 => {
                        format!("; the last {n} checks failed: {why}")
                    }
                    _ => String::new(),
                };
                let server = match a.kind.as_str() {
                    "imap" => format!("imap, {}:{}", a.host, a.port),
                    kind => kind.to_owned(),
                };
                format!(
                    "{} ({server}), every {} min, {checked}{trouble}",
                    a.address, a.poll_interval_minutes
                )
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }

    async fn run(&self, arguments: &Value, context: &ToolContext<'_>) -> Result<String, ToolError> {
        let store = context.store;
        let user = context.user_id;
        let failed = |e: clara_core::store::StoreError| ToolError(e.to_string());
        let address = arguments
            .get("address")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|a| !a.is_empty());
        match self.action {
            Action::Connect => {
                let key = self
                    .connector
                    .secret_key()
                    .ok_or_else(|| ToolError("email watching is not set up".to_owned()))?;
                let link = connect_link(&self.connector, key, user, address, context.clock.now());
                Ok(format!(
                    "Link to connect an inbox, for this user only, working once for 10 minutes: {link}"
                ))
            }
            Action::ConnectGmail => self.connect_gmail(context).await,
            Action::AlertChannel => {
                let mut settings = store.email_settings(user).await.map_err(failed)?;
                let here = arguments.get("to").and_then(Value::as_str) == Some("here");
                let said = match (here, context.place) {
                    (true, Some(place)) if !place.conversation.is_dm => {
                        settings.alert_adapter = Some(place.platform.to_owned());
                        settings.alert_channel = Some(place.conversation.id.clone());
                        let name = place
                            .conversation
                            .channel_name
                            .as_deref()
                            .unwrap_or("this channel");
                        format!("Email alerts will be posted in {name}.")
                    }
                    (true, None) => {
                        return Err(ToolError(
                            "only a message in a channel can choose `here`".to_owned(),
                        ));
                    }
                    (_, _) => {
                        // A DM goes through the adapter the user's id comes from.
                        settings.alert_adapter = None;
                        settings.alert_channel = None;
                        "Email alerts will come as direct messages.".to_owned()
                    }
                };
                store
                    .save_email_settings(user, &settings)
                    .await
                    .map_err(failed)?;
                Ok(said)
            }
            Action::Ping => {
                let mut settings = store.email_settings(user).await.map_err(failed)?;
                settings.ping = arguments
                    .get("on")
                    .and_then(Value::as_bool)
                    .unwrap_or(!settings.ping);
                store
                    .save_email_settings(user, &settings)
                    .await
                    .map_err(failed)?;
                Ok(if settings.ping {
                    "Email alerts will mention the user.".to_owned()
                } else {
                    "Email alerts will arrive without a mention.".to_owned()
                })
            }
            Action::Status => {
                let inboxes = self.list(context).await?;
                let rules = store.email_rules(user).await.map_err(failed)?;
                let rules = match rules.len() {
                    0 => "no rules yet (apply a preset or add a rule)".to_owned(),
                    _ => rules
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                let settings = store.email_settings(user).await.map_err(failed)?;
                let quiet = match &settings.quiet_hours {
                    Some((start, end)) => format!("from {start} to {end}"),
                    None => "off".to_owned(),
                };
                let waiting = store
                    .recent_email_alerts(user, 50)
                    .await
                    .map_err(failed)?
                    .iter()
                    .filter(|a| a.delivered_at.is_none())
                    .count();
                let channel = match &settings.alert_channel {
                    Some(channel) => format!("channel {channel}"),
                    None => "direct messages".to_owned(),
                };
                let ping = if settings.ping { "on" } else { "off" };
                Ok(format!(
                    "Inboxes:\n{inboxes}\nRules: {rules}\nQuiet hours: {quiet}\nAlerts go to: {channel}\nMentions: {ping}\nAlerts waiting: {waiting}"
                ))
            }
            Action::List => self.list(context).await,
            Action::QuietHours => {
                let text = |key: &str| arguments.get(key).and_then(Value::as_str).map(str::trim);
                let mut settings = store.email_settings(user).await.map_err(failed)?;
                match (text("start"), text("end")) {
                    (Some(start), Some(end)) => {
                        if minutes_of(start).is_none() || minutes_of(end).is_none() {
                            return Err(ToolError(
                                "give the hours as HH:MM, e.g. 22:00".to_owned(),
                            ));
                        }
                        settings.quiet_hours = Some((start.to_owned(), end.to_owned()));
                    }
                    (None, None) => settings.quiet_hours = None,
                    _ => return Err(ToolError("give both start and end, or neither".to_owned())),
                }
                if let Some(zone) = text("timezone") {
                    if zone.parse::<chrono_tz::Tz>().is_err() {
                        return Err(ToolError(format!(
                            "`{zone}` is not a time zone (like Europe/Berlin)"
                        )));
                    }
                    settings.timezone = Some(zone.to_owned());
                }
                store
                    .save_email_settings(user, &settings)
                    .await
                    .map_err(failed)?;
                Ok(match &settings.quiet_hours {
                    Some((start, end)) => format!("Email alerts wait from {start} to {end}."),
                    None => "Quiet hours are off: alerts arrive when the mail does.".to_owned(),
                })
            }
            Action::RecentAlerts => {
                let limit = arguments.get("limit").and_then(Value::as_u64).unwrap_or(10);
                let limit = u32::try_from(limit.clamp(1, 50)).unwrap_or(10);
                let alerts = store
                    .recent_email_alerts(user, limit)
                    .await
                    .map_err(failed)?;
                if alerts.is_empty() {
                    return Ok("No email alerts yet.".to_owned());
                }
                Ok(alerts
                    .iter()
                    .map(|a| {
                        let waiting = if a.delivered_at.is_none() {
                            " (waiting)"
                        } else {
                            ""
                        };
                        format!(
                            "{} from {}: {} [{}: {}]{waiting}",
                            a.importance,
                            a.sender,
                            a.subject,
                            a.rule,
                            a.matched.replace('\n', ", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            Action::Interval => {
                let address = address.ok_or_else(|| ToolError("say which address".to_owned()))?;
                let minutes = arguments
                    .get("minutes")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let minutes = u32::try_from(minutes.clamp(1, 1440)).unwrap_or(1440);
                let accounts = store.email_accounts(user).await.map_err(failed)?;
                let Some(account) = accounts
                    .into_iter()
                    .find(|a| a.address.eq_ignore_ascii_case(address))
                else {
                    return Ok(format!("No watched inbox is called {address}."));
                };
                let checked = account.last_checked_at.unwrap_or(account.created_at);
                let changed = EmailAccount {
                    poll_interval_minutes: minutes,
                    // Due on the new rhythm from its last check, and not before now.
                    next_poll_at: (checked + i64::from(minutes) * 60_000).max(context.clock.now()),
                    ..account
                };
                store.save_email_account(&changed).await.map_err(failed)?;
                Ok(format!(
                    "{} is now checked every {minutes} min.",
                    changed.address
                ))
            }
            Action::Disconnect => {
                let address = address.ok_or_else(|| ToolError("say which address".to_owned()))?;
                let accounts = store.email_accounts(user).await.map_err(failed)?;
                let mut removed = 0;
                for account in accounts
                    .iter()
                    .filter(|a| a.address.eq_ignore_ascii_case(address))
                {
                    if store
                        .remove_email_account(user, account.id)
                        .await
                        .map_err(failed)?
                    {
                        removed += 1;
                    }
                }
                Ok(match removed {
                    0 => format!("No watched inbox is called {address}."),
                    _ => format!(
                        "Stopped watching {address}; its password and alerts are forgotten."
                    ),
                })
            }
        }
    }
}

impl Tool for AccountTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(arguments, context))
    }
}
