//! Finding MCP servers to install: the official MCP registry (`[mcp] registry_url`) and, when
//! a key is set, Smithery's; each result with the source `clara mcp add` takes.

use std::time::Duration;

use clara_config::Env;
use clara_config::model::mcp::McpConfig;
use serde_json::Value;

/// How long one registry may take to answer.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A server a registry knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its name in the registry.
    pub name: String,
    /// What it does.
    pub description: String,
    /// What to install it from, when the registry says (`npm:…`, `pypi:…`, a URL).
    pub source: Option<String>,
    /// Variables it needs set, by name.
    pub needs: Vec<String>,
    /// Which registry said so.
    pub registry: &'static str,
}

/// Up to `limit` servers matching `query` in each registry that is set up. A registry that
/// fails is reported in the error list, beside what the others found.
pub async fn search(
    client: &reqwest::Client,
    config: &McpConfig,
    env: &Env,
    query: &str,
    limit: u32,
) -> (Vec<Found>, Vec<String>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    match official(client, config, query, limit).await {
        Ok(mut servers) => found.append(&mut servers),
        Err(why) => failed.push(format!("the MCP registry: {why}")),
    }
    let key = env
        .get(&config.smithery_key_env)
        .map(str::to_owned)
        .or_else(|| std::env::var(&config.smithery_key_env).ok())
        .filter(|k| !k.is_empty());
    if let Some(key) = key {
        match smithery(client, config, &key, query, limit).await {
            Ok(mut servers) => found.append(&mut servers),
            Err(why) => failed.push(format!("Smithery: {why}")),
        }
    }
    (found, failed)
}

async fn official(
    client: &reqwest::Client,
    config: &McpConfig,
    query: &str,
    limit: u32,
) -> Result<Vec<Found>, String> {
    let url = with_query(
        &format!("{}/v0.1/servers", config.registry_url.trim_end_matches('/')),
        &[
            ("search", query),
            ("limit", &limit.to_string()),
            ("version", "latest"),
        ],
    );
    let request = client.get(url);
    let body = fetch(request).await?;
    let servers = body
        .get("servers")
        .and_then(Value::as_array)
        .ok_or("the answer has no `servers` list")?;
    Ok(servers
        .iter()
        .filter_map(|entry| {
            let server = entry.get("server").unwrap_or(entry);
            let name = server.get("name")?.as_str()?.to_owned();
            let description = text(server, "description");
            let packages = server.get("packages").and_then(Value::as_array);
            let package = packages.into_iter().flatten().find_map(package_source);
            let remote = server
                .get("remotes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|r| r.get("type").and_then(Value::as_str) == Some("streamable-http"))
                .and_then(|r| r.get("url")?.as_str().map(str::to_owned));
            let repository = server
                .pointer("/repository/url")
                .and_then(Value::as_str)
                .and_then(|u| u.strip_prefix("https://"))
                .filter(|u| u.starts_with("github.com/"))
                .map(str::to_owned);
            let needs = packages
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("environmentVariables").and_then(Value::as_array))
                .flatten()
                .filter(|v| v.get("isRequired").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name")?.as_str().map(str::to_owned))
                .collect();
            Some(Found {
                name,
                description,
                source: package.or(remote).or(repository),
                needs,
                registry: "MCP registry",
            })
        })
        .collect())
}

/// The source a registry package installs from.
fn package_source(package: &Value) -> Option<String> {
    let id = package.get("identifier")?.as_str()?;
    match package.get("registryType")?.as_str()? {
        "npm" => Some(format!("npm:{id}")),
        "pypi" => Some(format!("pypi:{id}")),
        "oci" => Some(format!("docker:{id}")),
        _ => None,
    }
}

async fn smithery(
    client: &reqwest::Client,
    config: &McpConfig,
    key: &str,
    query: &str,
    limit: u32,
) -> Result<Vec<Found>, String> {
    let url = with_query(
        &format!("{}/servers", config.smithery_url.trim_end_matches('/')),
        &[("q", query), ("pageSize", &limit.to_string())],
    );
    let request = client.get(url).bearer_auth(key);
    let body = fetch(request).await?;
    let servers = body
        .get("servers")
        .and_then(Value::as_array)
        .ok_or("the answer has no `servers` list")?;
    Ok(servers
        .iter()
        .filter_map(|server| {
            let name = server.get("qualifiedName")?.as_str()?.to_owned();
            let remote = server.get("remote").and_then(Value::as_bool) == Some(true);
            Some(Found {
                source: remote.then(|| format!("https://server.smithery.ai/{name}/mcp")),
                description: text(server, "description"),
                name,
                // Smithery's hosted servers take the key as a bearer header.
                needs: if remote {
                    vec![config.smithery_key_env.clone()]
                } else {
                    Vec::new()
                },
                registry: "Smithery",
            })
        })
        .collect())
}

/// `base` with `pairs` as its query, encoded.
fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}?{query}")
}

async fn fetch(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("it answered {status}"));
    }
    response
        .json()
        .await
        .map_err(|e| format!("an unreadable answer: {}", e.without_url()))
}

/// `key` of `value` as one line of text.
fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The results as people read them, one server per line (and its source under it).
pub fn describe(found: &[Found], failed: &[String]) -> String {
    let mut out = String::new();
    for server in found {
        out.push_str(&format!(
            "{} ({}): {}\n",
            server.name, server.registry, server.description
        ));
        match &server.source {
            Some(source) => out.push_str(&format!("  install: {source}\n")),
            None => out.push_str("  no source to install from\n"),
        }
        if !server.needs.is_empty() {
            out.push_str(&format!("  needs: {}\n", server.needs.join(", ")));
        }
    }
    if found.is_empty() {
        out.push_str("No servers found.\n");
    }
    for why in failed {
        out.push_str(&format!("Could not search {why}\n"));
    }
    out
}
