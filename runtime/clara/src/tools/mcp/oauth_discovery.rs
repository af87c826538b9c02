//! How an MCP server wants to be authorized, found the way the MCP authorization spec says:
//! the 401 challenge of an unauthenticated request, the server's protected-resource metadata
//! (RFC 9728), its authorization server's metadata (RFC 8414, or OpenID discovery), and clara
//! registered there as a public client (RFC 7591, PKCE instead of a secret).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

/// Longest one discovery or registration request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Largest metadata document read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// What a server's 401 said about its authorization.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// Where its protected-resource metadata is, when it said.
    pub resource_metadata: Option<String>,
    /// The scopes it asked for, when it said.
    pub scope: Option<String>,
}

/// Where and how to get a grant for one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthServer {
    /// The resource the tokens are for (RFC 8707's `resource`).
    pub resource: String,
    /// Where the user allows access.
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens become access tokens.
    pub token_endpoint: String,
    /// Where clients register, when the server lets them.
    pub registration_endpoint: Option<String>,
    /// The scopes to ask for (space-separated), when any are known.
    pub scope: Option<String>,
}

/// A client registered at an authorization server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The client id it gave.
    pub client_id: String,
    /// The client secret, when it gave one.
    pub client_secret: Option<String>,
}

/// The client discovery, registration and token requests go through: it follows no
/// redirect, so a server cannot send them (with a code verifier or a refresh token) anywhere
/// but where its metadata, checked, says.
pub fn client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::llm::http::install_crypto_provider();
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(std::time::Duration::from_secs(10))
                .user_agent(concat!("clara/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("a client with no redirects builds")
        })
        .clone()
}

/// Whether the server at `url` asks for OAuth: an `initialize` without credentials answered
/// 401 with a Bearer challenge. `None` when it answered otherwise or could not be reached
/// (the usual start then says why).
pub async fn challenge(http: &reqwest::Client, url: &str) -> Option<Challenge> {
    let initialize = json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "clara", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    let response = http
        .post(url)
        .header(ACCEPT, "application/json, text/event-stream")
        .json(&initialize)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::UNAUTHORIZED {
        return None;
    }
    let header = response.headers().get(WWW_AUTHENTICATE)?.to_str().ok()?;
    parse_challenge(header)
}

/// The Bearer challenge of a `WWW-Authenticate` header (RFC 6750 §3), with its
/// `resource_metadata` and `scope` parameters.
fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim_start();
    if rest.len() < 6 || !rest[..6].eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut challenge = Challenge::default();
    let mut rest = rest[6..].trim_start();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        match key.to_ascii_lowercase().as_str() {
            "resource_metadata" => challenge.resource_metadata = Some(value),
            "scope" => challenge.scope = Some(value),
            _ => {}
        }
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(challenge)
}

