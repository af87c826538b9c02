//! The console: a web page on the status endpoint to watch and run clara, server-rendered,
//! with a few lines of script for live updates over server-sent events. On a loopback address
//! it is open; anywhere else every page asks for a login with `[console] token_env` first.
//! Every state-changing request needs the session's CSRF token.

mod admin_views;
mod html;
mod live_feed;
mod sessions;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};

use crate::live::Live;
use crate::status::{Body, Health, full};
use crate::telemetry::Telemetry;
use sessions::{Session, Sessions};

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
        path == "/" || path.starts_with("/console/")
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

        if path == "/console/login" {
            return self.login(
                open,
                secure,
                &method,
                field("token"),
                token.as_deref(),
                lifetime,
            );
        }
        let key = if open { None } else { token.as_deref() };
        let visitor = match self.sessions.find(cookie.as_deref(), key) {
            Some(session) => Visitor {
                session,
                new: false,
                logged_in: !open,
            },
            None if open => Visitor {
                session: self.sessions.start(lifetime, None),
                new: true,
                logged_in: false,
            },
            None if method == Method::GET && token.is_some() => return see_other("/console/login"),
            None if token.is_none() => {
                let why = format!(
                    "The console listens beyond this machine and needs a login: set {} to a long random token and restart clara.",
                    settings.token_env
                );
                return self.html(
                    StatusCode::FORBIDDEN,
                    "Login needed",
                    "",
                    &views::login(Some(&why)),
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
        let mut response = self
            .route(
                &method,
                &path,
                query.as_deref(),
                &form,
                &visitor,
                partial,
                settings.truncate_chars as usize,
            )
            .await;
        if visitor.new
            && let Ok(value) =
                HeaderValue::from_str(&sessions::set_cookie(&visitor.session, lifetime))
        {
            response.headers_mut().append(SET_COOKIE, value);
        }
        response
    }

    #[allow(clippy::too_many_arguments)]
    async fn route(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        form: &[(String, String)],
        visitor: &Visitor,
        partial: bool,
        limit: usize,
    ) -> Response<Body> {
        let telemetry = self.telemetry.as_deref();
        let param = |name: &str| query_param(query, name);
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let logout = visitor.logged_in.then_some(visitor.session.csrf.as_str());
        let page = |title: &str, active: &str, main: String, live: bool| {
            self.html(StatusCode::OK, title, active, &main, live, logout)
                .pipe_partial(partial, &main)
        };
        match (method.as_str(), path) {
            ("GET", "/") => page(
                "Overview",
                "/",
                views::overview(&self.live, &self.health, telemetry).await,
                true,
            ),
            ("GET", "/console/turns") => page(
                "Turns",
                "/console/turns",
                views::turns(telemetry, query),
                true,
            ),
            ("GET", "/console/events") => live_feed::events(telemetry),
            ("GET", p) if p.starts_with("/console/turns/") => {
                let id = p.trim_start_matches("/console/turns/");
                match views::turn(telemetry, id, param("full").is_some(), limit) {
                    Some(main) => page("Turn", "/console/turns", main, false),
                    None => self.html(StatusCode::NOT_FOUND, "Not found", "", "<h1>Not found</h1><p>No turn with that id is kept; the console keeps the last <code>[telemetry] keep_turns</code>.</p>", false, logout),
                }
            }
            ("GET", "/console/memory") => {
                let user = param("user");
                match views::memory(
                    &self.live,
                    user.as_deref(),
                    param("q").as_deref(),
                    &visitor.session.csrf,
                )
                .await
                {
                    Ok(main) => page("Memory", "/console/memory", main, false),
                    Err(error) => self.html(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Memory",
                        "/console/memory",
                        &format!("<p class=\"problems\">{}</p>", html::escape(&error)),
                        false,
                        logout,
                    ),
                }
            }
            ("POST", "/console/memory/forget") => {
                let (Some(id), Some(user)) = (field("id"), field("user")) else {
                    return text(StatusCode::BAD_REQUEST, "which memory?\n");
                };
                let store = self.live.current().services.store.clone();
                let now = chrono::Utc::now().timestamp_millis();
                match store.memory(id).await {
                    Ok(Some(memory)) if memory.user_id == user => {
                        if let Err(error) = store.delete_memory(id, now).await {
                            return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error}\n"));
                        }
                        tracing::info!(memory = id, user, "forgotten from the console");
                        see_other(&format!("/console/memory?user={}", html::query_value(user)))
                    }
                    Ok(_) => text(StatusCode::NOT_FOUND, "no such memory\n"),
                    Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error}\n")),
                }
            }
            ("GET", "/console/schedule") => page(
                "Schedule and hooks",
                "/console/schedule",
                admin_views::schedule(&self.live).await,
                false,
            ),
            ("GET", "/console/tools") => page(
                "Tools and MCP",
                "/console/tools",
                admin_views::tools(&self.live, &visitor.session.csrf),
                false,
            ),
            ("POST", "/console/mcp/restart") => {
                let name = field("name").unwrap_or_default();
                if !self.live.mcp().restart(name) {
                    return text(StatusCode::NOT_FOUND, "no such MCP server\n");
                }
                tracing::info!(server = name, "MCP server restarted from the console");
                see_other("/console/tools")
            }
            ("POST", "/console/logout") => {
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
            _ => self.html(
                StatusCode::NOT_FOUND,
                "Not found",
                "",
                "<h1>Not found</h1><p>The console has no such page.</p>",
                false,
                logout,
            ),
        }
    }

    /// The login page, and the login itself: only over a connection the session cookie can
    /// travel back on (this machine, or https), since the token would go in the clear.
    fn login(
        &self,
        open: bool,
        secure: bool,
        method: &Method,
        given: Option<&str>,
        token: Option<&str>,
        lifetime: Duration,
    ) -> Response<Body> {
        if open {
            return see_other("/");
        }
        if !secure {
            let why = "Log in over https: the console is beyond this machine, and the token and the session cookie must not cross the network in the clear. Put a proxy that serves https in front (and set [status] public_url).";
            return self.html(
                StatusCode::FORBIDDEN,
                "Log in",
                "",
                &views::login(Some(why)),
                false,
                None,
            );
        }
        if *method == Method::GET {
            return self.html(
                StatusCode::OK,
                "Log in",
                "",
                &views::login(None),
                false,
                None,
            );
        }
        match (given, token) {
            (Some(given), Some(token)) if sessions::same_secret(given, token) => {
                let session = self.sessions.start(lifetime, Some(token));
                let mut response = see_other("/");
                if let Ok(value) = HeaderValue::from_str(&sessions::set_cookie(&session, lifetime))
                {
                    response.headers_mut().append(SET_COOKIE, value);
                }
                response
            }
            _ => {
                tracing::warn!("a console login with a wrong token was refused");
                self.html(
                    StatusCode::UNAUTHORIZED,
                    "Log in",
                    "",
                    &views::login(Some("That token is not the console's.")),
                    false,
                    None,
                )
            }
        }
    }

    fn html(
        &self,
        status: StatusCode,
        title: &str,
        active: &str,
        main: &str,
        live: bool,
        logout: Option<&str>,
    ) -> Response<Body> {
        let mut response = Response::new(full(html::page(title, active, main, live, logout)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"),
        );
        headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
        response
    }
}

/// A live view fetched again by the page's script: only its `main`.
trait PartialResponse {
    fn pipe_partial(self, partial: bool, main: &str) -> Self;
}

impl PartialResponse for Response<Body> {
    fn pipe_partial(mut self, partial: bool, main: &str) -> Self {
        if partial {
            *self.body_mut() = full(main.to_owned());
        }
        self
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

fn asset(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(body.as_bytes())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(full(body.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn see_other(location: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
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

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
