//! The spans a turn is traced by, all under the target [`TARGET`]: the turn, each step, each
//! model call, tool call and memory search, and each job. Field names follow the OpenTelemetry
//! GenAI conventions where one exists (`gen_ai.*`), else `clara.*`. No span holds what a user
//! or the model said unless `[telemetry] capture_content` is on.

use tracing::Span;
use tracing::field::Empty;

use super::turn::Turn;

/// The target every clara span is made under: a subscriber that records turns listens to it
/// alone.
pub const TARGET: &str = "clara::trace";

/// The longest text a span carries when content is captured.
const MAX_CONTENT_CHARS: usize = 16_384;

/// A turn: one run of a pipeline, for a message, a task or a hook.
pub(crate) fn turn(pipeline: &str, turn: &Turn) -> Span {
    tracing::info_span!(
        target: TARGET,
        "turn",
        clara.pipeline = pipeline,
        clara.platform = turn.incoming.platform.as_str(),
        clara.user_id = turn.incoming.user_id.as_str(),
        clara.conversation = turn.incoming.conversation.id.as_str(),
        clara.automated = turn.automated,
        clara.session_id = Empty,
        clara.tier = Empty,
        clara.outcome = Empty,
        error.type = Empty,
    )
}

/// What became of the turn, on its span.
pub(crate) fn turn_ended(span: &Span, turn: &Turn, outcome: &str) {
    if let Some(session) = &turn.session {
        span.record("clara.session_id", session.id.as_str());
    }
    if let Some(tier) = turn.tier {
        span.record("clara.tier", tier.as_str());
    }
    span.record("clara.outcome", outcome);
}

/// One step of a pipeline.
pub(crate) fn step(kind: &'static str, id: &str) -> Span {
    tracing::info_span!(target: TARGET, "step", clara.step.type = kind, clara.step.id = id)
}

/// One model call, through budgets, retries and fallbacks.
pub(crate) fn chat(provider: &str, system: &str, model: &str, purpose: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "chat",
        otel.name = format!("chat {model}"),
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = system,
        gen_ai.request.model = model,
        clara.provider = provider,
        clara.purpose = purpose,
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        error.type = Empty,
    )
}

/// One tool call.
pub(crate) fn tool(name: &str, call_id: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "execute_tool",
        otel.name = format!("execute_tool {name}"),
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = name,
        gen_ai.tool.call.id = call_id,
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
        clara.tool.outcome = Empty,
    )
}

/// One search of a user's memories.
pub(crate) fn memory_search(scopes: usize) -> Span {
    tracing::info_span!(
        target: TARGET,
        "memory_search",
        clara.memory.scopes = scopes as u64,
        clara.memory.found = Empty,
    )
}

/// One job from the queue (memory extraction, a session summary).
pub(crate) fn job(kind: &str, id: i64) -> Span {
    tracing::info_span!(target: TARGET, "job", clara.job.kind = kind, clara.job.id = id)
}

/// `text` cut to what a span may carry.
pub(crate) fn content(text: &str) -> String {
    match text.char_indices().nth(MAX_CONTENT_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
