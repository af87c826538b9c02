//! Watching inboxes in `clara run`: the accounts due for a check are claimed in the store (so
//! instances sharing one database never check one at once), read for new mail, and matched
//! against their user's rules; each match is recorded once as an alert, then delivered through
//! the adapters' outlets — held while the user's quiet hours last. A failing check keeps the
//! account's place and backs off.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use clara_config::model::common::fill;
use clara_config::model::email_rule::EmailRule;
use clara_config::model::hook::Delivery;
use clara_core::engine::event_data::{EmailAlerted, EmailCheckFailed, EventData};
use clara_core::engine::{Event, EventSink, Generation};
use clara_core::store::{EmailAccount, EmailAlert, EmailSettings, Millis, StoreError};
use tokio_util::sync::CancellationToken;

use super::inbox_read::{read_gmail, read_imap};
use super::mail_summary::MailSummary;
use super::quiet_hours::in_quiet_hours;
use super::rule_match::first_match;
use crate::connections::Connector;
use crate::live::Live;

/// How often due accounts are looked for.
const TICK: Duration = Duration::from_secs(15);
/// Most accounts one instance checks per tick.
const CLAIM_LIMIT: u32 = 8;
/// Most waiting alerts looked at per tick (alerts held by quiet hours count too).
const DELIVER_LIMIT: u32 = 500;
/// The longest back-off after failures, in minutes.
const MAX_BACKOFF_MINUTES: i64 = 60;

/// What one round of checks did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Accounts checked.
    pub checked: u32,
    /// Checks that failed.
    pub failed: u32,
    /// Alerts recorded.
    pub alerts: u32,
    /// Alerts delivered.
    pub delivered: u32,
}

/// The inbox watcher of a running clara.
pub struct InboxWatch {
    live: Arc<Live>,
    events: Arc<dyn EventSink>,
}

impl InboxWatch {
    /// A watcher over `live`'s configuration and store, firing `email:*` events into `events`.
    pub fn new(live: Arc<Live>, events: Arc<dyn EventSink>) -> InboxWatch {
        InboxWatch { live, events }
    }

