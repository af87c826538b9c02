//! The HTTP server behind the status endpoint: listening, routing `/health`, `/metrics` and the
//! OAuth pages, and stopping cleanly.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::health::Health;
use super::metrics::Metrics;
use crate::console::Console;
use crate::telemetry::{Telemetry, TurnFilter};
use crate::web_page::{Page, PageRequest, PageSource};

/// A response body: whole, or (for the console's live updates) streamed.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// How long connections get to finish their requests once the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A client that opens a connection and sends nothing is dropped after this long.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a connection stays open, requests or not: idle keep-alive connections cannot
/// pile up (a scraper simply reconnects).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// Wait after a failed `accept` (out of file descriptors, say) before trying again, rather than
/// spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the status endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The address could not be bound (in use, not local, not an address).
    #[error(
        "cannot listen on {address} for the status endpoint: {source}; choose another address with `bind` under [status] in clara.toml (or CLARA_STATUS__BIND), or `enabled = false` there"
    )]
    Bind {
        /// The configured `[status] bind`.
        address: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The running status endpoint. Dropping it stops it too, without waiting.
pub struct StatusServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl StatusServer {
    /// The address it listens on (the real port when the configured one was `0`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open requests finish for up to a second, then closes everything.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await
            && error.is_panic()
        {
            tracing::error!(%error, "the status endpoint panicked");
        }
    }
}

/// Serves `/health` and `/metrics` on `bind` (`host:port`) in a background task, at most
/// `max_connections` at once.
pub async fn serve(
    bind: &str,
    max_connections: u32,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    pages: Vec<Arc<dyn PageSource>>,
    telemetry: Option<Arc<Telemetry>>,
    console: Option<Arc<Console>>,
) -> Result<StatusServer, StatusError> {
    let bind_error = |source| StatusError::Bind {
        address: bind.to_owned(),
        source,
    };
    let listener = TcpListener::bind(bind).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "the status endpoint listens on {addr}, reachable from other machines, and has no authentication: bind it to 127.0.0.1 or put it behind a proxy that checks who asks"
        );
    }
    let (stop, stopped) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(max_connections.max(1) as usize));
    let routes = Routes {
        health,
        metrics,
        pages,
        telemetry,
        console,
        loopback: addr.ip().is_loopback(),
    };
    let task = tokio::spawn(accept(listener, routes, slots, stopped));
    tracing::info!("status endpoint on http://{addr} (/health, /metrics)");
    Ok(StatusServer { addr, stop, task })
}

#[derive(Clone)]
struct Routes {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    /// The pages people open from chat links, when the endpoint serves a running clara.
    pages: Vec<Arc<dyn PageSource>>,
    /// The last turns (`/turns`) and what trace export did (`/metrics`).
    telemetry: Option<Arc<Telemetry>>,
    /// The console at `/`, when this endpoint serves a running clara.
    console: Option<Arc<Console>>,
    /// Whether it listens on loopback only: `/turns` (which names users and, with
    /// `capture_content`, holds what they said) is served only then, and only to requests
    /// made on this machine.
    loopback: bool,
}

