//! `[connections.NAME]`: an OAuth 2.0 provider each user connects their own account to, so HTTP
//! tools can call its API as that user.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::yes;

/// An OAuth 2.0 provider (authorization code flow). It is live once the variable
/// `client_id_env` names is set; until then its tools say it is not set up.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// What users are told they connect (`Google`); the connection's name when unset.
    #[serde(default)]
    pub title: Option<String>,
    /// Where the user is sent to grant access.
    pub authorize_url: String,
    /// Where codes and refresh tokens are exchanged for access tokens.
    pub token_url: String,
    /// Where a token is revoked on disconnect (RFC 7009), when the provider has one.
    #[serde(default)]
    pub revoke_url: Option<String>,
    /// The environment variable holding the OAuth client id.
    pub client_id_env: String,
    /// The environment variable holding the client secret (none for a public client).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Scopes asked for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Send a PKCE challenge (S256) with the request.
    #[serde(default = "yes")]
    pub pkce: bool,
    /// More query parameters for the authorize URL (Google's `access_type = "offline"`).
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Where an access token tells whose account it is (GitHub's `/user`, Google's
    /// `userinfo`): what logging in to the console with this connection asks.
    #[serde(default)]
    pub account_url: Option<String>,
    /// The field of `account_url`'s JSON that names the account (`login`, `email`).
    #[serde(default = "default_account_field")]
    pub account_field: String,
    /// A field of `account_url`'s JSON that must be `true` for the account to count
    /// (Google's `email_verified`).
    #[serde(default)]
    pub account_verified_field: Option<String>,
    /// The scopes asked for when logging in to the console: only enough to read the account.
    #[serde(default)]
    pub account_scopes: Vec<String>,
}

fn default_account_field() -> String {
    "login".to_owned()
}

impl Connection {
    /// What users are told they connect.
    pub fn title<'a>(&'a self, name: &'a str) -> &'a str {
        self.title.as_deref().unwrap_or(name)
    }
}