    /// Checks what is due every few seconds while `[email] enabled`, until clara stops
    /// admitting work.
    pub async fn run(self, admitting: CancellationToken) {
        loop {
            tokio::select! {
                () = admitting.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            let generation = self.live.current();
            if !generation.config.clara.value.email.enabled {
                continue;
            }
            let now = generation.services.clock.now();
            if let Err(error) = self.check_due(now).await {
                tracing::warn!(%error, "watched inboxes could not be checked");
            }
        }
    }

    /// Checks every account due at `now`, then delivers the alerts that wait.
    pub async fn check_due(&self, now: Millis) -> Result<CheckReport, StoreError> {
        let generation = self.live.current();
        let email = &generation.config.clara.value.email;
        let store = generation.services.store.clone();
        // A whole check gets a step's time for logging in and looking (four steps) and for
        // every ten messages it may read; its claim outlives that, so no other instance takes
        // the account over while it runs.
        let steps = 4 + u64::from(email.max_messages_per_poll.div_ceil(10));
        let whole = Duration::from_secs(u64::from(email.timeout_secs) * steps);
        let lease = i64::try_from(whole.as_millis()).unwrap_or(i64::MAX / 2) + 60_000;
        let claimed = store.claim_email_checks(now, lease, CLAIM_LIMIT).await?;
        let connector = Connector::new(&generation.config, self.live.http_client().clone());
        // The claimed inboxes are checked side by side: one slow server delays no other.
        let (current, connector) = (&generation, &connector);
        let checks = claimed.iter().map(|account| async move {
            let outcome = tokio::time::timeout(whole, self.check(current, connector, account, now))
                .await
                .unwrap_or_else(|_| {
                    Err(format!("the check took longer than {} s", whole.as_secs()))
                });
            (account, outcome)
        });
        let mut report = CheckReport::default();
        for (account, outcome) in futures_util::future::join_all(checks).await {
            report.checked += 1;
            match outcome {
                Ok(alerts) => report.alerts += alerts,
                Err(why) => {
                    report.failed += 1;
                    let failures = account.error_count + 1;
                    let interval = i64::from(account.poll_interval_minutes.max(1));
                    // Never sooner than a healthy inbox, never later than the cap (or the
                    // interval, when that is longer).
                    let backoff = (interval << failures.min(4)).min(MAX_BACKOFF_MINUTES);
                    let next = now + backoff.max(interval) * 60_000;
                    if let Err(error) = store
                        .finish_email_check(account.id, Err(&why), now, next)
                        .await
                    {
                        tracing::warn!(%error, "an inbox check's failure could not be recorded");
                    }
                    tracing::warn!(account = %account.address, error = %why, "an inbox check failed");
                    self.emit(
                        &account.user_id,
                        EventData::EmailError(EmailCheckFailed {
                            account: account.address.clone(),
                            error: why,
                            failures,
                        }),
                    );
                }
            }
        }
        report.delivered = self.deliver_waiting(&generation, now).await?;
        Ok(report)
    }

    /// Reads an account's new mail and records an alert for each message a rule matches;
    /// returns how many. Mail is read only once its place is saved with the alerts, so a crash
    /// between the two reads it again (and the store's key keeps the alerts single).
    async fn check(
        &self,
        generation: &Generation,
        connector: &Connector,
        account: &EmailAccount,
        now: Millis,
    ) -> Result<u32, String> {
        let email = &generation.config.clara.value.email;
        let store = generation.services.store.as_ref();
        let found = match account.kind.as_str() {
            "imap" => read_imap(email, connector, account).await?,
            "gmail" => read_gmail(generation, connector, account, now).await?,
            other => return Err(format!("`{other}` accounts cannot be read")),
        };
        let rules = self
            .rules(generation, &account.user_id)
            .await
            .map_err(|e| e.to_string())?;
        let named: Vec<(&str, &EmailRule)> = rules.iter().map(|(n, r)| (n.as_str(), r)).collect();
        let mut alerts = 0;
        for mail in &found.messages {
            let summary = MailSummary::parse(&mail.bytes, email.preview_chars as usize);
            let Some(matched) = first_match(named.iter().copied(), &summary) else {
                continue;
            };
            let sender = match &summary.from_name {
                Some(name) => format!("{name} <{}>", summary.from_address),
                None => summary.from_address.clone(),
            };
            let alert = EmailAlert {
                id: 0,
                account_id: account.id,
                user_id: account.user_id.clone(),
                message_key: summary
                    .message_id
                    .clone()
                    .unwrap_or_else(|| mail.key.clone()),
                sender: sender.clone(),
                subject: summary.subject.clone(),
                preview: summary.preview.clone(),
                rule: matched.rule.clone(),
                importance: matched.importance.as_str().to_owned(),
                matched: matched.matched.join("\n"),
                created_at: now,
                delivered_at: None,
            };
            if store
                .record_email_alert(&alert)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
            {
                alerts += 1;
                self.emit(
                    &account.user_id,
                    EventData::EmailAlert(EmailAlerted {
                        account: account.address.clone(),
                        sender,
                        subject: summary.subject,
                        rule: matched.rule,
                        importance: alert.importance.clone(),
                        matched: matched.matched,
                    }),
                );
            }
        }
        let cursor = found.cursor;
        // More waiting: the next tick reads on at once.
        let next = if found.more {
            now
        } else {
            now + i64::from(account.poll_interval_minutes.max(1)) * 60_000
        };
        store
            .finish_email_check(account.id, Ok(cursor.as_deref()), now, next)
            .await
            .map_err(|e| e.to_string())?;
        Ok(alerts)
    }

    /// `user_id`'s rules: the presets they applied (as the files say now) and their own.
    async fn rules(
        &self,
        generation: &Generation,
        user_id: &str,
    ) -> Result<Vec<(String, EmailRule)>, StoreError> {
        let presets = &generation.config.email_presets;
        let saved = generation.services.store.email_rules(user_id).await?;
        Ok(saved
            .into_iter()
            .filter_map(|r| {
                let rule = match (&r.preset, &r.rule_json) {
                    (Some(preset), _) => presets.get(preset)?.value.clone(),
                    (None, Some(json)) => serde_json::from_str(json).ok()?,
                    (None, None) => return None,
                };
                Some((r.name, rule))
            })
            .collect())
    }

    /// Delivers alerts that wait, except to users in their quiet hours; returns how many. An
    /// alert is marked delivered before it is posted, so of instances sharing one database
    /// only the one that marks it posts it; a post that fails gives it back.
    async fn deliver_waiting(
        &self,
        generation: &Generation,
        now: Millis,
    ) -> Result<u32, StoreError> {
        let store = generation.services.store.as_ref();
        let config = &generation.config.clara.value;
        let mut delivered = 0;
        // Each user's settings, inboxes and rules, read once per round whatever their alerts.
        let mut recipients: HashMap<String, Recipient> = HashMap::new();
        // A user whose alert could not be posted this round gets no more posts this round.
        let mut unreachable = HashSet::new();
        for alert in store.undelivered_email_alerts(DELIVER_LIMIT).await? {
            if unreachable.contains(&alert.user_id) {
                continue;
            }
            if !recipients.contains_key(&alert.user_id) {
                let recipient = Recipient {
                    settings: store.email_settings(&alert.user_id).await?,
                    accounts: store.email_accounts(&alert.user_id).await?,
                    rules: self.rules(generation, &alert.user_id).await?,
                };
                recipients.insert(alert.user_id.clone(), recipient);
            }
            let Recipient {
                settings,
                accounts,
                rules,
            } = &recipients[&alert.user_id];
            let zone = settings
                .timezone
                .as_deref()
                .unwrap_or(&config.defaults.timezone)
                .parse::<Tz>()
                .unwrap_or(Tz::UTC);
            if in_quiet_hours(settings, zone, now) {
                continue;
            }
            let to = delivery(&alert.user_id, settings);
            let account = accounts
                .iter()
                .find(|a| a.id == alert.account_id)
                .map_or("", |a| a.address.as_str());
            // The rule as it is now decides the ping and adds its line; a rule removed since
            // the alert leaves both to the user's setting.
            let rule = rules
                .iter()
                .find(|(name, _)| *name == alert.rule)
                .map(|(_, rule)| rule);
            let mut text = alert_text(&config.email.alert_message, &alert, account);
            if let Some(line) = rule.and_then(|r| r.custom_message.as_deref()) {
                text.push('\n');
                text.push_str(line);
            }
            let ping = rule.and_then(|r| r.override_ping).unwrap_or(settings.ping);
            let mention = ping.then_some(alert.user_id.as_str());
            if !store.mark_email_alert_delivered(alert.id, now).await? {
                continue;
            }
            match self.live.outlets().post(&to, &text, mention).await {
                Ok(()) => delivered += 1,
                Err(why) => {
                    tracing::warn!(user = %alert.user_id, %why, "an email alert could not be delivered yet");
                    store.release_email_alert(alert.id, now).await?;
                    unreachable.insert(alert.user_id.clone());
                }
            }
        }
        Ok(delivered)
    }

    fn emit(&self, user_id: &str, data: EventData) {
        let mut event = Event::global(data);
        event.user_id = Some(user_id.to_owned());
        self.events.emit(event);
    }
}

/// What delivering a user's alerts needs, read once per round.
struct Recipient {
    settings: EmailSettings,
    accounts: Vec<EmailAccount>,
    rules: Vec<(String, EmailRule)>,
}

/// Where `user_id`'s alerts go: the channel they chose, else a direct message, through the
/// adapter they chose or the one their id comes from.
fn delivery(user_id: &str, settings: &EmailSettings) -> Delivery {
    let adapter = settings.alert_adapter.clone().unwrap_or_else(|| {
        if user_id.starts_with("discord-") {
            "discord".to_owned()
        } else {
            "gateway".to_owned()
        }
    });
    Delivery {
        adapter,
        channel: settings.alert_channel.clone(),
        user: settings.alert_channel.is_none().then(|| user_id.to_owned()),
    }
}

/// The alert about a message in the inbox `account`, as the user reads it, from
/// `[email] alert_message`.
fn alert_text(template: &str, alert: &EmailAlert, account: &str) -> String {
    let matched = alert.matched.replace('\n', ", ");
    fill(
        template,
        &[
            ("importance", &alert.importance),
            ("account", account),
            ("sender", &alert.sender),
            ("subject", &alert.subject),
            ("preview", &alert.preview),
            ("rule", &alert.rule),
            ("matched", &matched),
        ],
    )
}
