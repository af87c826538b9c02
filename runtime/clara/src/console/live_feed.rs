//! `/console/events`: finished turns as server-sent events, for the console's pages to
//! refresh themselves. The feed only runs while someone watches, and a watcher that cannot
//! keep up misses turns (its queue is bounded) instead of holding anything up.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::sync::broadcast::error::RecvError;

use crate::status::{Body, full};
use crate::telemetry::{Telemetry, summary};

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The event stream; without telemetry there is nothing to watch.
pub(super) fn events(telemetry: Option<&Telemetry>) -> Response<Body> {
    let Some(telemetry) = telemetry else {
        let mut response = Response::new(full("no turns are recorded here\n"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let turns = telemetry.watch_turns();
    let stream = futures_util::stream::unfold(turns, |mut turns| async move {
        let chunk = match tokio::time::timeout(KEEPALIVE, turns.recv()).await {
            Ok(Ok(trace)) => format!("event: turn\ndata: {}\n\n", summary(&trace)),
            Ok(Err(RecvError::Lagged(missed))) => format!(": {missed} turns missed\n\n"),
            Ok(Err(RecvError::Closed)) => return None,
            Err(_) => ": keepalive\n\n".to_owned(),
        };
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))), turns))
    });
    let retry = futures_util::stream::once(async {
        Ok(Frame::data(Bytes::from_static(b"retry: 2000\n\n")))
    });
    let body = BodyExt::boxed(StreamBody::new(retry.chain(stream)));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
