//! `clara mcp`: installing MCP servers (a manifest in tools.d/ each), removing, enabling and
//! disabling them, checking that they start, restarting one in the running clara, and
//! searching registries.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use clara::store::Access;
use clara::tools::mcp::install::{Install, Installer};
use clara::tools::mcp::{GrantError, Grants, registry};
use clara_config::ConfigSet;
use clara_config::model::tool::Runner;
use clara_core::engine::SystemClock;

/// Whom links made at the command line are for, in the logs.
const OPERATOR: &str = "operator";

use crate::cli::{McpArgs, McpCommand};

pub async fn run(root: &Path, args: &McpArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let client = clara::tools::http_client();
    let config = &set.clara.value.mcp;
    let grants = grants(&set, &args.command).await;
    let installer = Installer::new(&set.root, config, &set.env, client.clone())
        .beside(&set)
        .authorizing(grants.clone(), OPERATOR);
    let done = |outcome: Result<String, String>| match outcome {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    };
    Ok(match &args.command {
        McpCommand::Add {
            source,
            name,
            env,
            secret_env,
            header,
            args,
        } => {
            let mut vars = BTreeMap::new();
            for pair in env {
                let Some((key, value)) = pair.split_once('=') else {
                    eprintln!("error: --env takes KEY=VALUE, not `{pair}`");
                    return Ok(ExitCode::from(2));
                };
                vars.insert(key.to_owned(), value.to_owned());
            }
            let mut headers = BTreeMap::new();
            for pair in header {
                let Some((key, value)) = pair.split_once('=') else {
                    eprintln!("error: --header takes NAME=TEMPLATE, not `{pair}`");
                    return Ok(ExitCode::from(2));
                };
                headers.insert(key.trim().to_owned(), value.trim().to_owned());
            }
            let install = Install {
                source: source.clone(),
                name: name.clone(),
                env: vars,
                secrets_env: secret_env.clone(),
                args: args.clone(),
                headers,
            };
            eprintln!("installing {source} (fetching, building and starting it once)…");
            done(
                installer
                    .add(&install)
                    .await
                    .map(|installed| {
                        let tools: Vec<String> = installed
                            .tools
                            .iter()
                            .map(|(tool, about)| {
                                let about = about.lines().next().unwrap_or_default();
                                format!("  {}__{tool}  {about}", installed.name)
                            })
                            .collect();
                        format!(
                            "installed `{}` in {} with {} tools:\n{}",
                            installed.name,
                            relative(&set.root, &installed.file),
                            installed.tools.len(),
                            tools.join("\n")
                        )
                    })
                    .map_err(|e| e.to_string()),
            )
        }
        McpCommand::Remove { name } => {
            done(installer.remove(name).await.map_err(|e| e.to_string()))
        }
        McpCommand::Enable { name } | McpCommand::Disable { name } => {
            let on = matches!(args.command, McpCommand::Enable { .. });
            let word = if on { "enabled" } else { "disabled" };
            done(
                installer
                    .set_enabled(name, on)
                    .map(|changed| match changed {
                        true => format!("{name} is {word}"),
                        false => format!("{name} was already {word}"),
                    })
                    .map_err(|e| e.to_string()),
            )
        }
        McpCommand::List => {
            let servers = clara::tools::mcp::manifests(&set);
            if servers.is_empty() {
                println!("no MCP servers in tools.d/ (add one with `clara mcp add SOURCE`)");
            }
            for server in servers {
                let state = if server.enabled {
                    "enabled "
                } else {
                    "disabled"
                };
                println!(
                    "{}  {state}  {}  ({})",
                    server.name, server.runs, server.file
                );
            }
            ExitCode::SUCCESS
        }
        McpCommand::Status { name } => {
            status(&set, name.as_deref(), &client, grants.as_ref()).await
        }
        McpCommand::Auth { name } => done(authorize(&set, name, grants.as_ref()).await),
        McpCommand::Restart { name } => done(restart(&set, name).await),
        McpCommand::Search { query, limit } => {
            let query = query.join(" ");
            let (found, failed) = registry::search(&client, config, &set.env, &query, *limit).await;
            print!("{}", registry::describe(&found, &failed));
            if found.is_empty() && !failed.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    })
}

/// Starts each enabled server (or `only`) once: whether it lists its tools.
async fn status(
    set: &ConfigSet,
    only: Option<&str>,
    client: &reqwest::Client,
    grants: Option<&Arc<Grants>>,
) -> ExitCode {
    let mut failed = false;
    let mut any = false;
    for (name, loaded) in &set.tools {
        let manifest = &loaded.value;
        let wanted = match only {
            Some(only) => only == name,
            None => manifest.enabled,
        };
        if !wanted || !matches!(manifest.runner, Runner::Mcp { .. }) {
            continue;
        }
        any = true;
        let checked = match clara::tools::mcp::launch(set, name, manifest, grants) {
            Ok(launch) => {
                let limit =
                    Duration::from_secs(u64::from(set.clara.value.mcp.install_timeout_secs));
                clara::tools::mcp::probe(&launch, client, limit).await
            }
            Err(why) => Err(why),
        };
        match checked {
            Ok(tools) => println!("{name}: starts, {} tools", tools.len()),
            Err(why) => {
                failed = true;
                println!("{name}: does not start: {why}");
            }
        }
    }
    if !any {
        match only {
            Some(only) => {
                eprintln!("error: no MCP server is called `{only}` in tools.d");
                return ExitCode::FAILURE;
            }
            None => println!("no enabled MCP servers"),
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The grants of OAuth servers, for the commands that may need them, when a secret key is
/// set and the store opens (a store that does not is said, and such servers are refused).
async fn grants(set: &ConfigSet, command: &McpCommand) -> Option<Arc<Grants>> {
    let needed = matches!(
        command,
        McpCommand::Add { .. }
            | McpCommand::Remove { .. }
            | McpCommand::Status { .. }
            | McpCommand::Auth { .. }
    );
    let key_set = set
        .env
        .get(&set.clara.value.runtime.secret_key_env)
        .is_some();
    if !(needed && key_set) {
        return None;
    }
    match clara::store::open_default(set, Access::ReadWrite).await {
        Ok(store) => Grants::new(set, store, Arc::new(SystemClock)).map(Arc::new),
        Err(error) => {
            eprintln!(
                "warning: the store did not open, so OAuth servers cannot be authorized: {error}"
            );
            None
        }
    }
}

/// The link that authorizes server `name`, which has `oauth = true`.
async fn authorize(
    set: &ConfigSet,
    name: &str,
    grants: Option<&Arc<Grants>>,
) -> Result<String, String> {
    let server = clara::tools::mcp::manifests(set)
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| format!("no MCP server is called `{name}` in tools.d"))?;
    if !(server.http && server.oauth) {
        return Err(format!(
            "`{name}` does not use OAuth: its manifest has no `url` with `oauth = true`"
        ));
    }
    let grants = grants.ok_or_else(|| GrantError::NoKey(name.to_owned()).to_string())?;
    let link = grants
        .link_for(name, &server.runs, OPERATOR)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "open this link within 10 minutes, while `clara run` runs from this root (its status endpoint takes the answer):\n{link}"
    ))
}

/// Asks the clara running from this root (at `[status] bind`) to restart `name`, with the
/// token it wrote into the root.
async fn restart(set: &ConfigSet, name: &str) -> Result<String, String> {
    let bind = &set.clara.value.status.bind;
    let address = clara::status::local_address(bind)
        .ok_or_else(|| format!("[status] bind `{bind}` is not an address"))?;
    let token = std::fs::read_to_string(set.root.join(clara::status::CONTROL_TOKEN_FILE))
        .map_err(|_| "no clara has run from this root (its control token is missing)".to_owned())?;
    // Straight to it: a proxy between would only see the token.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://{address}/mcp/{name}/restart");
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token.trim())
        .finish();
    let response = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|_| {
            format!(
                "no clara answers at {bind} ([status] bind): is `clara run` running from this root?"
            )
        })?;
    match response.status().as_u16() {
        200 => Ok(format!("restarting {name} in the running clara")),
        404 => Err(format!("the running clara has no MCP server `{name}`")),
        403 => Err(
            "the running clara refused: it was started from another root, or its token changed"
                .to_owned(),
        ),
        status => Err(format!("the running clara refused ({status})")),
    }
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}
