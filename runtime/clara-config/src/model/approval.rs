//! Tool approvals: a call that waits for a person's yes before it runs, who may give it, and
//! how long clara waits (no answer is a no).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When a tool call needs a person's approval.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// It runs without asking.
    #[default]
    Never,
    /// The first call of the tool for each user is asked about; once approved, never again.
    FirstUse,
    /// Every call is asked about.
    Always,
}

impl ApprovalMode {
    /// The mode as written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Never => "never",
            ApprovalMode::FirstUse => "first_use",
            ApprovalMode::Always => "always",
        }
    }
}

/// Who may approve: `requester` (whoever sent the message), `admins`, or a user id.
pub fn default_approvers() -> Vec<String> {
    vec!["admins".to_owned()]
}

/// Seconds to wait for an answer before the call is denied.
pub fn default_approval_timeout_secs() -> u32 {
    120
}

/// Whether a person may decide under `approvers`: the requester when listed, an admin when
/// `admins` is, or a user listed by id.
pub fn may_decide(approvers: &[String], requester: &str, user_id: &str, is_admin: bool) -> bool {
    approvers.iter().any(|a| match a.as_str() {
        "requester" => user_id == requester,
        "admins" => is_admin,
        id => id == user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_people_decide() {
        let admins = default_approvers();
        assert!(may_decide(&admins, "ann", "root", true));
        assert!(
            !may_decide(&admins, "ann", "ann", false),
            "not their own call"
        );
        let own = vec!["requester".to_owned(), "discord-7".to_owned()];
        assert!(may_decide(&own, "ann", "ann", false));
        assert!(may_decide(&own, "ann", "discord-7", false));
        assert!(
            !may_decide(&own, "ann", "root", true),
            "admins are not listed"
        );
    }
}
