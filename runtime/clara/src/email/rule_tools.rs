//! The built-in tools for a user's email rules: list the presets (`email/presets/`), apply
//! one, add a rule of their own, list and remove them. Rules are checked the way `clara
//! validate` checks presets before they are saved.

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::model::email_rule::{EmailRule, Importance, MatchMode};
use clara_core::engine::{Tool, ToolContext, ToolError};
use clara_core::llm::{BoxFuture, ToolSpec};
use clara_core::store::UserEmailRule;
use serde_json::{Value, json};

/// What each tool does.
#[derive(Clone, Copy)]
enum Action {
    ListPresets,
    ApplyPreset,
    AddRule,
    ListRules,
    RemoveRule,
}

struct RuleTool {
    spec: ToolSpec,
    action: Action,
    presets: Arc<BTreeMap<String, EmailRule>>,
}

/// The rule tools over `presets`.
pub fn rule_tools(presets: BTreeMap<String, EmailRule>) -> Vec<Arc<dyn Tool>> {
    let presets = Arc::new(presets);
    let names: Vec<&String> = presets.keys().collect();
    let texts =
        |what: &str| json!({"type": "array", "items": {"type": "string"}, "description": what});
    let tool = |action, name: &str, description: &str, parameters: Value| {
        Arc::new(RuleTool {
            spec: ToolSpec {
                name: name.to_owned(),
                description: description.to_owned(),
                parameters,
            },
            action,
            presets: presets.clone(),
        }) as Arc<dyn Tool>
    };
    vec![
        tool(
            Action::ListPresets,
            "email_list_presets",
            "Lists the ready-made email rules (presets) the user can apply, with what each catches.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            Action::ApplyPreset,
            "email_apply_preset",
            "Applies a preset: messages it catches in the user's watched inboxes alert them.",
            json!({"type": "object", "required": ["preset"], "properties": {
                "preset": {"type": "string", "enum": names, "description": "The preset."}}}),
        ),
        tool(
            Action::AddRule,
            "email_add_rule",
            "Adds (or replaces, by name) one of the user's own email rules: which messages alert them. Text conditions ignore case; a domain also matches its subdomains.",
            json!({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "description": "A short name, e.g. landlord."},
                "description": {"type": "string"},
                "sender_contains": texts("Text in the sender's address or name."),
                "sender_domain": texts("Sender domains, e.g. example.com."),
                "subject_contains": texts("Words or phrases in the subject."),
                "subject_regex": {"type": "string", "description": "A regular expression the subject matches; (?i) ignores case."},
                "body_contains": texts("Words or phrases at the start of the text."),
                "has_attachments": {"type": "boolean"},
                "match_mode": {"type": "string", "enum": ["any", "all"], "description": "any (default): one condition is enough; all: every condition given must hold."},
                "importance": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
                "priority": {"type": "integer", "description": "Higher rules are tried first (presets use 5 to 20; default 10)."},
                "custom_message": {"type": "string", "description": "A line added to this rule's alerts."},
                "ping": {"type": "boolean", "description": "Always (true) or never (false) mention the user for this rule, whatever their mention setting."}}}),
        ),
        tool(
            Action::ListRules,
            "email_list_rules",
            "Lists the user's email rules: the presets applied and their own.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            Action::RemoveRule,
            "email_remove_rule",
            "Removes one of the user's email rules (or an applied preset) by name.",
            json!({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}}}),
        ),
    ]
}

