//! Logging in to a console beyond this machine, only over a connection the session cookie can
//! travel back on (this machine, or https): with the console's token, or with the account of a
//! connection (`[console] accounts`) through the provider's consent page.

use std::time::Duration;

use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{Method, Response, StatusCode};

use super::responses::{html_page, see_other};
use super::sessions::{self, Login};
use super::{Console, html, views};
use crate::connections::{Connector, SIGN_IN_SUFFIX, callback_code};
use crate::status::Body;

/// The cookie that binds a sign-in to the browser that started it.
const SIGN_IN_COOKIE: &str = "clara_console_signin";

/// How long a started sign-in waits for the provider to send the browser back.
const SIGN_IN_SECS: u32 = 600;

/// A request to one of the login paths, with what deciding it needs.
pub(super) struct Door<'a> {
    /// The console is open to this request: nothing to log in to.
    pub open: bool,
    /// The request arrived over https, or on this machine.
    pub secure: bool,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub cookie: Option<&'a str>,
    /// The token posted to the login form.
    pub given: Option<&'a str>,
    /// The console's token, when set.
    pub token: Option<&'a str>,
    pub lifetime: Duration,
}

/// Whether `path` is the login's: the form, a sign-in's start, or its callback.
pub(super) fn is_login_path(path: &str) -> bool {
    path == "/console/login"
        || path.starts_with("/console/login/")
        || sign_in_callback(path).is_some()
}

/// Where connection `name`'s console sign-in returns to; the only path its cookie is sent on.
fn callback_path(name: &str) -> String {
    format!("/oauth/{name}/callback{SIGN_IN_SUFFIX}")
}