/// Finds the authorization server of the MCP server at `url` from its `challenge`: its
/// protected-resource metadata, then that server's metadata. Every endpoint must be HTTPS
/// (or on this machine), and the server must support PKCE with S256.
pub async fn discover(
    http: &reqwest::Client,
    url: &str,
    challenge: &Challenge,
) -> Result<AuthServer, String> {
    let server = reqwest::Url::parse(url).map_err(|_| format!("`{url}` is not a URL"))?;
    // Only a server on this machine may name endpoints on this machine.
    let local = is_local(&server);
    let mut candidates = Vec::new();
    if let Some(given) = &challenge.resource_metadata {
        candidates.push(given.clone());
    }
    let path = server.path().trim_end_matches('/');
    if !path.is_empty() {
        candidates.push(well_known(&server, "oauth-protected-resource", path));
    }
    candidates.push(well_known(&server, "oauth-protected-resource", ""));
    let (metadata_url, metadata) = first_document(http, &candidates, local)
        .await
        .ok_or("it published no protected-resource metadata (RFC 9728)")?;
    let resource = metadata
        .get("resource")
        .and_then(Value::as_str)
        .unwrap_or(url)
        .to_owned();
    if !same_resource(&resource, &server) {
        return Err(format!(
            "its metadata at {metadata_url} is for another resource ({resource})"
        ));
    }
    let issuer = metadata
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|servers| servers.first())
        .and_then(Value::as_str)
        .ok_or("its protected-resource metadata names no authorization server")?;
    let issuer = checked_endpoint(issuer, local)?;
    let issuer_path = issuer.path().trim_end_matches('/').to_owned();
    let mut candidates = vec![well_known(
        &issuer,
        "oauth-authorization-server",
        &issuer_path,
    )];
    candidates.push(well_known(&issuer, "openid-configuration", &issuer_path));
    if !issuer_path.is_empty() {
        candidates.push(format!(
            "{}/.well-known/openid-configuration",
            issuer.as_str().trim_end_matches('/')
        ));
    }
    let (_, server_metadata) = first_document(http, &candidates, local)
        .await
        .ok_or("its authorization server published no metadata (RFC 8414)")?;
    // RFC 8414 §3.3: metadata that names another issuer is not this server's.
    let named = server_metadata.get("issuer").and_then(Value::as_str);
    if !named.is_some_and(|named| same_issuer(named, &issuer)) {
        return Err(format!(
            "its authorization server's metadata names another issuer ({})",
            named.unwrap_or("none")
        ));
    }
    let endpoint = |key: &str| -> Result<Option<String>, String> {
        server_metadata
            .get(key)
            .and_then(Value::as_str)
            .map(|u| checked_endpoint(u, local).map(String::from))
            .transpose()
    };
    let pkce = server_metadata
        .get("code_challenge_methods_supported")
        .and_then(Value::as_array)
        .is_some_and(|methods| methods.iter().any(|m| m == "S256"));
    if !pkce {
        return Err(
            "its authorization server does not offer PKCE with S256, which MCP requires".to_owned(),
        );
    }
    let scope = challenge.scope.clone().or_else(|| {
        let scopes: Vec<&str> = metadata
            .get("scopes_supported")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        (!scopes.is_empty()).then(|| scopes.join(" "))
    });
    Ok(AuthServer {
        resource,
        authorization_endpoint: endpoint("authorization_endpoint")?
            .ok_or("its authorization server has no authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?
            .ok_or("its authorization server has no token_endpoint")?,
        registration_endpoint: endpoint("registration_endpoint")?,
        scope,
    })
}

