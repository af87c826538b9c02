//! A hosted MCP server that wants OAuth, on 127.0.0.1, as the MCP authorization spec has it:
//! `/mcp` speaks streamable HTTP (JSON answers) only to a current access token and answers
//! anything else with 401 and a `WWW-Authenticate` challenge naming its protected-resource
//! metadata; that metadata names an authorization server under `/auth` (so its own metadata is
//! found by RFC 8414's path insertion), which registers clients (RFC 7591), hands out codes
//! at `/auth/authorize` (consenting at once, as a user who clicks "allow" would), and
//! exchanges them at `/auth/token` only with the right PKCE verifier, redirect URI and
//! resource, rotating refresh tokens.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A code handed out and not yet exchanged.
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    resource: String,
}

#[derive(Default)]
struct State {
    base: String,
    /// Registered clients and their redirect URIs.
    clients: BTreeMap<String, Vec<String>>,
    codes: BTreeMap<String, Code>,
    /// The access tokens it takes now, each with its number.
    access: BTreeMap<String, u32>,
    /// Refresh tokens and their clients.
    refresh: BTreeMap<String, String>,
    issued: u32,
    /// What was asked of the authorization server, in order (`register`, `authorize`,
    /// `token authorization_code`, `token refresh_token`), and each refusal.
    log: Vec<String>,
    /// Each registration's body.
    registrations: Vec<Value>,
}

/// The running server; dropping it stops it.
pub struct OAuthMcp {
    base: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl OAuthMcp {
    /// Starts it on a free port.
    pub async fn start() -> OAuthMcp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            base: base.clone(),
            ..State::default()
        }));
        let task = tokio::spawn(super::http_server::serve(listener, state.clone(), handle));
        OAuthMcp { base, state, task }
    }

    /// The MCP endpoint.
    pub fn url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// Every access token stops working, as when they are revoked or expire early.
    pub fn revoke_access(&self) {
        self.state.lock().unwrap().access.clear();
    }

    /// What the authorization server was asked since the last call.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }

    /// Each registration's body.
    pub fn registrations(&self) -> Vec<Value> {
        self.state.lock().unwrap().registrations.clone()
    }

    /// Every token it ever issued (access and refresh): none may be found in the clear.
    pub fn issued_tokens(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        (1..=state.issued)
            .flat_map(|n| [format!("notes-access-{n}"), format!("notes-refresh-{n}")])
            .collect()
    }
}

impl Drop for OAuthMcp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = Response<Full<Bytes>>;