/// The connection whose console sign-in returns to `path` (see [`callback_path`]).
pub(super) fn sign_in_callback(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/oauth/")?;
    let name = rest.strip_suffix(&format!("/callback{SIGN_IN_SUFFIX}"))?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

impl Console {
    /// The login page and every way through it.
    pub(super) async fn login(&self, door: &Door<'_>) -> Response<Body> {
        if door.open {
            return see_other("/");
        }
        if !door.secure {
            let why = "Log in over https: the console is beyond this machine, and the token and the session cookie must not cross the network in the clear. Put a proxy that serves https in front (and set [status] public_url).";
            return self.login_page(StatusCode::FORBIDDEN, Some(why), door.token.is_some());
        }
        if let Some(name) = door.path.strip_prefix("/console/login/") {
            return self.sign_in_start(name, door.token.is_some());
        }
        if let Some(name) = sign_in_callback(door.path) {
            return self.sign_in_finish(name, door).await;
        }
        if *door.method == Method::GET {
            return self.login_page(StatusCode::OK, None, door.token.is_some());
        }
        match (door.given, door.token) {
            (Some(given), Some(token)) if sessions::same_secret(given, token) => {
                self.logged_in(Login::token(token), door.lifetime, see_other("/"))
            }
            _ => {
                tracing::warn!("a console login with a wrong token was refused");
                self.login_page(
                    StatusCode::UNAUTHORIZED,
                    Some("That token is not the console's."),
                    door.token.is_some(),
                )
            }
        }
    }

    /// The form for the token (when one is set) and a way in through each connection whose
    /// accounts may log in.
    fn login_page(&self, status: StatusCode, problem: Option<&str>, token: bool) -> Response<Body> {
        let generation = self.live.current();
        let connector = Connector::new(&generation.config, self.live.http_client().clone());
        let accounts = &generation.config.clara.value.console.accounts;
        let ways: Vec<(String, String)> = accounts
            .keys()
            .filter(|name| connector.is_available(name))
            .map(|name| (name.clone(), connector.title(name).to_owned()))
            .collect();
        html_page(
            status,
            "Log in",
            "",
            &views::login(problem, token, &ways),
            false,
            None,
        )
    }

    /// Sends the browser to `name`'s consent page, holding a cookie that only it can bring
    /// back to the callback.
    fn sign_in_start(&self, name: &str, token: bool) -> Response<Body> {
        let generation = self.live.current();
        if !generation
            .config
            .clara
            .value
            .console
            .accounts
            .contains_key(name)
        {
            return self.login_page(
                StatusCode::NOT_FOUND,
                Some("No accounts of that connection may log in."),
                token,
            );
        }
        let connector = Connector::new(&generation.config, self.live.http_client().clone());
        let browser = sessions::random_hex();
        let now = generation.services.clock.now();
        match connector.sign_in_url(name, &browser, now) {
            Ok(url) => {
                let mut response = see_other(&url);
                // Lax, not Strict: the provider's redirect back is a navigation from its site.
                let cookie = format!(
                    "{SIGN_IN_COOKIE}={browser}; Path={}; HttpOnly; SameSite=Lax; Secure; Max-Age={SIGN_IN_SECS}",
                    callback_path(name)
                );
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(SET_COOKIE, value);
                }
                response
            }
            Err(error) => self.login_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&error.to_string()),
                token,
            ),
        }
    }

    /// The provider sent the browser back: who is it, and may they in?
    async fn sign_in_finish(&self, name: &str, door: &Door<'_>) -> Response<Body> {
        let generation = self.live.current();
        let settings = &generation.config.clara.value.console;
        let token = door.token.is_some();
        let Some(browser) = door
            .cookie
            .and_then(|c| sessions::cookie(c, SIGN_IN_COOKIE))
        else {
            return self.login_page(
                StatusCode::BAD_REQUEST,
                Some("This login was started in another browser, or too long ago: start it again."),
                token,
            );
        };
        let (code, state) = match callback_code(door.query) {
            Ok(found) => found,
            Err(reason) => return self.login_page(StatusCode::UNAUTHORIZED, Some(&reason), token),
        };
        let connector = Connector::new(&generation.config, self.live.http_client().clone());
        let store = generation.services.store.as_ref();
        let now = generation.services.clock.now();
        let account = match connector
            .signed_in_account(store, name, &code, &state, browser, now)
            .await
        {
            Ok(account) => account,
            Err(error) => {
                tracing::warn!(connection = name, %error, "a console login through a connection failed");
                return self.login_page(StatusCode::UNAUTHORIZED, Some(&error.to_string()), token);
            }
        };
        if !settings.allows(name, &account) {
            tracing::warn!(
                connection = name,
                account,
                "a console login by an account not listed was refused"
            );
            let why = format!(
                "The {} account {account} may not use this console.",
                connector.title(name)
            );
            return self.login_page(StatusCode::FORBIDDEN, Some(&why), token);
        }
        tracing::info!(connection = name, account, "logged in to the console");
        // A page, not a redirect: the browser arrived from the provider's site, and a redirect
        // would carry on that cross-site navigation, which a same-site cookie is not sent on.
        let onward = html_page(
            StatusCode::OK,
            "Logged in",
            "",
            &format!(
                "<meta http-equiv=\"refresh\" content=\"0;url=/\"><h1>Logged in</h1><p>As {} on {}. <a href=\"/\">Open the console</a>.</p>",
                html::escape(&account),
                html::escape(connector.title(name))
            ),
            false,
            None,
        );
        let mut response = self.logged_in(
            Login::Account {
                connection: name.to_owned(),
                account,
            },
            door.lifetime,
            onward,
        );
        let spent = format!(
            "{SIGN_IN_COOKIE}=; Path={}; HttpOnly; SameSite=Lax; Secure; Max-Age=0",
            callback_path(name)
        );
        if let Ok(value) = HeaderValue::from_str(&spent) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        response
    }

    /// `response` with the cookie of a new session opened by `login`.
    fn logged_in(
        &self,
        login: Login,
        lifetime: Duration,
        mut response: Response<Body>,
    ) -> Response<Body> {
        let session = self.sessions.start(lifetime, login);
        if let Ok(value) = HeaderValue::from_str(&sessions::set_cookie(&session, lifetime)) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        response
    }
}
