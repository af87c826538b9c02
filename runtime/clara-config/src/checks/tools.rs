//! Tool manifest checks: names (and MCP namespace clashes), runner shape, argument schemas,
//! templates.

use crate::doc::Seg;
use crate::model::tool::{BUILTIN_TOOLS, HttpMethod, MCP_SEPARATOR, Runner, ToolManifest};
use crate::path;
use crate::set::{Loaded, Partial, Source};

use super::clara::is_http_url;
use super::{Names, Report, templates};

pub(crate) fn check_all(set: &Partial<'_>, names: &Names, report: &mut Report<'_>) {
    for tool in set.tools.values() {
        check(tool, names, report);
    }
}

fn check(tool: &Loaded<ToolManifest>, names: &Names, report: &mut Report<'_>) {
    let source = &tool.source;
    let manifest = &tool.value;
    let name_at = path!["name"];
    let is_mcp = matches!(manifest.runner, Runner::Mcp { .. });
    if !valid_name(&tool.name) {
        report.value(
            source,
            &name_at,
            format!(
                "tool name `{}` may only use letters, digits, `_` and `-` (at most 64)",
                tool.name
            ),
        );
    } else if BUILTIN_TOOLS.contains(&tool.name.as_str()) {
        report.value(
            source,
            &name_at,
            format!("`{}` is a built-in tool; choose another name", tool.name),
        );
    } else if let Some((server, _)) = tool.name.split_once(MCP_SEPARATOR) {
        let message = if is_mcp {
            format!(
                "an MCP server's name may not contain `{MCP_SEPARATOR}`: its tools are named `{}{MCP_SEPARATOR}TOOL`",
                tool.name
            )
        } else if names.mcp_servers.contains(server) {
            format!(
                "tool `{}` clashes with the tools of MCP server `{server}`, which are named `{server}{MCP_SEPARATOR}…`",
                tool.name
            )
        } else {
            format!(
                "`{MCP_SEPARATOR}` is reserved for MCP tools (`server{MCP_SEPARATOR}tool`); use a single `_`"
            )
        };
        report.value(source, &name_at, message);
    }

    if is_mcp {
        if manifest.parameters.is_some() {
            report.key(
                source,
                &path!["parameters"],
                "an MCP server's tools describe their own parameters; remove `parameters`",
            );
        }
    } else {
        if manifest.description.is_none() {
            report.key(source, &path!["runner"], "missing required key `description`: the model reads it to know when to use the tool");
        }
        if let Some(parameters) = &manifest.parameters {
            check_parameters(report, source, parameters);
        }
    }
    check_runner(report, source, &manifest.runner);
    if let Runner::Http { method, body, .. } = &manifest.runner
        && body.sends_file()
    {
        check_file_body(report, source, manifest, *method);
    }
    if let Runner::Http {
        auth: Some(auth), ..
    } = &manifest.runner
        && let Some(known) = &names.connections
        && !known.contains(&auth.connection)
    {
        let listed = if known.is_empty() {
            "clara.toml has none".to_owned()
        } else {
            format!(
                "known: {}",
                known
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        report.value(
            source,
            &path!["runner", "auth", "connection"],
            format!(
                "no connection `{}`: declare it as `[connections.{}]` in clara.toml ({listed})",
                auth.connection, auth.connection
            ),
        );
    }
}

/// A body that carries a file needs a method that sends a body, and the `filename` argument
/// naming the file.
fn check_file_body(
    report: &mut Report<'_>,
    source: &Source,
    manifest: &ToolManifest,
    method: HttpMethod,
) {
    if matches!(method, HttpMethod::Get | HttpMethod::Delete) {
        report.value(
            source,
            &path!["runner", "body"],
            "a GET or DELETE request sends no body: use `method = \"POST\"` (or PUT, PATCH) to send the file",
        );
    }
    let declared = manifest
        .parameters
        .as_ref()
        .and_then(|p| p.get("properties"))
        .and_then(|p| p.get("filename"))
        .is_some();
    if !declared {
        report.value(
            source,
            &path!["runner", "body"],
            "the file sent is the one the `filename` argument names in the user's folder: declare `filename` in [parameters.properties]",
        );
    }
}

fn check_runner(report: &mut Report<'_>, source: &Source, runner: &Runner) {
    let at = |field: &str| path!["runner", field];
    match runner {
        Runner::Command {
            program,
            args,
            shell,
            ..
        } => {
            if program.trim().is_empty() {
                report.value(source, &at("program"), "must not be empty");
            }
            if *shell {
                templates::check_value(report, source, &at("program"), program);
                if crate::template::usage(program).variables.contains("args") {
                    report.value(
                        source,
                        &at("program"),
                        "with `shell = true` the command line is read by a shell, so the call's arguments may not be pasted into it: pass them in `args` (`args = [\"{{ args.city }}\"]`) and use \"$1\", \"$2\" … in the command line",
                    );
                }
            }
            for (i, arg) in args.iter().enumerate() {
                templates::check_value(report, source, &path!["runner", "args", i], arg);
            }
        }
        Runner::Http {
            url,
            headers,
            query,
            extract,
            ..
        } => {
            if !is_http_url(url) {
                report.value(source, &at("url"), "expected an http:// or https:// URL");
            }
            templates::check_value(report, source, &at("url"), url);
            if crate::template::usage(url).filters.contains("safe") {
                report.value(
                    source,
                    &at("url"),
                    "`safe` is not available in a URL: every value is encoded as one path segment or query value; for a value that spans several segments (`docs/README.md`) write `{{ args.path | path }}`",
                );
            }
            check_template_map(report, source, "headers", headers);
            check_template_map(report, source, "query", query);
            if let Some(pointer) = extract
                && !pointer.is_empty()
                && !pointer.starts_with('/')
            {
                report.value(
                    source,
                    &at("extract"),
                    "a JSON pointer starts with `/` (e.g. `/items`)",
                );
            }
        }
        Runner::Mcp {
            command,
            url,
            headers,
            oauth,
            ..
        } => {
            if *oauth && url.is_none() {
                report.value(
                    source,
                    &at("oauth"),
                    "OAuth is for servers reached over HTTP: set `url`, or remove `oauth`",
                );
            }
            match (command, url) {
                (Some(_), Some(_)) => report.key(
                    source,
                    &at("url"),
                    "set `command` (stdio server) or `url` (HTTP server), not both",
                ),
                (None, None) => report.key(
                    source,
                    &path!["runner"],
                    "an MCP server needs `command` (stdio) or `url` (streamable HTTP)",
                ),
                (None, Some(url)) if !is_http_url(url) => {
                    report.value(source, &at("url"), "expected an http:// or https:// URL");
                }
                _ => {}
            }
            check_template_map(report, source, "headers", headers);
        }
    }
}

fn check_template_map(
    report: &mut Report<'_>,
    source: &Source,
    field: &str,
    map: &std::collections::BTreeMap<String, String>,
) {
    for (key, template) in map {
        templates::check_value(
            report,
            source,
            &path!["runner", field, key.as_str()],
            template,
        );
    }
}

/// The arguments schema must be a JSON Schema that clara can check calls against, and
/// describe an object, as every tool API expects.
fn check_parameters(
    report: &mut Report<'_>,
    source: &Source,
    parameters: &serde_json::Map<String, serde_json::Value>,
) {
    let schema = serde_json::Value::Object(parameters.clone());
    if let Err(error) = jsonschema::meta::validate(&schema) {
        let mut at = vec![Seg::Key("parameters".to_owned())];
        at.extend(pointer_segments(
            &source.doc,
            "parameters",
            error.instance_path().as_str(),
        ));
        report.value(source, &at, format!("not a valid JSON Schema: {error}"));
        return;
    }
    if let Err(error) = jsonschema::options().build(&schema) {
        report.value(
            source,
            &path!["parameters"],
            format!("this schema cannot be used to check calls: {error}"),
        );
        return;
    }
    let at = path!["parameters", "type"];
    match parameters.get("type").and_then(|t| t.as_str()) {
        Some("object") => {}
        Some(other) => report.value(
            source,
            &at,
            format!(
                "tool parameters must be an object schema (`type = \"object\"`), not `{other}`"
            ),
        ),
        None => report.key(
            source,
            &path!["parameters"],
            "tool parameters need `type = \"object\"`",
        ),
    }
    if let Some(properties) = parameters.get("properties")
        && !properties.is_object()
    {
        report.value(
            source,
            &path!["parameters", "properties"],
            "`properties` must be a table of argument schemas",
        );
    }
    if let Some(required) = parameters.get("required").and_then(|r| r.as_array()) {
        let declared = parameters.get("properties").and_then(|p| p.as_object());
        for (i, name) in required.iter().enumerate() {
            let Some(name) = name.as_str() else { continue };
            if declared.is_none_or(|d| !d.contains_key(name)) {
                report.value(
                    source,
                    &path!["parameters", "required", i],
                    format!("required argument `{name}` is not declared in `properties`"),
                );
            }
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The document path of a JSON pointer inside the table at `key`: numbers index lists.
fn pointer_segments(doc: &crate::doc::Node, key: &str, pointer: &str) -> Vec<Seg> {
    let mut node = doc.get(&path![key]);
    let mut out = Vec::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        let seg = match (node.map(|n| &n.value), part.parse::<usize>()) {
            (Some(crate::doc::Value::Seq(_)), Ok(i)) => Seg::Index(i),
            _ => Seg::Key(part),
        };
        node = node.and_then(|n| n.get(std::slice::from_ref(&seg)));
        out.push(seg);
    }
    out
}
