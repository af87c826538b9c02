//! MyPalClara's environment variables and where each one lives in clara's files. One table
//! serves both `clara init --from-env` (which writes the values into the files) and the loader's
//! warning when such a variable is set but the files say otherwise (clara reads key names from
//! the environment, never models, URLs or settings).

use serde_json::{Value, json};

use crate::doc::At;
use crate::env::Env;
use crate::problem::Problem;
use crate::set::ConfigSet;

/// How a variable's text becomes a config value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    /// Comma-separated.
    List,
    /// `LLM_PROVIDER`'s names: `openai` is the custom OpenAI-compatible endpoint.
    ChatProvider,
    /// `ROOK_PROVIDER`'s names: `openai` is OpenAI itself, `openai-custom` the custom endpoint.
    MemoryProvider,
}

/// One variable that maps to one value of `clara.toml`.
struct Setting {
    var: &'static str,
    path: &'static [&'static str],
    kind: Kind,
}

const fn setting(var: &'static str, path: &'static [&'static str], kind: Kind) -> Setting {
    Setting { var, path, kind }
}

/// MyPalClara's `<P>` prefixes and clara's provider names.
const PROVIDERS: [(&str, &str); 4] = [
    ("OPENROUTER", "openrouter"),
    ("NANOGPT", "nanogpt"),
    ("CUSTOM_OPENAI", "custom"),
    ("ANTHROPIC", "anthropic"),
];

#[rustfmt::skip]
const SETTINGS: &[Setting] = &[
    setting("LLM_PROVIDER", &["defaults", "provider"], Kind::ChatProvider),
    setting("CUSTOM_OPENAI_BASE_URL", &["providers", "custom", "base_url"], Kind::Text),
    setting("ANTHROPIC_BASE_URL", &["providers", "anthropic", "base_url"], Kind::Text),
    setting("OPENROUTER_SITE", &["providers", "openrouter", "headers", "HTTP-Referer"], Kind::Text),
    setting("OPENROUTER_TITLE", &["providers", "openrouter", "headers", "X-Title"], Kind::Text),
    setting("ROOK_PROVIDER", &["memory", "provider"], Kind::MemoryProvider),
    setting("MEM0_PROVIDER", &["memory", "provider"], Kind::MemoryProvider),
    setting("ROOK_MODEL", &["memory", "model"], Kind::Text),
    setting("DEFAULT_TIMEZONE", &["defaults", "timezone"], Kind::Text),
    setting("DEFAULT_PROJECT", &["memory", "default_project"], Kind::Text),
    setting("SESSION_IDLE_MINUTES", &["sessions", "idle_timeout_minutes"], Kind::Integer),
    setting("CARRYOVER_MESSAGE_COUNT", &["sessions", "snapshot_messages"], Kind::Integer),
    setting("DISCORD_ALLOWED_SERVERS", &["adapters", "discord", "allowed_servers"], Kind::List),
    setting("DISCORD_ALLOWED_CHANNELS", &["adapters", "discord", "allowed_channels"], Kind::List),
    setting("DISCORD_ALLOWED_ROLES", &["adapters", "discord", "allowed_roles"], Kind::List),
    setting("CLARA_FILES_DIR", &["files", "dir"], Kind::Text),
    setting("CLARA_MAX_FILE_SIZE", &["files", "max_file_bytes"], Kind::Integer),
];

/// The model variables, `<P>_MODEL` and `<P>_MODEL_HIGH/MID/LOW`, for every provider, with
/// their paths in `clara.toml`.
fn model_settings() -> impl Iterator<Item = (String, Vec<String>)> {
    PROVIDERS.iter().flat_map(|(prefix, name)| {
        let path = |tail: &[&str]| -> Vec<String> {
            ["providers", name]
                .iter()
                .chain(tail)
                .map(|s| (*s).to_owned())
                .collect()
        };
        let base = (format!("{prefix}_MODEL"), path(&["model"]));
        let tiers = ["HIGH", "MID", "LOW"].map(|tier| {
            let key = tier.to_ascii_lowercase();
            (format!("{prefix}_MODEL_{tier}"), path(&["models", &key]))
        });
        std::iter::once(base).chain(tiers)
    })
}

/// One value to set in a file of the root.
#[derive(Clone, Debug, PartialEq)]
pub struct Carried {
    /// The variable it comes from (or the variables, for a value several decide).
    pub from: String,
    /// The file, relative to the root.
    pub file: &'static str,
    /// Keys from the top of that file.
    pub path: Vec<String>,
    /// The value: a string, integer, boolean, or array of strings.
    pub value: Value,
}

/// What a MyPalClara `.env` becomes: values for clara's files, and what does not carry over.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversion {
    /// Values to set, in the order they should be applied.
    pub carried: Vec<Carried>,
    /// Variables that mean something in MyPalClara but have no place here, each with why.
    pub not_carried: Vec<(String, String)>,
}

