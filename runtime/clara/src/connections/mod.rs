//! Connections: users' own accounts at OAuth 2.0 providers (`[connections.NAME]`), connected
//! from the chat through a one-time link and the status endpoint's callback, their tokens
//! sealed in the store, and used by HTTP tools with `auth = { connection = "NAME" }`.

mod account_sign_in;
mod callback_query;
mod connector;
mod oauth_state;
mod pages;
mod secret_key;
mod token_endpoint;
mod token_set;
mod tools;

pub use account_sign_in::SIGN_IN_SUFFIX;
pub use callback_query::callback_code;
pub use connector::{ConnectError, Connector};
pub use oauth_state::pkce_challenge;
pub use oauth_state::{OAuthState, StateError};
pub use pages::OAuthPages;
pub use secret_key::SecretKey;
pub use token_endpoint::{TokenClient, form_body};
pub use token_set::TokenSet;
pub use tools::tools;
