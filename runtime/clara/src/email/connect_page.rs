//! The page an inbox is connected on. The chat gives a one-time link (`email_connect_imap`),
//! so the password never passes through the chat, the model or the history: the page asks for
//! the server and password, checks the login against the server, and saves the account with
//! its password sealed and its place set at the newest message, so only mail that arrives
//! from now on can alert.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clara_config::model::common::fill;
use clara_core::llm::BoxFuture;
use clara_core::store::{EmailAccount, Millis};

use super::imap_hosts::imap_host;
use super::imap_mailbox::{ImapLogin, ImapMailbox};
use super::inbox_link::{LINK_KIND, password_owner};
use crate::connections::{Connector, OAuthState};
use crate::live::Live;
use crate::web_page::{Field, Page, PageRequest, PageSource};

/// The longest one step of the login check may take on the page.
const CHECK_STEP: Duration = Duration::from_secs(10);
/// The longest the whole check may take, within the status endpoint's 30 s per connection.
const CHECK_WHOLE: Duration = Duration::from_secs(20);

/// The inbox pages of a running clara.
pub struct EmailConnectPages {
    live: Arc<Live>,
    /// Login attempts per link (by nonce, with its expiry): a link is tried a few times at
    /// most, and not at all once it connected an inbox.
    attempts: Mutex<HashMap<String, (u32, Millis)>>,
}

/// Login attempts one link allows.
const MAX_ATTEMPTS: u32 = 5;