fn carried(from: &str, path: &[&str], value: Value) -> Carried {
    Carried {
        from: from.to_owned(),
        file: "clara.toml",
        path: path.iter().map(|s| (*s).to_owned()).collect(),
        value,
    }
}

/// The clara values a MyPalClara environment stands for.
pub fn convert(env: &Env) -> Conversion {
    let mut out = Conversion::default();
    for s in SETTINGS {
        let Some(text) = env.get(s.var) else { continue };
        // MEM0_PROVIDER is only MyPalClara's fallback for ROOK_PROVIDER.
        if s.var == "MEM0_PROVIDER" && env.get("ROOK_PROVIDER").is_some() {
            continue;
        }
        // A URL carrying a user, password or query (a token, often) would put a secret in a
        // file, which clara never does.
        if s.var.ends_with("_BASE_URL") && carries_credentials(text) {
            let why = "the URL carries credentials; set `base_url` without them and the secret in a header (`headers_env`)";
            out.not_carried.push((s.var.to_owned(), why.to_owned()));
            continue;
        }
        match value_of(s.kind, text) {
            Some(value) => out.carried.push(carried(s.var, s.path, value)),
            None => out.not_carried.push((
                s.var.to_owned(),
                format!("`{text}` is not a value clara knows here"),
            )),
        }
    }
    for (var, path) in model_settings() {
        if let Some(text) = env.get(&var) {
            out.carried.push(Carried {
                from: var,
                file: "clara.toml",
                path,
                value: json!(text),
            });
        }
    }
    // MyPalClara's memory model defaulted to openrouter's `openai/gpt-4o-mini`; a model without
    // a provider keeps that pairing, since a model name belongs to its provider.
    if env.get("ROOK_MODEL").is_some()
        && env.get("ROOK_PROVIDER").is_none()
        && env.get("MEM0_PROVIDER").is_none()
    {
        out.carried.push(carried(
            "ROOK_MODEL",
            &["memory", "provider"],
            json!("openrouter"),
        ));
    }
    let discord = env.get("DISCORD_BOT_TOKEN").is_some();
    out.carried.push(carried(
        "DISCORD_BOT_TOKEN",
        &["adapters", "discord", "enabled"],
        json!(discord),
    ));
    if env.get("OPENAI_API_KEY").is_some() {
        out.carried.push(carried(
            "OPENAI_API_KEY",
            &["embeddings", "enabled"],
            json!(true),
        ));
    }
    if env.get("DATABASE_URL").is_some() {
        out.carried.push(carried(
            "DATABASE_URL",
            &["stores", "main", "type"],
            json!("postgres"),
        ));
        out.carried.push(carried(
            "DATABASE_URL",
            &["stores", "main", "url_env"],
            json!("DATABASE_URL"),
        ));
    }
    if env.get("CF_ACCESS_CLIENT_ID").is_some() && env.get("CF_ACCESS_CLIENT_SECRET").is_some() {
        for provider in ["custom", "anthropic"] {
            for (header, var) in [
                ("CF-Access-Client-Id", "CF_ACCESS_CLIENT_ID"),
                ("CF-Access-Client-Secret", "CF_ACCESS_CLIENT_SECRET"),
            ] {
                out.carried.push(carried(
                    "CF_ACCESS_CLIENT_ID",
                    &["providers", provider, "headers_env", header],
                    json!(var),
                ));
            }
        }
    }
    if let Some(tier) = env.get("MODEL_TIER") {
        match tier.to_ascii_lowercase().as_str() {
            tier @ ("high" | "mid" | "low") => out.carried.push(Carried {
                from: "MODEL_TIER".to_owned(),
                file: "personas/clara.toml",
                path: vec!["default_tier".to_owned()],
                value: json!(tier),
            }),
            _ => out.not_carried.push((
                "MODEL_TIER".to_owned(),
                "not one of high, mid, low".to_owned(),
            )),
        }
    }
    for (var, why) in NOT_CARRIED {
        if env.get(var).is_some() {
            out.not_carried.push(((*var).to_owned(), (*why).to_owned()));
        }
    }
    out
}

