//! `[console]`: the web page `clara run` serves on its status endpoint to watch and run clara.
//! Open on a loopback address; anywhere else it asks for a token first.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::yes;

/// The console's settings; all of them apply without a restart.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console at `/` of the status endpoint.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The variable holding the token that logs in. Needed when the status endpoint listens
    /// beyond loopback (then everyone must log in); on 127.0.0.1 the console is open.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// How long a login lasts, in hours.
    #[serde(default = "default_session_hours")]
    #[schemars(range(min = 1, max = 720))]
    pub session_hours: u32,
    /// Longer texts (tool results, span attributes) are cut to this many characters in a
    /// view, with a link to the whole.
    #[serde(default = "default_truncate_chars")]
    #[schemars(range(min = 80, max = 1000000))]
    pub truncate_chars: u32,
    /// Accounts that may log in through a connection, by connection name: `github =
    /// ["your-login"]`, `google = ["you@example.com"]`. The connection needs `account_url`;
    /// its provider must accept `{public_url}/oauth/NAME/callback/console` as a redirect.
    #[serde(default)]
    pub accounts: BTreeMap<String, Vec<String>>,
}

impl ConsoleConfig {
    /// Whether `account` of connection `connection` may log in (names compare without regard
    /// to case, as GitHub logins and email addresses do).
    pub fn allows(&self, connection: &str, account: &str) -> bool {
        self.accounts.get(connection).is_some_and(|listed| {
            listed
                .iter()
                .any(|a| !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(account.trim()))
        })
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token_env: default_token_env(),
            session_hours: default_session_hours(),
            truncate_chars: default_truncate_chars(),
            accounts: BTreeMap::new(),
        }
    }
}

fn default_token_env() -> String {
    "CLARA_CONSOLE_TOKEN".to_owned()
}
fn default_session_hours() -> u32 {
    12
}
fn default_truncate_chars() -> u32 {
    2000
}
