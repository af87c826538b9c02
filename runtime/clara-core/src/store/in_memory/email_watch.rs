//! [`EmailWatch`] in memory: watched inboxes and their checks, each user's rules and alert
//! settings, and the alerts recorded, all changed under the store's one lock.

use std::cmp::Reverse;

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::{
    EmailAccount, EmailAlert, EmailSettings, EmailWatch, Millis, StoreResult, UserEmailRule,
};

/// A row limit as a count of items.
fn at_most(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

impl EmailWatch for InMemoryStore {
    fn save_email_account<'a>(
        &'a self,
        account: &'a EmailAccount,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        self.with(|state| {
            let same = |a: &&mut EmailAccount| {
                a.user_id == account.user_id
                    && a.address == account.address
                    && a.host == account.host
            };
            if let Some(existing) = state.email_accounts.values_mut().find(same) {
                // Reconnecting an inbox (a new password, another interval) must not read its
                // mailbox again from the start.
                *existing = EmailAccount {
                    id: existing.id,
                    cursor: existing.cursor.take(),
                    last_checked_at: existing.last_checked_at,
                    created_at: existing.created_at,
                    error_count: 0,
                    last_error: None,
                    ..account.clone()
                };
                return Ok(existing.id);
            }
            let id = state.next();
            state.email_accounts.insert(
                id,
                EmailAccount {
                    id,
                    ..account.clone()
                },
            );
            Ok(id)
        })
    }

    fn email_accounts<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<EmailAccount>>> {
        self.with(|state| {
            Ok(state
                .email_accounts
                .values()
                .filter(|a| a.user_id == user_id)
                .cloned()
                .collect())
        })
    }

    fn remove_email_account<'a>(
        &'a self,
        user_id: &'a str,
        id: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            if state
                .email_accounts
                .get(&id)
                .is_none_or(|a| a.user_id != user_id)
            {
                return Ok(false);
            }
            state.email_accounts.remove(&id);
            state.email_alerts.retain(|_, alert| alert.account_id != id);
            Ok(true)
        })
    }

    fn claim_email_checks(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<EmailAccount>>> {
        self.with(|state| {
            let mut due: Vec<&mut EmailAccount> = state
                .email_accounts
                .values_mut()
                .filter(|a| a.next_poll_at <= now)
                .collect();
            due.sort_by_key(|a| (a.next_poll_at, a.id));
            due.truncate(at_most(limit));
            let lease_until = now.saturating_add(lease_ms);
            let mut claimed: Vec<EmailAccount> = due
                .into_iter()
                .map(|account| {
                    account.next_poll_at = lease_until;
                    account.clone()
                })
                .collect();
            claimed.sort_by_key(|a| a.id);
            Ok(claimed)
        })
    }

    fn finish_email_check<'a>(
        &'a self,
        id: i64,
        outcome: Result<Option<&'a str>, &'a str>,
        now: Millis,
        next_at: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            // An account removed while its check ran has nothing left to record.
            let Some(account) = state.email_accounts.get_mut(&id) else {
                return Ok(());
            };
            match outcome {
                Ok(cursor) => {
                    if let Some(cursor) = cursor {
                        account.cursor = Some(cursor.to_owned());
                    }
                    account.error_count = 0;
                    account.last_error = None;
                    account.last_checked_at = Some(now);
                }
                Err(why) => {
                    account.error_count = account.error_count.saturating_add(1);
                    account.last_error = Some(why.to_owned());
                }
            }
            account.next_poll_at = next_at;
            Ok(())
        })
    }

    fn email_settings<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<EmailSettings>> {
        self.with(|state| {
            Ok(state
                .email_settings
                .get(user_id)
                .cloned()
                .unwrap_or_default())
        })
    }

    fn save_email_settings<'a>(
        &'a self,
        user_id: &'a str,
        settings: &'a EmailSettings,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            state
                .email_settings
                .insert(user_id.to_owned(), settings.clone());
            Ok(())
        })
    }

    fn save_email_rule<'a>(
        &'a self,
        user_id: &'a str,
        rule: &'a UserEmailRule,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            state
                .email_rules
                .insert((user_id.to_owned(), rule.name.clone()), rule.clone());
            Ok(())
        })
    }

    fn email_rules<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<UserEmailRule>>> {
        self.with(|state| {
            let mut rules: Vec<UserEmailRule> = state
                .email_rules
                .iter()
                .filter(|((user, _), _)| user == user_id)
                .map(|(_, rule)| rule.clone())
                .collect();
            // The name breaks ties, as the database stores' primary key does.
            rules.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
            Ok(rules)
        })
    }

    fn remove_email_rule<'a>(
        &'a self,
        user_id: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            let removed = state
                .email_rules
                .remove(&(user_id.to_owned(), name.to_owned()));
            Ok(removed.is_some())
        })
    }

    fn record_email_alert<'a>(
        &'a self,
        alert: &'a EmailAlert,
    ) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        self.with(|state| {
            let seen = state
                .email_alerts
                .values()
                .any(|a| a.account_id == alert.account_id && a.message_key == alert.message_key);
            if seen {
                return Ok(None);
            }
            let id = state.next();
            state.email_alerts.insert(
                id,
                EmailAlert {
                    id,
                    ..alert.clone()
                },
            );
            Ok(Some(id))
        })
    }

    fn undelivered_email_alerts(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<EmailAlert>>> {
        self.with(|state| {
            let mut waiting: Vec<EmailAlert> = state
                .email_alerts
                .values()
                .filter(|a| a.delivered_at.is_none())
                .cloned()
                .collect();
            waiting.sort_by_key(|a| (a.created_at, a.id));
            waiting.truncate(at_most(limit));
            Ok(waiting)
        })
    }

    fn mark_email_alert_delivered(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<bool>> {
        self.with(|state| match state.email_alerts.get_mut(&id) {
            Some(alert) if alert.delivered_at.is_none() => {
                alert.delivered_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    fn release_email_alert(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<()>> {
        self.with(|state| {
            if let Some(alert) = state.email_alerts.get_mut(&id)
                && alert.delivered_at == Some(at)
            {
                alert.delivered_at = None;
            }
            Ok(())
        })
    }

    fn recent_email_alerts<'a>(
        &'a self,
        user_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<EmailAlert>>> {
        self.with(|state| {
            let mut recent: Vec<EmailAlert> = state
                .email_alerts
                .values()
                .filter(|a| a.user_id == user_id)
                .cloned()
                .collect();
            recent.sort_by_key(|a| Reverse((a.created_at, a.id)));
            recent.truncate(at_most(limit));
            Ok(recent)
        })
    }
}