/// Registers clara at `server` as a public client whose browser comes back to
/// `redirect_uri`.
pub async fn register(
    http: &reqwest::Client,
    server: &AuthServer,
    redirect_uri: &str,
    client_name: &str,
) -> Result<Registration, String> {
    let endpoint = server.registration_endpoint.as_deref().ok_or(
        "its authorization server does not let clients register themselves (no registration_endpoint)",
    )?;
    let mut body = json!({
        "client_name": client_name,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    if let Some(scope) = &server.scope {
        body["scope"] = Value::String(scope.clone());
    }
    let response = http
        .post(endpoint)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .json(&body)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("registering failed: {}", e.without_url()))?;
    let status = response.status();
    let answer: Value = read_json(response).await.unwrap_or(Value::Null);
    if !status.is_success() {
        let code = answer
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| format!("HTTP {status}"), str::to_owned);
        return Err(format!("registering was refused: {code}"));
    }
    let client_id = answer
        .get("client_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("registering gave no client_id")?;
    Ok(Registration {
        client_id: client_id.to_owned(),
        client_secret: answer
            .get("client_secret")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// `https://host/.well-known/NAME` followed by `path` (RFC 8414 §3.1's insertion).
fn well_known(url: &reqwest::Url, name: &str, path: &str) -> String {
    format!(
        "{}/.well-known/{name}{path}",
        url.origin().ascii_serialization()
    )
}

/// Whether a metadata document's `resource` names the server that was asked: the same
/// origin, and a path the server's is under (segment by segment).
fn same_resource(resource: &str, server: &reqwest::Url) -> bool {
    let Ok(resource) = reqwest::Url::parse(resource) else {
        return false;
    };
    let segments = |url: &reqwest::Url| -> Vec<String> {
        url.path()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    resource.origin() == server.origin() && segments(server).starts_with(&segments(&resource))
}

/// Whether the `issuer` a metadata document names is the one it was found under.
fn same_issuer(named: &str, issuer: &reqwest::Url) -> bool {
    named.trim_end_matches('/') == issuer.as_str().trim_end_matches('/')
}

/// Whether `url` is on this machine.
fn is_local(url: &reqwest::Url) -> bool {
    matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// `url` parsed, when it is HTTPS (or, for a server that is itself on this machine, on this
/// machine): tokens never travel in the clear, and a hosted server cannot point clara at
/// services of the machine it runs on.
fn checked_endpoint(url: &str, local: bool) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("`{url}` is not a URL"))?;
    if is_local(&parsed) {
        return if local {
            Ok(parsed)
        } else {
            Err(format!(
                "its metadata names {url}, on this machine, which only a server on this machine may"
            ))
        };
    }
    if parsed.scheme() == "https" {
        Ok(parsed)
    } else {
        Err(format!(
            "its authorization endpoint {url} is not HTTPS, so tokens would travel in the clear"
        ))
    }
}

/// The first of `urls` that answers with a JSON object, with it.
async fn first_document(
    http: &reqwest::Client,
    urls: &[String],
    local: bool,
) -> Option<(String, Value)> {
    for url in urls {
        if checked_endpoint(url, local).is_err() {
            continue;
        }
        let Ok(response) = http
            .get(url)
            .header(ACCEPT, "application/json")
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
        else {
            continue;
        };
        if !response.status().is_success() {
            continue;
        }
        if let Some(document) = read_json(response).await.filter(Value::is_object) {
            return Some((url.clone(), document));
        }
    }
    None
}

/// A response's body as JSON, when it is JSON and not too big.
async fn read_json(response: reqwest::Response) -> Option<Value> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return None;
    }
    let bytes = response.bytes().await.ok()?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_read_with_quotes_escapes_and_commas() {
        let parsed = parse_challenge(
            r#"Bearer error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="notes:read notes:write""#,
        );
        assert_eq!(
            parsed,
            Some(Challenge {
                resource_metadata: Some(
                    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".to_owned()
                ),
                scope: Some("notes:read notes:write".to_owned()),
            })
        );
        assert_eq!(parse_challenge("Bearer"), Some(Challenge::default()));
        assert_eq!(
            parse_challenge(r#"bearer realm="a\"b",scope=x"#),
            Some(Challenge {
                resource_metadata: None,
                scope: Some("x".to_owned()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="x""#), None);
    }

    #[test]
    fn endpoints_are_https_or_on_this_machine_for_a_server_on_it() {
        assert!(checked_endpoint("https://auth.example.com/token", false).is_ok());
        assert!(checked_endpoint("http://127.0.0.1:9/token", true).is_ok());
        assert!(checked_endpoint("http://localhost/token", true).is_ok());
        assert!(checked_endpoint("http://127.0.0.1:9/token", false).is_err());
        assert!(checked_endpoint("https://localhost/token", false).is_err());
        assert!(checked_endpoint("http://auth.example.com/token", true).is_err());
        assert!(checked_endpoint("ftp://auth.example.com", false).is_err());
    }

    #[test]
    fn metadata_must_name_the_issuer_it_was_found_under() {
        let issuer = reqwest::Url::parse("https://auth.example.com/tenant").unwrap();
        assert!(same_issuer("https://auth.example.com/tenant", &issuer));
        assert!(same_issuer("https://auth.example.com/tenant/", &issuer));
        assert!(!same_issuer("https://evil.example.com/tenant", &issuer));
        assert!(!same_issuer("https://auth.example.com/other", &issuer));
    }

    #[test]
    fn a_resource_must_be_the_server_asked_or_above_it() {
        let server = reqwest::Url::parse("https://mcp.example.com/v1/mcp").unwrap();
        assert!(same_resource("https://mcp.example.com/v1/mcp", &server));
        assert!(same_resource("https://mcp.example.com/", &server));
        assert!(!same_resource("https://mcp.example.com/other", &server));
        assert!(!same_resource("https://mcp.example.com/v", &server));
        assert!(!same_resource("https://evil.example.com/v1/mcp", &server));
        assert_eq!(
            well_known(&server, "oauth-protected-resource", "/v1/mcp"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/v1/mcp"
        );
    }
}
