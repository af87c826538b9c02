//! A fake OpenTelemetry collector on 127.0.0.1: it takes OTLP/JSON posts on `/v1/traces`
//! (as a real collector's OTLP/HTTP receiver does), keeps them, and answers with a status the
//! test chooses.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One export as received: its headers (name, value) and its body.
type Post = (Vec<(String, String)>, Value);

#[derive(Default)]
struct State {
    posts: Mutex<Vec<Post>>,
    status: AtomicU16,
}

/// The running collector. Dropping it stops it.
pub struct FakeCollector {
    /// `http://127.0.0.1:PORT`: the `[telemetry] endpoint`.
    pub url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FakeCollector {
    /// Listens on a free port, answering 200.
    pub async fn start() -> FakeCollector {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        state.status.store(200, Ordering::SeqCst);
        let task = tokio::spawn(super::http_server::serve(listener, state.clone(), handle));
        FakeCollector { url, state, task }
    }

    /// Answers every later export with `status`.
    pub fn answer_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Every span received, in arrival order.
    pub fn spans(&self) -> Vec<Value> {
        let posts = self.state.posts.lock().unwrap();
        posts
            .iter()
            .flat_map(|(_, body)| {
                let resources = body["resourceSpans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                resources.into_iter().flat_map(|resource| {
                    let scopes = resource["scopeSpans"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    scopes
                        .into_iter()
                        .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
                })
            })
            .collect()
    }

    /// Every request's body, as received.
    pub fn bodies(&self) -> Vec<Value> {
        let posts = self.state.posts.lock().unwrap();
        posts.iter().map(|(_, body)| body.clone()).collect()
    }

    /// A header of the first request.
    pub fn first_header(&self, name: &str) -> Option<String> {
        let posts = self.state.posts.lock().unwrap();
        let (headers, _) = posts.first()?;
        let found = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.clone())
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let ok_path = request.uri().path() == "/v1/traces" && request.method() == hyper::Method::POST;
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes);
    let json: Value = body
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let status = if ok_path {
        state.posts.lock().unwrap().push((headers, json));
        state.status.load(Ordering::SeqCst)
    } else {
        404
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    Ok(response)
}
