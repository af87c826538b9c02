//! Which view or action answers each console path, once the visitor is past the login.

use hyper::{Method, Response, StatusCode};

use super::responses::{PartialResponse, html_page, not_found, text};
use super::{Console, Visitor, actions, admin_views, channels, config_view, conversations};
use super::{html, live_feed, views};
use crate::status::Body;

/// One request past the login, as the routes see it.
pub(super) struct Ask<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub form: &'a [(String, String)],
    pub visitor: &'a Visitor,
    /// Only the view's `main` is wanted (a live page refreshing itself).
    pub partial: bool,
    /// `[console] truncate_chars`.
    pub limit: usize,
}

impl Ask<'_> {
    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A posted form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The rest of the path after `prefix`, decoded as [`html::query_value`] encodes it.
    fn id_after(&self, prefix: &str) -> Option<String> {
        let rest = self.path.strip_prefix(prefix)?;
        let decoded: String = url::form_urlencoded::parse(format!("id={rest}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        (!decoded.is_empty() && !decoded.contains('/')).then_some(decoded)
    }

    /// The session's CSRF token, which every form carries.
    pub fn csrf(&self) -> &str {
        &self.visitor.session.csrf
    }

    /// What the logout button carries, when the visitor logged in.
    pub fn logout(&self) -> Option<&str> {
        self.visitor.logged_in.then_some(self.csrf())
    }

    /// `main` as a whole page (or alone, for a live page refreshing itself).
    fn page(&self, title: &str, active: &str, main: String, live: bool) -> Response<Body> {
        html_page(StatusCode::OK, title, active, &main, live, self.logout())
            .pipe_partial(self.partial, &main)
    }

    /// A view that could not be read from the store.
    fn failed(&self, title: &str, active: &str, error: &str) -> Response<Body> {
        html_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            title,
            active,
            &format!("<p class=\"problems\">{}</p>", html::escape(error)),
            false,
            self.logout(),
        )
    }
}

impl Console {
    /// Answers `ask` with its view or action.
    pub(super) async fn route(&self, ask: &Ask<'_>) -> Response<Body> {
        let telemetry = self.telemetry.as_deref();
        let live = &self.live;
        if *ask.method == Method::POST {
            return actions::act(live, ask).await;
        }
        match ask.path {
            "/" => ask.page(
                "Overview",
                "/",
                views::overview(live, &self.health, telemetry).await,
                true,
            ),
            "/console/turns" => ask.page(
                "Turns",
                "/console/turns",
                views::turns(telemetry, ask.query),
                true,
            ),
            "/console/events" => live_feed::events(telemetry),
            p if p.starts_with("/console/turns/") => {
                let id = ask.id_after("/console/turns/").unwrap_or_default();
                match views::turn(telemetry, &id, ask.param("full").is_some(), ask.limit) {
                    Some(main) => ask.page("Turn", "/console/turns", main, false),
                    None => not_found(
                        "No turn with that id is kept; the console keeps the last [telemetry] keep_turns.",
                        ask.logout(),
                    ),
                }
            }
            "/console/conversations" => {
                match conversations::sessions(live, ask.param("user").as_deref()).await {
                    Ok(main) => ask.page("Conversations", "/console/conversations", main, true),
                    Err(error) => ask.failed("Conversations", "/console/conversations", &error),
                }
            }
            p if p.starts_with("/console/conversations/") => {
                let id = ask.id_after("/console/conversations/").unwrap_or_default();
                let full = ask.param("full").is_some();
                match conversations::session(live, &id, full, ask.limit).await {
                    Ok(Some(main)) => ask.page("Session", "/console/conversations", main, true),
                    Ok(None) => not_found("No session has that id.", ask.logout()),
                    Err(error) => ask.failed("Session", "/console/conversations", &error),
                }
            }
            "/console/memory" => {
                let user = ask.param("user");
                let search = ask.param("q");
                match views::memory(live, user.as_deref(), search.as_deref(), ask.csrf()).await {
                    Ok(main) => ask.page("Memory", "/console/memory", main, false),
                    Err(error) => ask.failed("Memory", "/console/memory", &error),
                }
            }
            p if p.starts_with("/console/memory/") => {
                let id = ask.id_after("/console/memory/").unwrap_or_default();
                match conversations::memory_history(live, &id).await {
                    Ok(Some(main)) => ask.page("Memory", "/console/memory", main, false),
                    Ok(None) => not_found("No memory has that id.", ask.logout()),
                    Err(error) => ask.failed("Memory", "/console/memory", &error),
                }
            }
            "/console/channels" => match channels::channels(live, ask.csrf()).await {
                Ok(main) => ask.page("Channels", "/console/channels", main, false),
                Err(error) => ask.failed("Channels", "/console/channels", &error),
            },
            "/console/schedule" => ask.page(
                "Schedule and hooks",
                "/console/schedule",
                admin_views::schedule(live).await,
                false,
            ),
            "/console/tools" => ask.page(
                "Tools and MCP",
                "/console/tools",
                admin_views::tools(live, ask.csrf()),
                false,
            ),
            "/console/config" => ask.page(
                "Configuration",
                "/console/config",
                config_view::config(live, ask.csrf()).await,
                false,
            ),
            _ => not_found("The console has no such page.", ask.logout()),
        }
    }
}

/// A POST the console does not know.
pub(super) fn no_such_action() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "no such action\n")
}