async fn accept(
    listener: TcpListener,
    routes: Routes,
    slots: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        // A free slot first: at the cap, new connections wait in the kernel's listen queue
        // instead of taking file descriptors clara needs for its turns.
        let slot = tokio::select! {
            _ = until_stopped(&mut stopped) => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        tokio::select! {
            _ = until_stopped(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let serving = connection(stream, routes.clone(), stopped.clone());
                    connections.spawn(async move {
                        let _slot = slot;
                        let _ = tokio::time::timeout(CONNECTION_LIFETIME, serving).await;
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "the status endpoint could not accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reaps finished connections so the set does not grow with every request.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

async fn connection(stream: TcpStream, routes: Routes, mut stopped: watch::Receiver<bool>) {
    let service = service_fn(move |request| {
        let routes = routes.clone();
        async move { Ok::<_, Infallible>(respond(request, &routes).await) }
    });
    let serving = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(serving);
    let result = tokio::select! {
        result = serving.as_mut() => result,
        _ = until_stopped(&mut stopped) => {
            serving.as_mut().graceful_shutdown();
            serving.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "status endpoint connection ended with an error");
    }
}

/// Resolves once the server is told to stop, or its handle is gone.
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn respond(request: Request<Incoming>, routes: &Routes) -> Response<Body> {
    let path = request.uri().path().to_owned();
    if let Some(console) = routes.console.as_ref().filter(|_| Console::serves(&path)) {
        return console.respond(request).await;
    }
    if let Some(source) = routes.pages.iter().find(|s| path.starts_with(s.prefix())) {
        return browser_page(request, source.as_ref()).await;
    }
    let path = path.as_str();
    let turns = path == "/turns" || path.starts_with("/turns/");
    if path != "/health" && path != "/metrics" && !turns {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    // hyper leaves the body out of a HEAD response itself and keeps its Content-Length, so
    // HEAD is answered exactly like GET.
    if turns && !(routes.loopback && crate::console::local_request(request.headers())) {
        return plain(
            StatusCode::FORBIDDEN,
            "/turns is served only to this machine, on a loopback bind; elsewhere the console shows turns after a login\n",
        );
    }
    let (status, content_type, body) = if turns {
        match turn_json(path, request.uri().query(), routes.telemetry.as_deref()) {
            Some(json) => (
                StatusCode::OK,
                "application/json",
                json.to_string().into_bytes(),
            ),
            None => return plain(StatusCode::NOT_FOUND, "no such turn\n"),
        }
    } else if path == "/health" {
        let report = routes.health.snapshot();
        let status =
            StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let body = serde_json::to_vec(&report).unwrap_or_default();
        (status, "application/json", body)
    } else {
        let traces = routes.telemetry.as_deref().map(Telemetry::counts);
        let body = routes.metrics.render(&routes.health, traces).into_bytes();
        (StatusCode::OK, METRICS_CONTENT_TYPE, body)
    };
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/turns` (the last turns, newest first, narrowed by the query) or `/turns/{id}` (one turn's
/// timeline); `None` for an unknown id. Without telemetry the list is empty.
fn turn_json(
    path: &str,
    query: Option<&str>,
    telemetry: Option<&Telemetry>,
) -> Option<serde_json::Value> {
    let id = path
        .strip_prefix("/turns")
        .unwrap_or_default()
        .trim_matches('/');
    match (telemetry, id) {
        (Some(telemetry), "") => Some(telemetry.turns().list(&TurnFilter::from_query(query))),
        (None, "") => Some(serde_json::json!({ "turns": [] })),
        (Some(telemetry), id) => telemetry.turns().get(id),
        (None, _) => None,
    }
}

/// The most a posted form may hold.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// A page a browser asked for (a posted form read first, within its limit).
async fn browser_page(request: Request<Incoming>, source: &dyn PageSource) -> Response<Body> {
    let method = request.method().clone();
    if method != Method::GET && method != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let (parts, body) = request.into_parts();
    let mut form = Vec::new();
    if method == Method::POST {
        let limited = http_body_util::Limited::new(body, MAX_FORM_BYTES);
        let Ok(collected) = http_body_util::BodyExt::collect(limited).await else {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large\n");
        };
        form = url::form_urlencoded::parse(&collected.to_bytes())
            .into_owned()
            .collect();
    }
    let request = PageRequest {
        method: method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        form: &form,
    };
    match source.page(request).await {
        Some(page) => html_page(page),
        None => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// A page as HTTP: never cached, never framed by another site.
fn html_page(page: Page) -> Response<Body> {
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = page.html;
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Where a process on this machine reaches a status endpoint bound to `bind`: that address,
/// or this machine's own when it listens on every address. `None` when `bind` is no address.
pub fn local_address(bind: &str) -> Option<std::net::SocketAddr> {
    let address: std::net::SocketAddr = bind.parse().ok()?;
    Some(if address.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
    } else {
        address
    })
}
