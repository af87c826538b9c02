//! Matching a message against rules: the first rule (by priority) whose conditions hold wins,
//! and the match says which conditions held, for the alert.

use clara_config::model::email_rule::{EmailRule, Importance, MatchMode};

use super::mail_summary::MailSummary;

/// A rule that matched a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMatch {
    /// The rule's name (a preset's, or the one its user gave).
    pub rule: String,
    /// How important the message is.
    pub importance: Importance,
    /// Each condition that held, for people: `sender domain greenhouse.io`.
    pub matched: Vec<String>,
    /// The rule's line for the alert.
    pub custom_message: Option<String>,
    /// The rule's say on pinging.
    pub override_ping: Option<bool>,
}

/// The first of `rules` (highest priority first; ties in the given order) that `mail`
/// matches.
pub fn first_match<'a>(
    rules: impl IntoIterator<Item = (&'a str, &'a EmailRule)>,
    mail: &MailSummary,
) -> Option<RuleMatch> {
    let mut rules: Vec<(&str, &EmailRule)> = rules.into_iter().collect();
    rules.sort_by_key(|(_, rule)| std::cmp::Reverse(rule.priority));
    rules.into_iter().find_map(|(name, rule)| {
        let matched = matched_conditions(rule, mail)?;
        Some(RuleMatch {
            rule: name.to_owned(),
            importance: rule.importance,
            matched,
            custom_message: rule.custom_message.clone(),
            override_ping: rule.override_ping,
        })
    })
}

/// What of `rule` held for `mail`, when the rule matches as a whole.
fn matched_conditions(rule: &EmailRule, mail: &MailSummary) -> Option<Vec<String>> {
    let c = &rule.conditions;
    if c.is_empty() {
        return None;
    }
    // Per listed condition: what held, or nothing.
    let mut checks: Vec<Option<String>> = Vec::new();
    let sender = match &mail.from_name {
        Some(name) => format!("{} {name}", mail.from_address).to_lowercase(),
        None => mail.from_address.clone(),
    };
    if !c.sender_contains.is_empty() {
        checks.push(
            first_contained(&c.sender_contains, &sender)
                .map(|t| format!("sender contains \"{t}\"")),
        );
    }
    if !c.sender_domain.is_empty() {
        let domain = mail.from_domain();
        checks.push(
            c.sender_domain
                .iter()
                .find(|d| under_domain(domain, d))
                .map(|d| format!("sender domain {}", d.trim().to_lowercase())),
        );
    }
    if !c.subject_contains.is_empty() {
        let subject = mail.subject.to_lowercase();
        checks.push(
            first_contained(&c.subject_contains, &subject)
                .map(|t| format!("subject contains \"{t}\"")),
        );
    }
    if let Some(pattern) = &c.subject_regex {
        // `clara validate` and the rule tools refuse a bad pattern; one that slipped past
        // matches nothing.
        let held = regex::Regex::new(pattern).is_ok_and(|r| r.is_match(&mail.subject));
        checks.push(held.then(|| format!("subject matches /{pattern}/")));
    }
    if !c.body_contains.is_empty() {
        let body = mail.preview.to_lowercase();
        checks.push(
            first_contained(&c.body_contains, &body).map(|t| format!("text contains \"{t}\"")),
        );
    }
    if let Some(wanted) = c.has_attachments {
        let held = mail.has_attachments == wanted;
        checks.push(held.then(|| {
            if wanted {
                "has attachments"
            } else {
                "has no attachments"
            }
            .to_owned()
        }));
    }
    let matched: Vec<String> = match rule.match_mode {
        MatchMode::All if checks.iter().any(Option::is_none) => return None,
        _ => checks.into_iter().flatten().collect(),
    };
    (!matched.is_empty()).then_some(matched)
}

/// The first of `texts` found in `haystack` (already lower-cased), lower-cased.
fn first_contained(texts: &[String], haystack: &str) -> Option<String> {
    texts
        .iter()
        .map(|t| t.trim().to_lowercase())
        .find(|t| !t.is_empty() && haystack.contains(t.as_str()))
}

/// Whether `domain` is `wanted` or under it (`mail.greenhouse.io` is under `greenhouse.io`).
fn under_domain(domain: &str, wanted: &str) -> bool {
    let wanted = wanted.trim().trim_start_matches('@').to_lowercase();
    !wanted.is_empty()
        && (domain == wanted
            || domain
                .strip_suffix(&wanted)
                .is_some_and(|head| head.ends_with('.')))
}