impl EmailConnectPages {
    /// The pages for `live`.
    pub fn new(live: Arc<Live>) -> EmailConnectPages {
        EmailConnectPages {
            live,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    async fn answer(&self, request: PageRequest<'_>) -> Option<Page> {
        let state_text = request.path.strip_prefix("/email/connect/")?;
        let generation = self.live.current();
        let email = &generation.config.clara.value.email;
        let failed = |reason: &str| {
            Page::text(
                400,
                &fill(&email.connect_failed_page, &[("reason", reason)]),
            )
        };
        let connector = Connector::new(&generation.config, self.live.http_client().clone());
        let Some(key) = connector.secret_key().filter(|_| email.enabled) else {
            return Some(failed("email watching is not set up on this clara"));
        };
        let now = generation.services.clock.now();
        let state = match OAuthState::decode(state_text, key, LINK_KIND, now) {
            Ok(state) => state,
            Err(error) => return Some(failed(&error.to_string())),
        };
        // Only the address may come pre-filled in the link: the server, port and TLS are
        // what the person on the page chose (a link cannot send their password elsewhere).
        let query_address = request.query.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .find(|(k, _)| k == "address")
                .map(|(_, v)| v)
        });
        let posted = |key: &str| {
            request
                .form
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
        };
        let address = posted("address")
            .or(query_address)
            .map(|a| a.trim().to_owned())
            .unwrap_or_default();
        let host = posted("host")
            .filter(|h| !h.is_empty())
            .or_else(|| imap_host(&address))
            .unwrap_or_default();
        let port = posted("port").unwrap_or_else(|| "993".to_owned());
        let tls = request.method != "POST" || posted("tls").is_some();
        let form = |status: u16, note: Option<&str>| {
            let text = match note {
                Some(note) => format!("{note}\n\n{}", email.connect_page),
                None => email.connect_page.clone(),
            };
            let fields = [
                Field {
                    name: "address",
                    label: "Address (the IMAP user name)",
                    kind: "text",
                    value: &address,
                },
                Field {
                    name: "host",
                    label: "IMAP server",
                    kind: "text",
                    value: &host,
                },
                Field {
                    name: "port",
                    label: "Port (993 with TLS)",
                    kind: "number",
                    value: &port,
                },
                Field {
                    name: "tls",
                    label: "TLS",
                    kind: "checkbox",
                    value: if tls { "on" } else { "" },
                },
                Field {
                    name: "password",
                    label: "Password",
                    kind: "password",
                    value: "",
                },
            ];
            Page::form(status, &text, &fields, "Connect")
        };
        if request.method != "POST" {
            return Some(form(200, None));
        }
        let password = posted("password").unwrap_or_default();
        let Ok(port_number) = port.parse::<u16>() else {
            return Some(form(400, Some("The port must be a number, like 993.")));
        };
        if address.is_empty() || host.is_empty() || password.is_empty() {
            return Some(form(
                400,
                Some("Fill in the address, the server and the password."),
            ));
        }
        // Without TLS the password would cross the network in the clear: only a server on
        // this machine (a mail bridge) may go without.
        if !tls && !is_loopback(&host) {
            return Some(form(
                400,
                Some("Use TLS: without it the password would cross the network unencrypted."),
            ));
        }
        if !self.attempt(&state.nonce, state.expires_at, now) {
            return Some(failed("the link was already used, or tried too many times"));
        }
        let login = ImapLogin {
            host: host.clone(),
            port: port_number,
            tls,
            user: address.clone(),
            password,
        };
        // The browser waits for this answer, and the status endpoint closes a connection
        // after 30 s: the whole check must finish well before.
        let step = Duration::from_secs(u64::from(email.timeout_secs)).min(CHECK_STEP);
        let checked = tokio::time::timeout(CHECK_WHOLE, async {
            let mut inbox = ImapMailbox::open(&login, step).await?;
            // Mail already there is not news: reading starts at the newest message.
            let start = inbox.new_mail(None, 1, 4096).await;
            inbox.close().await;
            start
        })
        .await;
        let cursor = match checked {
            Ok(Ok(found)) => found.cursor,
            Ok(Err(error)) => return Some(form(400, Some(&format!("Not connected: {error}.")))),
            Err(_) => {
                let note = format!(
                    "Not connected: the server did not answer within {} s.",
                    CHECK_WHOLE.as_secs()
                );
                return Some(form(400, Some(&note)));
            }
        };
        let store = generation.services.store.as_ref();
        match store
            .claim_oauth_state(&state.nonce, state.expires_at, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Some(failed("the link was already used")),
            Err(error) => return Some(failed(&error.to_string())),
        }
        let owner = password_owner(&state.user_id, &address, &host);
        let account = EmailAccount {
            id: 0,
            user_id: state.user_id.clone(),
            kind: "imap".to_owned(),
            address: address.clone(),
            host,
            port: port_number,
            tls,
            sealed_password: Some(key.seal(login.password.as_bytes(), &owner)),
            poll_interval_minutes: email.poll_interval_minutes,
            cursor: cursor.and_then(|c| serde_json::to_string(&c).ok()),
            next_poll_at: now + i64::from(email.poll_interval_minutes) * 60_000,
            error_count: 0,
            last_error: None,
            last_checked_at: Some(now),
            created_at: now,
        };
        if let Err(error) = store.save_email_account(&account).await {
            tracing::error!(%error, "an inbox could not be saved");
            return Some(failed("clara could not save the account; its log says why"));
        }
        self.used_up(&state.nonce);
        tracing::info!(user = %state.user_id, "an inbox was connected");
        Some(Page::text(
            200,
            &fill(&email.connected_page, &[("address", &address)]),
        ))
    }
}

impl EmailConnectPages {
    /// Counts a login attempt with the link `nonce`; false when it may not try again.
    fn attempt(&self, nonce: &str, expires_at: Millis, now: Millis) -> bool {
        let mut attempts = self.attempts.lock().expect("no panics while held");
        attempts.retain(|_, (_, expiry)| *expiry > now);
        let (count, _) = attempts.entry(nonce.to_owned()).or_insert((0, expires_at));
        *count = count.saturating_add(1);
        *count <= MAX_ATTEMPTS
    }

    /// Marks the link `nonce` used: no more attempts with it here.
    fn used_up(&self, nonce: &str) {
        if let Some((count, _)) = self
            .attempts
            .lock()
            .expect("no panics while held")
            .get_mut(nonce)
        {
            *count = u32::MAX;
        }
    }
}

/// Whether `host` is this machine.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl PageSource for EmailConnectPages {
    fn prefix(&self) -> &'static str {
        "/email/"
    }

    fn page<'a>(&'a self, request: PageRequest<'a>) -> BoxFuture<'a, Option<Page>> {
        Box::pin(self.answer(request))
    }
}
