//! A Gmail inbox read for new mail through the Gmail API, with an access token of the user's
//! Google connection: its address (checked before an account is saved), then the messages
//! added to the inbox since the last history id — oldest first, bounded, read without marking
//! them read — and where to start next time. History Gmail no longer keeps starts over from
//! now instead of alerting on the whole mailbox. A token Google refuses is renewed once
//! through the connection ([`with_renewal`]).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use clara_config::model::email::EmailConfig;
use clara_core::store::{Millis, Store};

use super::new_mail::{MailError, NewMail, RawMail};
use crate::connections::{ConnectError, Connector};

/// Where reading stopped: the last history record read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GmailCursor {
    /// Gmail's history id.
    pub history_id: u64,
}

/// One user's Gmail, as the API shows it to their access token.
pub struct GmailMailbox<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
    token: String,
    timeout: Duration,
}

/// What a message request gave.
enum Fetched {
    Body(Vec<u8>),
    TooBig,
    Gone,
}

impl<'a> GmailMailbox<'a> {
    /// The mailbox behind `token` at the API `api` (`https://gmail.googleapis.com`); each
    /// request gives up after `timeout`.
    pub fn new(
        http: &'a reqwest::Client,
        api: &'a str,
        token: String,
        timeout: Duration,
    ) -> GmailMailbox<'a> {
        GmailMailbox {
            http,
            api: api.trim_end_matches('/'),
            token,
            timeout,
        }
    }

    /// The mailbox's address and its newest history id; a token Google refuses is a
    /// [`MailError::Login`].
    pub async fn profile(&self) -> Result<(String, GmailCursor), MailError> {
        let profile = self.json("profile").await?.ok_or_else(|| {
            MailError::Protocol("the Gmail API has no profile for this account".to_owned())
        })?;
        let address = profile
            .get("emailAddress")
            .and_then(Value::as_str)
            .ok_or_else(|| MailError::Protocol("the profile names no address".to_owned()))?;
        let history_id = history_id(&profile)?;
        Ok((address.to_owned(), GmailCursor { history_id }))
    }

    /// The messages added to the inbox after `cursor`, at most about `max` of them (a history
    /// record is read whole), each cut at `max_bytes`. Without a cursor, or when Gmail no
    /// longer keeps the history after it, nothing is returned and the new cursor is now.
    pub async fn new_mail(
        &self,
        cursor: Option<GmailCursor>,
        max: u32,
        max_bytes: u32,
    ) -> Result<NewMail<GmailCursor>, MailError> {
        let Some(start) = cursor else {
            return self.start_over().await;
        };
        let mut ids: Vec<String> = Vec::new();
        let mut last_read = start;
        let mut page: Option<String> = None;
        let mut more = false;
        'pages: loop {
            let mut query = format!(
                "history?startHistoryId={}&historyTypes=messageAdded&labelId=INBOX&maxResults=100",
                start.history_id
            );
            if let Some(token) = &page {
                query.push_str("&pageToken=");
                query.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
            }
            let Some(history) = self.json(&query).await? else {
                return self.start_over().await;
            };
            let records = history.get("history").and_then(Value::as_array);
            for record in records.into_iter().flatten() {
                let added = inbox_messages_added(record);
                if !ids.is_empty() && ids.len() + added.len() > max as usize {
                    more = true;
                    break 'pages;
                }
                for id in added {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                last_read = GmailCursor {
                    history_id: history_id(record)?,
                };
            }
            page = history
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if page.is_none() {
                // Everything up to the mailbox's newest history was read.
                last_read = GmailCursor {
                    history_id: history_id(&history)?.max(last_read.history_id),
                };
                break;
            }
            if ids.len() >= max as usize {
                more = true;
                break;
            }
        }
        let mut messages = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(bytes) = self.message(&id, max_bytes).await? {
                messages.push(RawMail {
                    key: format!("gmail:{id}"),
                    bytes,
                });
            }
        }
        Ok(NewMail {
            cursor: Some(last_read),
            messages,
            more,
            started_over: false,
        })
    }

    async fn start_over(&self) -> Result<NewMail<GmailCursor>, MailError> {
        let (_, now) = self.profile().await?;
        Ok(NewMail {
            cursor: Some(now),
            started_over: true,
            ..NewMail::default()
        })
    }

    /// Message `id`'s bytes, cut at `max_bytes`; `None` when it was deleted meanwhile. One
    /// too big to read whole is put together from its headers, snippet and attachment names.
    async fn message(&self, id: &str, max_bytes: u32) -> Result<Option<Vec<u8>>, MailError> {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        // Base64 grows a message by a third; the JSON around it is small.
        let cap = (max_bytes as usize) / 3 * 4 + 64 * 1024;
        let raw = match self.get(&format!("messages/{id}?format=raw"), cap).await? {
            Fetched::Gone => return Ok(None),
            Fetched::TooBig => return self.outline(&id).await,
            Fetched::Body(body) => body,
        };
        let message: Value = serde_json::from_slice(&raw)
            .map_err(|e| MailError::Protocol(format!("unreadable message: {e}")))?;
        let encoded = message
            .get("raw")
            .and_then(Value::as_str)
            .ok_or_else(|| MailError::Protocol("a message came without `raw`".to_owned()))?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .or_else(|_| URL_SAFE.decode(encoded))
            .map_err(|e| MailError::Protocol(format!("a message's `raw` is not base64: {e}")))?;
        bytes.truncate(max_bytes as usize);
        Ok(Some(bytes))
    }

    /// A message too big to read whole, as a small one: its headers, Gmail's snippet of its
    /// text, and an empty part per attachment (so rules still see them).
    async fn outline(&self, id: &str) -> Result<Option<Vec<u8>>, MailError> {
        let headers = ["From", "To", "Subject", "Message-ID", "Date"]
            .iter()
            .map(|h| format!("&metadataHeaders={h}"))
            .collect::<String>();
        let Some(message) = self
            .json(&format!("messages/{id}?format=metadata{headers}"))
            .await?
        else {
            return Ok(None);
        };
        let payload = message.get("payload");
        let mut out = String::new();
        for header in payload
            .and_then(|p| p.get("headers"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = header.get("name").and_then(Value::as_str).unwrap_or("");
            let value = header.get("value").and_then(Value::as_str).unwrap_or("");
            if !name.is_empty() && !name.contains(['\r', '\n', ':']) {
                out.push_str(&format!("{name}: {}\r\n", value.replace(['\r', '\n'], " ")));
            }
        }
        let snippet = message.get("snippet").and_then(Value::as_str).unwrap_or("");
        let boundary = "clara-outline";
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
             --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{snippet}\r\n"
        ));
        for part in payload
            .and_then(|p| p.get("parts"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = part.get("filename").and_then(Value::as_str).unwrap_or("");
            if !name.is_empty() {
                let name = name.replace(['"', '\r', '\n'], "");
                out.push_str(&format!(
                    "--{boundary}\r\nContent-Type: application/octet-stream\r\n\
                     Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n\r\n"
                ));
            }
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        Ok(Some(out.into_bytes()))
    }

    /// `GET users/me/PATH` as JSON; `None` when Gmail says it is not there.
    async fn json(&self, path: &str) -> Result<Option<Value>, MailError> {
        match self.get(path, 1024 * 1024).await? {
            Fetched::Body(body) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| MailError::Protocol(format!("an unreadable answer: {e}"))),
            Fetched::Gone => Ok(None),
            Fetched::TooBig => Err(MailError::Protocol("an answer too long to read".to_owned())),
        }
    }

    /// `GET users/me/PATH`, reading at most `cap` bytes of the answer.
    async fn get(&self, path: &str, cap: usize) -> Result<Fetched, MailError> {
        let url = format!("{}/gmail/v1/users/me/{path}", self.api);
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                MailError::Timeout(self.timeout.as_secs())
            } else {
                MailError::Connect {
                    server: self.api.to_owned(),
                    why: e.without_url().to_string(),
                }
            }
        };
        let mut response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Fetched::Gone);
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let why = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| status.to_string());
            return Err(match status.as_u16() {
                401 | 403 => MailError::Login(format!("Google refused the access: {why}")),
                _ => MailError::Protocol(format!("the Gmail API answered {status}: {why}")),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > cap {
                return Ok(Fetched::TooBig);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(body))
    }
}