impl RuleTool {
    async fn run(&self, arguments: &Value, context: &ToolContext<'_>) -> Result<String, ToolError> {
        let store = context.store;
        let user = context.user_id;
        let failed = |e: clara_core::store::StoreError| ToolError(e.to_string());
        match self.action {
            Action::ListPresets => Ok(self
                .presets
                .iter()
                .map(|(name, rule)| {
                    format!(
                        "{name} ({}): {}",
                        rule.importance.as_str(),
                        rule.description
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")),
            Action::ApplyPreset => {
                let name = text(arguments, "preset")?;
                if !self.presets.contains_key(name) {
                    return Err(ToolError(format!(
                        "there is no preset `{name}`; the presets are {}",
                        self.presets.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
                let rule = UserEmailRule {
                    name: name.to_owned(),
                    preset: Some(name.to_owned()),
                    rule_json: None,
                    created_at: context.clock.now(),
                };
                store.save_email_rule(user, &rule).await.map_err(failed)?;
                Ok(format!("Applied the {name} preset."))
            }
            Action::AddRule => {
                let name = text(arguments, "name")?;
                let rule = rule_from(arguments)?;
                let problems: Vec<String> = rule
                    .problems()
                    .into_iter()
                    .map(|p| match p.condition {
                        Some(condition) => format!("{condition}: {}", p.message),
                        None => p.message,
                    })
                    .collect();
                if !problems.is_empty() {
                    return Err(ToolError(format!("not saved: {}", problems.join("; "))));
                }
                let rule_json = serde_json::to_string(&rule)
                    .map_err(|e| ToolError(format!("the rule could not be written: {e}")))?;
                let saved = UserEmailRule {
                    name: name.to_owned(),
                    preset: None,
                    rule_json: Some(rule_json),
                    created_at: context.clock.now(),
                };
                store.save_email_rule(user, &saved).await.map_err(failed)?;
                Ok(format!("Saved the rule `{name}`: {}.", describe(&rule)))
            }
            Action::ListRules => {
                let rules = store.email_rules(user).await.map_err(failed)?;
                if rules.is_empty() {
                    return Ok("No email rules yet: apply a preset or add a rule.".to_owned());
                }
                Ok(rules
                    .iter()
                    .map(|r| match (&r.preset, &r.rule_json) {
                        (Some(preset), _) => format!("{}: the {preset} preset", r.name),
                        (None, Some(json)) => match serde_json::from_str::<EmailRule>(json) {
                            Ok(rule) => format!("{}: {}", r.name, describe(&rule)),
                            Err(_) => format!("{}: (unreadable)", r.name),
                        },
                        (None, None) => r.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            Action::RemoveRule => {
                let name = text(arguments, "name")?;
                Ok(
                    if store.remove_email_rule(user, name).await.map_err(failed)? {
                        format!("Removed the rule `{name}`.")
                    } else {
                        format!("There is no rule `{name}`.")
                    },
                )
            }
        }
    }
}

impl Tool for RuleTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(arguments, context))
    }
}

fn text<'a>(arguments: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    arguments
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ToolError(format!("missing argument `{name}`")))
}

/// The rule the `email_add_rule` arguments describe (the engine has checked their types).
fn rule_from(arguments: &Value) -> Result<EmailRule, ToolError> {
    let mut rule: EmailRule = serde_json::from_value(json!({
        "description": arguments.get("description").cloned().unwrap_or(json!("")),
        "match_mode": arguments.get("match_mode").cloned().unwrap_or(json!("any")),
        "importance": arguments.get("importance").cloned().unwrap_or(json!("normal")),
        "priority": arguments.get("priority").cloned().unwrap_or(json!(10)),
    }))
    .map_err(|e| ToolError(format!("not saved: {e}")))?;
    let list = |key: &str| -> Vec<String> {
        arguments
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let c = &mut rule.conditions;
    c.sender_contains = list("sender_contains");
    c.sender_domain = list("sender_domain");
    c.subject_contains = list("subject_contains");
    c.body_contains = list("body_contains");
    c.subject_regex = arguments
        .get("subject_regex")
        .and_then(Value::as_str)
        .map(str::to_owned);
    c.has_attachments = arguments.get("has_attachments").and_then(Value::as_bool);
    rule.custom_message = arguments
        .get("custom_message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    rule.override_ping = arguments.get("ping").and_then(Value::as_bool);
    Ok(rule)
}

/// A rule in one line: its conditions and how they combine.
fn describe(rule: &EmailRule) -> String {
    let c = &rule.conditions;
    let mut parts = Vec::new();
    let mut add = |label: &str, items: &[String]| {
        if !items.is_empty() {
            parts.push(format!("{label} {}", items.join(" / ")));
        }
    };
    add("sender contains", &c.sender_contains);
    add("sender domain", &c.sender_domain);
    add("subject contains", &c.subject_contains);
    add("text contains", &c.body_contains);
    if let Some(pattern) = &c.subject_regex {
        parts.push(format!("subject matches /{pattern}/"));
    }
    if let Some(wanted) = c.has_attachments {
        parts.push(
            if wanted {
                "has attachments"
            } else {
                "has no attachments"
            }
            .to_owned(),
        );
    }
    let joiner = match rule.match_mode {
        MatchMode::Any => " or ",
        MatchMode::All => " and ",
    };
    let importance = match rule.importance {
        Importance::Normal => String::new(),
        other => format!(" ({})", other.as_str()),
    };
    format!("{}{importance}", parts.join(joiner))
}
