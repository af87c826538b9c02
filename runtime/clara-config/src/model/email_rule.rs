//! Email rules: what makes a message worth an alert. A preset is one rule in a file
//! (`email/presets/NAME.toml`); users add their own rules of the same shape in chat. The shape
//! is MyPalClara's, so its rules carry over.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::regex_problem;

/// One rule: conditions on a message, how they combine, and how important a match is.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct EmailRule {
    /// What the rule is for, shown in `email_list_presets` and in alerts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What a message must show; empty lists are not checked.
    #[serde(default)]
    pub conditions: EmailConditions,
    /// `any`: one listed condition is enough; `all`: every listed condition must match.
    #[serde(default)]
    pub match_mode: MatchMode,
    /// How important a matching message is, shown in the alert.
    #[serde(default)]
    pub importance: Importance,
    /// Rules are tried from the highest priority down; the first match wins.
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// A line added to the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_message: Option<String>,
    /// Ping the user for a match (`true`) or never (`false`) whatever their ping setting;
    /// unset follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_ping: Option<bool>,
}

/// What a message must show. Text conditions ignore case.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct EmailConditions {
    /// Text found in the sender's address or name (`recruit`, `noreply@bank`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender_contains: Vec<String>,
    /// The sender's domain, or a domain it is under (`greenhouse.io` matches
    /// `mail.greenhouse.io`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender_domain: Vec<String>,
    /// Words or phrases in the subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_contains: Vec<String>,
    /// A regular expression the subject matches (case-sensitive unless it starts with `(?i)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_regex: Option<String>,
    /// Words or phrases in the start of the body (its preview).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_contains: Vec<String>,
    /// Whether the message has attachments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_attachments: Option<bool>,
}

impl EmailConditions {
    /// Whether no condition is listed: such a rule matches nothing.
    pub fn is_empty(&self) -> bool {
        self.sender_contains.is_empty()
            && self.sender_domain.is_empty()
            && self.subject_contains.is_empty()
            && self.subject_regex.is_none()
            && self.body_contains.is_empty()
            && self.has_attachments.is_none()
    }
}

/// How a rule's conditions combine.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// One listed condition is enough.
    #[default]
    Any,
    /// Every listed condition must match.
    All,
}

/// How important a matching message is.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    /// Worth a mention.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Worth reading soon.
    High,
    /// Worth reading now.
    Urgent,
}

impl Importance {
    /// The name as written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Importance::Low => "low",
            Importance::Normal => "normal",
            Importance::High => "high",
            Importance::Urgent => "urgent",
        }
    }
}

fn default_priority() -> i32 {
    10
}

/// A mistake in a rule: the condition it is in (`None` for the rule as a whole) and what is
/// wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleProblem {
    /// The condition's key under `conditions`.
    pub condition: Option<&'static str>,
    /// What is wrong, for people.
    pub message: String,
}

impl EmailRule {
    /// What is wrong with the rule, for `clara validate` and for rules added in chat alike.
    pub fn problems(&self) -> Vec<RuleProblem> {
        let mut problems = Vec::new();
        let c = &self.conditions;
        if c.is_empty() {
            problems.push(RuleProblem {
                condition: None,
                message: "a rule without conditions matches nothing: list at least one under `conditions` (sender_contains, sender_domain, subject_contains, subject_regex, body_contains, has_attachments)".to_owned(),
            });
        }
        let lists = [
            ("sender_contains", &c.sender_contains),
            ("sender_domain", &c.sender_domain),
            ("subject_contains", &c.subject_contains),
            ("body_contains", &c.body_contains),
        ];
        for (condition, texts) in lists {
            if texts.iter().any(|t| t.trim().is_empty()) {
                problems.push(RuleProblem {
                    condition: Some(condition),
                    message: "an empty text would match every message: remove it".to_owned(),
                });
            }
        }
        if let Some(message) = c.subject_regex.as_deref().and_then(regex_problem) {
            problems.push(RuleProblem {
                condition: Some("subject_regex"),
                message,
            });
        }
        problems
    }
}
