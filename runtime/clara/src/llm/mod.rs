//! LLM providers over reqwest: OpenAI-compatible chat completions and Anthropic messages,
//! streaming (SSE), retries, fallback, and embeddings.
