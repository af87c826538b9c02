//! The provider seam: one small trait the engine calls, implemented at the edges.

use std::future::Future;
use std::pin::Pin;

use super::error::ProviderError;
use super::types::{ChatRequest, ChatResponse};

/// A boxed, sendable future (the trait is used as `Arc<dyn Provider>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Receives text as it streams in.
pub type DeltaSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A language model endpoint.
///
/// `chat` returns the complete response whether or not it streamed; while streaming, each
/// text delta goes to `on_delta` as it arrives. Dropping the future cancels the request.
pub trait Provider: Send + Sync {
    /// The provider's name in `clara.toml`.
    fn name(&self) -> &str;

    /// One model call.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;
}

/// An embeddings endpoint.
pub trait Embedder: Send + Sync {
    /// The provider's name in `clara.toml`, for the usage log and its prices.
    fn provider(&self) -> &str;

    /// The embedding model; vectors from different models are never mixed.
    fn model(&self) -> &str;

    /// The length of every vector.
    fn dimensions(&self) -> usize;

    /// One vector per text, in order, and the tokens the API counted.
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embedded, ProviderError>>;
}

/// What an embeddings call made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embedded {
    /// One vector per text, in order.
    pub vectors: Vec<Vec<f32>>,
    /// The prompt tokens the API reported (0 when it reports none).
    pub tokens: u32,
}
