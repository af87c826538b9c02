//! The console: a web page on the status endpoint to watch and run clara, server-rendered,
//! with a few lines of script for live updates over server-sent events. On a loopback address
//! it is open; anywhere else every page asks for a login first, with `[console] token_env` or
//! as one of `[console] accounts`.
//! Every state-changing request needs the session's CSRF token.

mod actions;
mod admin_views;
mod channels;
mod config_view;
mod conversations;
mod html;
mod live_feed;
mod login;
mod responses;
mod routes;
mod sessions;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{COOKIE, HeaderValue, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};

use crate::live::Live;
use crate::status::{Body, Health};
use crate::telemetry::Telemetry;
use login::Door;
use responses::{asset, html_page, see_other, text};
use routes::Ask;
use sessions::{Login, Session, Sessions};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The most a posted form may hold.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The console of one running clara.
pub struct Console {
    live: Arc<Live>,
    health: Arc<Health>,
    telemetry: Option<Arc<Telemetry>>,
    /// Whether the endpoint listens on loopback only: then a request made on this machine
    /// (see [`local_request`]) needs no login.
    loopback: bool,
    sessions: Sessions,
}

/// Who is asking, once past the login.
struct Visitor {
    session: Session,
    /// A session made for this request (open console, first visit): its cookie goes out.
    new: bool,
    logged_in: bool,
}

impl Console {
    /// The console of `live`, on an endpoint bound to `bind`: open on a loopback address,
    /// behind a login anywhere else (a name such as `localhost` counts as anywhere else).
    pub fn new(
        live: Arc<Live>,
        health: Arc<Health>,
        telemetry: Option<Arc<Telemetry>>,
        bind: &str,
    ) -> Console {
        let loopback = bind
            .parse::<SocketAddr>()
            .is_ok_and(|addr| addr.ip().is_loopback());
        Console {
            live,
            health,
            telemetry,
            loopback,
            sessions: Sessions::default(),
        }
    }

    /// Whether `path` is the console's.
    pub fn serves(path: &str) -> bool {
        path == "/" || path.starts_with("/console/") || login::sign_in_callback(path).is_some()
    }

    /// Answers a request for one of the console's paths.
    pub async fn respond(&self, request: Request<Incoming>) -> Response<Body> {
        let generation = self.live.current();
        let settings = generation.config.clara.value.console.clone();
        let path = request.uri().path().to_owned();
        if !settings.enabled {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        match path.as_str() {
            "/console/assets/console.css" => return asset(CSS, "text/css; charset=utf-8"),
            "/console/assets/console.js" => return asset(JS, "text/javascript; charset=utf-8"),
            _ => {}
        }
        let method = request.method().clone();
        if method != Method::GET && method != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        }
        let lifetime = Duration::from_secs(u64::from(settings.session_hours) * 3600);
        let token = generation
            .config
            .env
            .get(&settings.token_env)
            .map(str::to_owned);
        let cookie = request
            .headers()
            .get(COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let partial = request.headers().contains_key("x-console-partial");
        // Open only to a browser on this machine: not through a proxy in front (`public_url`,
        // forwarding headers), and not to a page whose name was rebound to 127.0.0.1.
        let open = self.loopback
            && generation.config.clara.value.status.public_url.is_none()
            && local_request(request.headers());
        let secure = local_request(request.headers())
            || forwarded_https(request.headers())
            || generation
                .config
                .clara
                .value
                .status
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
        let query = request.uri().query().map(str::to_owned);
        let form = if method == Method::POST {
            match read_form(request.into_body()).await {
                Some(form) => form,
                None => return text(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large\n"),
            }
        } else {
            Vec::new()
        };
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };

        if login::is_login_path(&path) {
            let door = Door {
                open,
                secure,
                method: &method,
                path: &path,
                query: query.as_deref(),
                cookie: cookie.as_deref(),
                given: field("token"),
                token: token.as_deref(),
                lifetime,
            };
            return self.login(&door).await;
        }
        let holds = |login: &Login| match login {
            Login::Open => open,
            Login::Token(_) => !open && token.as_deref().is_some_and(|t| login.is_token(t)),
            Login::Account {
                connection,
                account,
            } => !open && settings.allows(connection, account),
        };
        let visitor = match self.sessions.find(cookie.as_deref(), holds) {
            Some(session) => Visitor {
                session,
                new: false,
                logged_in: !open,
            },
            None if open => Visitor {
                session: self.sessions.start(lifetime, Login::Open),
                new: true,
                logged_in: false,
            },
            None if method == Method::GET && (token.is_some() || !settings.accounts.is_empty()) => {
                return see_other("/console/login");
            }
            None if token.is_none() && settings.accounts.is_empty() => {
                let why = format!(
                    "The console listens beyond this machine and needs a login: set {} to a long random token and restart clara, or list [console] accounts.",
                    settings.token_env
                );
                return html_page(
                    StatusCode::FORBIDDEN,
                    "Login needed",
                    "",
                    &views::login(Some(&why), false, &[]),
                    false,
                    None,
                );
            }
            None => return text(StatusCode::FORBIDDEN, "log in first\n"),
        };
        if method == Method::POST
            && field("csrf")
                .is_none_or(|given| !sessions::same_secret(given, &visitor.session.csrf))
        {
            return text(
                StatusCode::FORBIDDEN,
                "this form has expired: reload the page and try again\n",
            );
        }
        if method == Method::POST && path == "/console/logout" {
            return self.logout(&visitor);
        }
        let ask = Ask {
            method: &method,
            path: &path,
            query: query.as_deref(),
            form: &form,
            visitor: &visitor,
            partial,
            limit: settings.truncate_chars as usize,
        };
        let mut response = self.route(&ask).await;
        if visitor.new
            && let Ok(value) =
                HeaderValue::from_str(&sessions::set_cookie(&visitor.session, lifetime))
        {
            response.headers_mut().append(SET_COOKIE, value);
        }
        response
    }

    /// Ends the visitor's session and forgets its cookie.
    fn logout(&self, visitor: &Visitor) -> Response<Body> {
        self.sessions.end(&visitor.session.id);
        let mut response = see_other(if visitor.logged_in {
            "/console/login"
        } else {
            "/"
        });
        if let Ok(value) = HeaderValue::from_str(&sessions::clear_cookie()) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        response
    }
}

/// Whether a request was made on this machine: its `Host` names a loopback address or
/// `localhost`, and no proxy forwarded it.
pub(crate) fn local_request(headers: &hyper::HeaderMap) -> bool {
    let forwarded = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
    ]
    .iter()
    .any(|h| headers.contains_key(*h));
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let local = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    local && !forwarded
}

/// Whether a proxy in front says the browser reached it over https.
fn forwarded_https(headers: &hyper::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

async fn read_form(body: Incoming) -> Option<Vec<(String, String)>> {
    let limited = http_body_util::Limited::new(body, MAX_FORM_BYTES);
    let collected = limited.collect().await.ok()?;
    Some(
        url::form_urlencoded::parse(&collected.to_bytes())
            .into_owned()
            .collect(),
    )
}
