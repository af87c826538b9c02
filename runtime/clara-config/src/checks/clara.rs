//! `clara.toml` checks: references to personas, providers, stores and connections, time
//! zones, addresses.

use std::net::SocketAddr;

use crate::Source;
use crate::doc::At;
use crate::model::clara::ClaraConfig;
use crate::model::email::{EmailConfig, INBOX_LINK_KIND};
use crate::model::provider::ProviderKind;
use crate::path;
use crate::problem::Problem;
use crate::set::{ConfigSet, HOOKS_DIR, Loaded, PERSONAS_DIR, PIPELINES_DIR, Partial, TOOLS_DIR};

use super::{Names, Report, budget};

pub(crate) fn check(
    clara: &Loaded<ClaraConfig>,
    set: &Partial<'_>,
    names: &Names,
    report: &mut Report<'_>,
) {
    let source = &clara.source;
    let config = &clara.value;
    let providers = names.providers.as_ref().expect("clara.toml loaded");
    let stores = names.stores.as_ref().expect("clara.toml loaded");

    report.reference(
        source,
        &path!["defaults", "persona"],
        "persona",
        &config.defaults.persona,
        &names.personas,
    );
    report.reference(
        source,
        &path!["defaults", "store"],
        "store",
        &config.defaults.store,
        stores,
    );
    check_timezone(
        report,
        source,
        &path!["defaults", "timezone"],
        &config.defaults.timezone,
    );
    match &config.defaults.provider {
        Some(name) => report.reference(
            source,
            &path!["defaults", "provider"],
            "provider",
            name,
            providers,
        ),
        None if providers.len() != 1 && needs_default_provider(set) => {
            let message = if providers.is_empty() {
                "no LLM provider is configured: add a [providers.NAME] table".to_owned()
            } else {
                let list: Vec<&str> = providers.iter().map(String::as_str).collect();
                format!(
                    "set `provider` to the provider pipelines use by default (one of: {})",
                    list.join(", ")
                )
            };
            report.key(source, &path!["defaults"], message);
        }
        None => {}
    }

    for (name, limit) in &config.budgets {
        budget::check(
            report,
            source,
            &path!["budgets", name.as_str()],
            limit,
            names,
        );
    }

    for (name, provider) in &config.providers {
        if let Some(url) = &provider.base_url
            && !is_http_url(url)
        {
            report.value(
                source,
                &path!["providers", name.as_str(), "base_url"],
                "expected an http:// or https:// URL",
            );
        }
        for (i, target) in provider.fallback.iter().enumerate() {
            let at = path!["providers", name.as_str(), "fallback", i];
            if target == name {
                report.value(source, &at, "a provider cannot fall back to itself");
            } else {
                report.reference(source, &at, "provider", target, providers);
            }
        }
    }

    // Named here, or inherited from the default provider (whose own problems are reported at
    // `defaults.provider`) when embeddings are on.
    if let Some(embeddings) = config
        .embeddings
        .as_ref()
        .filter(|e| e.enabled || e.provider.is_some())
    {
        let named = embeddings.provider.is_some();
        let at: &[crate::doc::Seg] = if named {
            &path!["embeddings", "provider"]
        } else {
            &path!["embeddings"]
        };
        match config.embeddings_provider() {
            Some(name) => match config.providers.get(name) {
                Some(p) if p.kind != ProviderKind::Openai => {
                    let whose = if named { "" } else { "the default provider " };
                    report.value(source, at, format!("embeddings need an OpenAI-compatible provider, and {whose}`{name}` is of kind `anthropic`: set `provider` under [embeddings] to one of kind `openai`, or `enabled = false`"));
                }
                Some(_) => {}
                None if named => report.reference(source, at, "provider", name, providers),
                None => {}
            },
            None if !named => report.key(
                source,
                at,
                "embeddings need a provider: set `provider` under [embeddings] or [defaults]",
            ),
            None => {}
        }
    }
    if let Some(provider) = &config.memory.provider {
        report.reference(
            source,
            &path!["memory", "provider"],
            "provider",
            provider,
            providers,
        );
    }
    if config.status.bind.parse::<SocketAddr>().is_err() {
        report.value(
            source,
            &path!["status", "bind"],
            "expected an address like `127.0.0.1:8787`",
        );
    }
    check_email(source, config, names, report);
    check_console_accounts(source, config, names, report);
    check_mcp(source, config, report);
    check_backup(source, config, report);
    if let Some(endpoint) = &config.telemetry.endpoint {
        let at = path!["telemetry", "endpoint"];
        if !is_http_url(endpoint) {
            report.value(
                source,
                &at,
                "expected the collector's OTLP/HTTP address, like `http://127.0.0.1:4318`",
            );
        } else if crate::mypalclara::carries_credentials(endpoint) {
            report.value(
                source,
                &at,
                "the URL carries credentials; set the endpoint without them and the secret in a header (`headers_env`)",
            );
        }
    }
    let discord = &config.adapters.discord;
    if let Some(url) = &discord.gateway_url
        && !(url.starts_with("ws://") || url.starts_with("wss://"))
    {
        report.value(
            source,
            &path!["adapters", "discord", "gateway_url"],
            "expected a WebSocket URL (`wss://…` or `ws://…`)",
        );
    }
    if let Some(proxy) = &discord.api_proxy
        && (proxy.contains("://") || !proxy.contains(':'))
    {
        report.value(
            source,
            &path!["adapters", "discord", "api_proxy"],
            "expected `host:port` without a scheme, e.g. `127.0.0.1:3000`",
        );
    }
    if let Some(shards) = &discord.shards {
        for (i, id) in shards.ids.iter().enumerate() {
            if *id >= shards.total {
                report.value(
                    source,
                    &path!["adapters", "discord", "shards", "ids", i],
                    format!(
                        "shard {id} does not exist: shard ids go from 0 to {}",
                        shards.total - 1
                    ),
                );
            }
        }
    }
}

