//! A fake Gmail API on 127.0.0.1 that keeps a mailbox: `users/me/profile`, `users/me/history`
//! (messageAdded records after a history id, paged, 404 for history it no longer keeps) and
//! `users/me/messages/ID` (`format=raw` and `format=metadata`), answering only the current
//! access token, as Google's wire format has them.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct Mail {
    id: String,
    history_id: u64,
    labels: Vec<&'static str>,
    raw: Vec<u8>,
}

struct State {
    address: String,
    token: String,
    history_id: u64,
    /// History before this id is gone (Gmail keeps about a week).
    oldest_history: u64,
    mails: Vec<Mail>,
    /// Each request's path and query, in order.
    requests: Vec<String>,
}

/// The running fake; dropping it stops it.
pub struct FakeGmail {
    base_url: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeGmail {
    /// A mailbox of `address` that answers `token`.
    pub async fn start(address: &str, token: &str) -> FakeGmail {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            address: address.to_owned(),
            token: token.to_owned(),
            history_id: 1000,
            oldest_history: 0,
            mails: Vec::new(),
            requests: Vec::new(),
        }));
        let task = tokio::spawn(super::http_server::serve(listener, state.clone(), handle));
        FakeGmail {
            base_url,
            state,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Files `raw` in the inbox (or, with `labels`, elsewhere); its id.
    pub fn deliver_labelled(&self, raw: &str, labels: &[&'static str]) -> String {
        let mut state = self.state.lock().unwrap();
        state.history_id += 7;
        let id = format!("m{:x}", state.history_id);
        let history_id = state.history_id;
        state.mails.push(Mail {
            id: id.clone(),
            history_id,
            labels: labels.to_vec(),
            raw: raw.as_bytes().to_vec(),
        });
        id
    }

    /// Files `raw` in the inbox, unread; its id.
    pub fn deliver(&self, raw: &str) -> String {
        self.deliver_labelled(raw, &["INBOX", "UNREAD"])
    }

    /// Only `token` is accepted from now on (the old one expired).
    pub fn accept_only(&self, token: &str) {
        self.state.lock().unwrap().token = token.to_owned();
    }

    /// History before now is no longer kept: only the current history id is a valid start.
    pub fn forget_history(&self) {
        let mut state = self.state.lock().unwrap();
        state.oldest_history = state.history_id;
    }

    /// Each request's path and query since the last call.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }
}

impl Drop for FakeGmail {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(status: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn error(status: u16, message: &str, code: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        &json!({"error": {"code": status, "message": message, "status": code}}),
    )
}

async fn handle(
    state: Arc<Mutex<State>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = request.uri().clone();
    let mut state = state.lock().unwrap();
    state.requests.push(uri.to_string());
    let bearer = format!("Bearer {}", state.token);
    if request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(bearer.as_str())
    {
        return Ok(error(
            401,
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        ));
    }
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let Some(path) = uri.path().strip_prefix("/gmail/v1/users/me/") else {
        return Ok(error(404, "Not Found", "NOT_FOUND"));
    };
    if path == "profile" {
        return Ok(reply(
            200,
            &json!({"emailAddress": state.address, "messagesTotal": state.mails.len(), "threadsTotal": state.mails.len(), "historyId": state.history_id.to_string()}),
        ));
    }
    if path == "history" {
        let start: u64 = param("startHistoryId")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if start < state.oldest_history {
            return Ok(error(404, "Requested entity was not found.", "NOT_FOUND"));
        }
        let per_page: usize = param("maxResults")
            .and_then(|s| s.parse().ok())
            .unwrap_or(100);
        let skip: usize = param("pageToken").and_then(|s| s.parse().ok()).unwrap_or(0);
        let label = param("labelId");
        let records: Vec<Value> = state
            .mails
            .iter()
            .filter(|m| m.history_id > start)
            .filter(|m| label.as_deref().is_none_or(|l| m.labels.contains(&l)))
            .map(|m| {
                json!({"id": m.history_id.to_string(), "messages": [{"id": m.id, "threadId": m.id}],
                       "messagesAdded": [{"message": {"id": m.id, "threadId": m.id, "labelIds": m.labels}}]})
            })
            .collect();
        let page: Vec<Value> = records.iter().skip(skip).take(per_page).cloned().collect();
        let mut body = json!({"historyId": state.history_id.to_string()});
        if !page.is_empty() {
            body["history"] = json!(page);
        }
        if skip + per_page < records.len() {
            body["nextPageToken"] = json!((skip + per_page).to_string());
        }
        return Ok(reply(200, &body));
    }
    if let Some(id) = path.strip_prefix("messages/") {
        let Some(mail) = state.mails.iter().find(|m| m.id == id) else {
            return Ok(error(404, "Requested entity was not found.", "NOT_FOUND"));
        };
        return Ok(match param("format").as_deref() {
            Some("raw") => reply(
                200,
                &json!({"id": mail.id, "threadId": mail.id, "labelIds": mail.labels, "sizeEstimate": mail.raw.len(), "historyId": mail.history_id.to_string(), "raw": URL_SAFE.encode(&mail.raw)}),
            ),
            Some("metadata") => {
                let text = String::from_utf8_lossy(&mail.raw);
                let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
                let headers: Vec<Value> = head
                    .lines()
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| json!({"name": k, "value": v}))
                    .collect();
                // Gmail's snippet is the start of the text; its parts name attachments.
                let snippet: String = body
                    .lines()
                    .filter(|l| !l.starts_with("--") && !l.contains(": "))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(100)
                    .collect();
                let parts: Vec<Value> = body
                    .lines()
                    .filter_map(|l| l.split_once("filename=").map(|(_, f)| f.trim_matches('"')))
                    .map(|name| json!({"mimeType": "application/octet-stream", "filename": name}))
                    .collect();
                reply(
                    200,
                    &json!({"id": mail.id, "snippet": snippet, "payload": {"mimeType": "multipart/mixed", "headers": headers, "parts": parts}}),
                )
            }
            _ => error(400, "Invalid format", "INVALID_ARGUMENT"),
        });
    }
    Ok(error(404, "Not Found", "NOT_FOUND"))
}