fn json_reply(status: u16, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn empty(status: u16) -> Reply {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn oauth_error(code: &str) -> Reply {
    json_reply(400, &json!({"error": code}))
}

async fn handle(state: Arc<Mutex<State>>, request: Request<Incoming>) -> Result<Reply, Infallible> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let mut state = state.lock().unwrap();
    let base = state.base.clone();
    Ok(match (method.as_str(), path.as_str()) {
        (_, "/mcp") => {
            let Some(number) = bearer.and_then(|t| state.access.get(&t).copied()) else {
                return Ok(Response::builder()
                    .status(401)
                    .header(
                        "www-authenticate",
                        format!(
                            r#"Bearer error="invalid_token", resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
                        ),
                    )
                    .body(Full::new(Bytes::new()))
                    .unwrap());
            };
            match method.as_str() {
                "POST" => mcp(&body, number),
                "DELETE" => empty(200),
                _ => empty(405),
            }
        }
        ("GET", "/.well-known/oauth-protected-resource/mcp") => json_reply(
            200,
            &json!({
                "resource": format!("{base}/mcp"),
                "authorization_servers": [format!("{base}/auth")],
                "scopes_supported": ["notes"],
            }),
        ),
        ("GET", "/.well-known/oauth-authorization-server/auth") => json_reply(
            200,
            &json!({
                "issuer": format!("{base}/auth"),
                "authorization_endpoint": format!("{base}/auth/authorize"),
                "token_endpoint": format!("{base}/auth/token"),
                "registration_endpoint": format!("{base}/auth/register"),
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            }),
        ),
        ("POST", "/auth/register") => {
            let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let uris: Vec<String> = asked["redirect_uris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect();
            state.log.push("register".to_owned());
            state.registrations.push(asked.clone());
            if uris.is_empty() {
                return Ok(json_reply(400, &json!({"error": "invalid_redirect_uri"})));
            }
            let client_id = format!("client-{}", state.clients.len() + 1);
            state.clients.insert(client_id.clone(), uris.clone());
            json_reply(
                201,
                &json!({"client_id": client_id, "redirect_uris": uris, "token_endpoint_auth_method": "none"}),
            )
        }
        ("GET", "/auth/authorize") => {
            let q = params(&query);
            let get = |k: &str| q.get(k).cloned().unwrap_or_default();
            state.log.push("authorize".to_owned());
            let registered = state
                .clients
                .get(&get("client_id"))
                .is_some_and(|uris| uris.contains(&get("redirect_uri")));
            let well_formed = get("response_type") == "code"
                && get("code_challenge_method") == "S256"
                && !get("code_challenge").is_empty()
                && get("resource") == format!("{base}/mcp")
                && get("scope") == "notes";
            if !(registered && well_formed) {
                state.log.push(format!("refused authorize {query}"));
                return Ok(empty(400));
            }
            let code = format!("code-{}", state.codes.len() + 1);
            state.codes.insert(
                code.clone(),
                Code {
                    client_id: get("client_id"),
                    redirect_uri: get("redirect_uri"),
                    challenge: get("code_challenge"),
                    resource: get("resource"),
                },
            );
            let mut location = reqwest::Url::parse(&get("redirect_uri")).unwrap();
            location
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &get("state"));
            Response::builder()
                .status(302)
                .header("location", location.as_str())
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        ("POST", "/auth/token") => {
            let form = params(&String::from_utf8_lossy(&body));
            let get = |k: &str| form.get(k).cloned().unwrap_or_default();
            let grant_type = get("grant_type");
            state.log.push(format!("token {grant_type}"));
            let client_id = get("client_id");
            match grant_type.as_str() {
                "authorization_code" => {
                    let Some(code) = state.codes.remove(&get("code")) else {
                        return Ok(oauth_error("invalid_grant"));
                    };
                    let digest = ring::digest::digest(
                        &ring::digest::SHA256,
                        get("code_verifier").as_bytes(),
                    );
                    let verified = URL_SAFE_NO_PAD.encode(digest.as_ref()) == code.challenge;
                    if !(verified
                        && code.client_id == client_id
                        && code.redirect_uri == get("redirect_uri")
                        && code.resource == get("resource"))
                    {
                        state.log.push("refused token".to_owned());
                        return Ok(oauth_error("invalid_grant"));
                    }
                    issue(&mut state, &client_id)
                }
                "refresh_token" => {
                    let refresh = get("refresh_token");
                    if state.refresh.get(&refresh) != Some(&client_id)
                        || get("resource") != format!("{base}/mcp")
                    {
                        return Ok(oauth_error("invalid_grant"));
                    }
                    state.refresh.remove(&refresh);
                    issue(&mut state, &client_id)
                }
                _ => oauth_error("unsupported_grant_type"),
            }
        }
        _ => empty(404),
    })
}

/// New tokens for `client_id`: the access token replaces every other, the refresh token the
/// one used.
fn issue(state: &mut State, client_id: &str) -> Reply {
    state.issued += 1;
    let n = state.issued;
    let access = format!("notes-access-{n}");
    let refresh = format!("notes-refresh-{n}");
    state.access.clear();
    state.access.insert(access.clone(), n);
    state.refresh.insert(refresh.clone(), client_id.to_owned());
    json_reply(
        200,
        &json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 3600}),
    )
}

/// One JSON-RPC message to the MCP endpoint, answered as JSON.
fn mcp(body: &[u8], access: u32) -> Reply {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return empty(400);
    };
    let Some(id) = message.get("id").cloned() else {
        // A notification.
        return empty(202);
    };
    let method = message["method"].as_str().unwrap_or_default();
    let result = match method {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"].clone(),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "notes", "version": "1.0.0"},
        }),
        "tools/list" => json!({"tools": [
            {"name": "whoami", "description": "Says which access it was called with.",
             "inputSchema": {"type": "object", "properties": {}}},
            {"name": "add_note", "description": "Keeps a note.",
             "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
        ]}),
        "tools/call" => {
            let text = match message["params"]["name"].as_str() {
                Some("whoami") => format!("called with access {access}"),
                Some("add_note") => format!("noted: {}", message["params"]["arguments"]["text"]),
                _ => "no such tool".to_owned(),
            };
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        "ping" => json!({}),
        _ => {
            return json_reply(
                200,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}}),
            );
        }
    };
    json_reply(200, &json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn params(text: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}