/// `[email]` against the connections: the one Gmail is read through, and the name inbox links
/// use, which no connection may take.
fn check_email(source: &Source, config: &ClaraConfig, names: &Names, report: &mut Report<'_>) {
    if config.connections.contains_key(INBOX_LINK_KIND) {
        report.key(
            source,
            &path!["connections", INBOX_LINK_KIND],
            format!("`{INBOX_LINK_KIND}` is taken by the links that connect inboxes: give this connection another name"),
        );
    }
    let email = &config.email;
    if !is_http_url(&email.gmail_api_url) {
        report.value(
            source,
            &path!["email", "gmail_api_url"],
            "expected an http:// or https:// URL",
        );
    }
    // The default may name a connection this root does not have (IMAP needs none); a name
    // someone wrote must exist.
    if email.enabled
        && email.gmail_connection != EmailConfig::default().gmail_connection
        && let Some(known) = &names.connections
    {
        report.reference(
            source,
            &path!["email", "gmail_connection"],
            "connection",
            &email.gmail_connection,
            known,
        );
    }
}

/// `[console] accounts`: each names a connection that can say whose account a token is, and
/// lists at least one account.
fn check_console_accounts(
    source: &Source,
    config: &ClaraConfig,
    names: &Names,
    report: &mut Report<'_>,
) {
    for (name, accounts) in &config.console.accounts {
        let at = path!["console", "accounts", name.as_str()];
        match config.connections.get(name) {
            None => {
                if let Some(known) = &names.connections {
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    report.key(source, &at, crate::suggest::unknown("connection", name, &known));
                }
            }
            Some(connection) => match &connection.account_url {
                None => report.key(
                    source,
                    &at,
                    format!("[connections.{name}] has no `account_url`, so a login cannot tell whose account it is: set it (GitHub: https://api.github.com/user; Google: https://openidconnect.googleapis.com/v1/userinfo)"),
                ),
                Some(url) if !is_http_url(url) => report.value(
                    source,
                    &path!["connections", name.as_str(), "account_url"],
                    "expected an http:// or https:// URL",
                ),
                Some(_) if accounts.iter().all(|a| a.trim().is_empty()) => report.value(
                    source,
                    &at,
                    "list the accounts that may log in; an empty list lets no one in",
                ),
                // Anyone can put an address they do not own on a new account: only a verified
                // one says whose it is.
                Some(_)
                    if connection.account_field == "email"
                        && connection.account_verified_field.is_none() =>
                {
                    report.key(
                        source,
                        &at,
                        format!("[connections.{name}] names accounts by `email` without `account_verified_field`: set it (Google's is \"email_verified\") so an unverified address lets no one in"),
                    );
                }
                Some(_) => {}
            },
        }
    }
}