/// The ids of the inbox messages a history record added.
fn inbox_messages_added(record: &Value) -> Vec<String> {
    record
        .get("messagesAdded")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|added| added.get("message"))
        .filter(|message| {
            // Without labels listed, the query's `labelId=INBOX` already chose it.
            message
                .get("labelIds")
                .and_then(Value::as_array)
                .is_none_or(|labels| labels.iter().any(|l| l == "INBOX"))
        })
        .filter_map(|message| message.get("id")?.as_str().map(str::to_owned))
        .collect()
}

/// The `historyId` (or a record's `id`) of a Gmail answer, which the API writes as a string.
fn history_id(value: &Value) -> Result<u64, MailError> {
    value
        .get("historyId")
        .or_else(|| value.get("id"))
        .and_then(|v| {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| v.as_u64())
        })
        .ok_or_else(|| MailError::Protocol("an answer without a history id".to_owned()))
}

/// Why a user's Gmail could not be read: the connection gave no token, or Gmail failed.
#[derive(Debug, thiserror::Error)]
pub enum GmailError {
    /// No current token: not connected, or it could not be renewed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Gmail refused or failed.
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// Runs `read` on `user_id`'s Gmail with a current token of `[email] gmail_connection`,
/// renewing the token once when Google refuses it.
pub async fn with_renewal<'a, T, F, Fut>(
    connector: &'a Connector,
    store: &dyn Store,
    user_id: &str,
    email: &'a EmailConfig,
    now: Millis,
    read: F,
) -> Result<T, GmailError>
where
    F: Fn(GmailMailbox<'a>) -> Fut,
    Fut: Future<Output = Result<T, MailError>>,
{
    let timeout = Duration::from_secs(u64::from(email.timeout_secs));
    let mut stale = false;
    loop {
        let token = connector
            .access_token(store, user_id, &email.gmail_connection, now, stale)
            .await?;
        let mailbox = GmailMailbox::new(connector.http(), &email.gmail_api_url, token, timeout);
        match read(mailbox).await {
            Err(MailError::Login(_)) if !stale => stale = true,
            outcome => return Ok(outcome?),
        }
    }
}