/// Variables MyPalClara reads that clara has no setting for, and what to do instead.
const NOT_CARRIED: &[(&str, &str)] = &[
    (
        "TOOL_CALL_MODE",
        "set `tool_call_mode` on the provider or the `llm_call` step",
    ),
    (
        "TOOL_API_KEY",
        "declare a provider for tool calls and name it as `tool_provider`",
    ),
    (
        "TOOL_BASE_URL",
        "declare a provider for tool calls and name it as `tool_provider`",
    ),
    (
        "ROOK_API_KEY",
        "memory uses its provider's key; declare a provider for it",
    ),
    (
        "ROOK_BASE_URL",
        "memory uses its provider's URL; declare a provider for it",
    ),
    (
        "ROOK_DATABASE_URL",
        "memories live in the store with everything else",
    ),
    (
        "DISCORD_STOP_PHRASES",
        "set `stop_phrases` on the `ingest` step of pipelines/chat.toml",
    ),
    (
        "QDRANT_URL",
        "memories live in the store (SQLite, or Postgres with pgvector)",
    ),
    (
        "AUTO_TIER_SELECTION",
        "the `classify_tier` step's `classifier` in pipelines/chat.toml",
    ),
];

/// Whether a URL holds a user, a password or a query.
pub(crate) fn carries_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.contains('@') || url.contains('?')
}

fn value_of(kind: Kind, text: &str) -> Option<Value> {
    let name = text.trim().to_ascii_lowercase();
    match kind {
        Kind::Text => Some(json!(text)),
        Kind::Integer => text.trim().parse::<u64>().ok().map(|n| json!(n)),
        Kind::List => Some(json!(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        )),
        Kind::ChatProvider => match name.as_str() {
            "openrouter" | "nanogpt" | "anthropic" | "custom" => Some(json!(name)),
            "openai" => Some(json!("custom")),
            _ => None,
        },
        Kind::MemoryProvider => match name.as_str() {
            "openrouter" | "nanogpt" | "anthropic" | "openai" | "custom" => Some(json!(name)),
            "openai-custom" => Some(json!("custom")),
            _ => None,
        },
    }
}

/// MyPalClara variables set in the environment whose value differs from what the files say:
/// clara does not read them, so they would otherwise be ignored without a word.
pub(crate) fn unread(set: &ConfigSet) -> Vec<Problem> {
    let config = serde_json::to_value(&set.clara.value).unwrap_or(Value::Null);
    let conversion = convert(&set.env);
    let mut out = Vec::new();
    for item in conversion.carried.iter().filter(|c| c.file == "clara.toml") {
        // Only variables a person sets on purpose: presence-only ones (a key) are read as keys.
        let deliberate = SETTINGS.iter().any(|s| s.var == item.from)
            || model_settings().any(|(var, _)| var == item.from);
        if !deliberate || item.from == "MEM0_PROVIDER" {
            continue;
        }
        let current = item.path.iter().try_fold(&config, |v, key| v.get(key));
        if current != Some(&item.value) {
            out.push(Problem {
                file: "clara.toml".to_owned(),
                at: Some(At::Env(item.from.as_str().into())),
                message: format!(
                    "set as for MyPalClara, but clara reads `{}` in clara.toml instead (`clara init --from-env FILE` carries such settings over)",
                    item.path.join(".")
                ),
            });
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn a_base_url_with_credentials_is_not_written_into_a_file() {
        let conversion = convert(&env(&[
            ("ANTHROPIC_BASE_URL", "https://user:secret@proxy.example/v1"),
            (
                "CUSTOM_OPENAI_BASE_URL",
                "https://api.example/v1?key=secret",
            ),
        ]));
        let text = format!("{conversion:?}");
        assert!(
            !text.contains("user:secret") && !text.contains("key=secret"),
            "{text}"
        );
        let skipped: Vec<&str> = conversion
            .not_carried
            .iter()
            .map(|(v, _)| v.as_str())
            .collect();
        assert_eq!(skipped, ["CUSTOM_OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"]);
    }

    #[test]
    fn llm_provider_takes_mypalclaras_names_and_claras() {
        for (given, name) in [
            ("openai", "custom"),
            ("custom", "custom"),
            ("Anthropic", "anthropic"),
        ] {
            let conversion = convert(&env(&[("LLM_PROVIDER", given)]));
            assert_eq!(conversion.carried[0].value, json!(name), "{given}");
        }
        let conversion = convert(&env(&[("LLM_PROVIDER", "gemini")]));
        assert_eq!(conversion.not_carried[0].0, "LLM_PROVIDER");
    }
}