/// `[mcp]`: the servers folder is a folder of its own inside the root (installs create and
/// remove folders in it), and the registries are URLs.
fn check_mcp(source: &Source, config: &ClaraConfig, report: &mut Report<'_>) {
    let mcp = &config.mcp;
    let dir = std::path::Path::new(&mcp.servers_dir);
    let inside = !mcp.servers_dir.trim().is_empty()
        && dir.is_relative()
        && dir
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    let first = dir.components().next().and_then(|c| c.as_os_str().to_str());
    let taken = [
        PERSONAS_DIR,
        PIPELINES_DIR,
        TOOLS_DIR,
        HOOKS_DIR,
        "email",
        "schema",
        "tests",
    ];
    if !inside || first.is_some_and(|f| taken.contains(&f)) {
        report.value(
            source,
            &path!["mcp", "servers_dir"],
            "expected a folder of its own inside the root, like `mcp_servers` (installs create and remove folders in it)",
        );
    }
    for key in ["registry_url", "smithery_url", "github_url"] {
        let url = match key {
            "registry_url" => &mcp.registry_url,
            "smithery_url" => &mcp.smithery_url,
            _ => &mcp.github_url,
        };
        let fine = is_http_url(url) || (key == "github_url" && url.starts_with("file://"));
        if !fine {
            report.value(
                source,
                &path!["mcp", key],
                "expected an http:// or https:// URL",
            );
        }
    }
}

/// `[backup]`: an endpoint is a URL, names sit under a prefix without a leading `/`, and a
/// folder is named.
fn check_backup(source: &Source, config: &ClaraConfig, report: &mut Report<'_>) {
    let backup = &config.backup;
    if let Some(endpoint) = &backup.endpoint
        && !is_http_url(endpoint)
    {
        report.value(
            source,
            &path!["backup", "endpoint"],
            "expected an http:// or https:// URL",
        );
    }
    if backup.prefix.starts_with('/') || backup.prefix.contains("..") {
        report.value(
            source,
            &path!["backup", "prefix"],
            "expected a relative name like `clara/` (no leading `/`, no `..`)",
        );
    }
    if backup.dir.trim().is_empty() {
        report.value(source, &path!["backup", "dir"], "expected a folder");
    }
    if backup
        .bucket
        .as_deref()
        .is_some_and(|b| b.trim().is_empty())
    {
        report.value(
            source,
            &path!["backup", "bucket"],
            "expected a bucket name, or leave `bucket` out",
        );
    }
}

/// A memory `model` that may not exist where it is sent: one named without its provider (it
/// goes to whichever provider is the default), or one left behind when an environment
/// override moved memory to another provider.
pub(crate) fn memory_model_advice(set: &ConfigSet) -> Option<Problem> {
    let memory = &set.clara.value.memory;
    let model = memory.model.as_ref().filter(|_| memory.enabled)?;
    let source = &set.clara.source;
    let at = source.doc.value_at(&path!["memory", "provider"]);
    let message = match (&memory.provider, &at) {
        (None, _) => format!(
            "`model = \"{model}\"` is named without `provider`, so it goes to the default provider (`{}`) whichever that is; name its provider too",
            set.clara.value.default_provider().unwrap_or("none")
        ),
        (Some(provider), At::Env(var)) => format!(
            "${var} moves memory to provider `{provider}`, but `model = \"{model}\"` still names the model for the provider in the file; override `model` too (CLARA_MEMORY__MODEL), or leave it out to use that provider's low tier"
        ),
        _ => return None,
    };
    let model_at = source.doc.value_at(&path!["memory", "model"]);
    Some(Problem::at(&source.rel, model_at, message))
}

/// Whether some pipeline calls a model without naming its provider.
fn needs_default_provider(set: &Partial<'_>) -> bool {
    use crate::model::steps::Step;
    set.pipelines.values().flatten().any(|p| {
        p.value
            .steps
            .iter()
            .any(|s| matches!(s, Step::LlmCall(call) if call.provider.is_none()))
    }) || set
        .clara
        .is_some_and(|c| c.value.memory.enabled && c.value.memory.provider.is_none())
}

pub(crate) fn check_timezone(
    report: &mut Report<'_>,
    source: &crate::set::Source,
    at: &[crate::doc::Seg],
    name: &str,
) {
    if name.parse::<chrono_tz::Tz>().is_err() {
        report.value(
            source,
            at,
            format!("unknown time zone `{name}`; use an IANA name like `Europe/Berlin` or `UTC`"),
        );
    }
}

pub(crate) fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}
