//! The accept loop of the fakes that answer with hyper: every connection on `listener` served
//! by `handle` over the fake's shared state, each in a task the loop owns (so aborting the
//! loop's task closes them all).

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Serves `listener` with `handle` until the task running it is aborted.
pub async fn serve<S, F, Fut>(listener: TcpListener, state: Arc<S>, handle: F)
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            let state = Arc::clone(&state);
            let service = service_fn(move |request| handle(Arc::clone(&state), request));
            connections
                .spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
        while connections.try_join_next().is_some() {}
    }
}
