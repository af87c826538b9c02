//! `rate_limit`: past so many stored messages per user (or conversation) in a window, the turn
//! answers with the step's reply and skips the model. It runs after `ingest`, so the message
//! that went over the limit is kept like any other. Its tool call limit is held by the turn
//! and applied by the tool loop, call by call.

use std::sync::Arc;

use clara_config::model::common::fill;
use clara_config::model::steps::{RateLimitStep, RateScope};

use crate::engine::EngineError;
use crate::engine::rate_windows::Counted;
use crate::engine::run::Run;
use crate::engine::services::Services;
use crate::engine::turn::Turn;

/// The built `rate_limit` step.
pub(crate) struct RateLimit {
    options: Arc<RateLimitStep>,
}

impl RateLimit {
    pub(crate) fn build(options: &RateLimitStep) -> RateLimit {
        RateLimit {
            options: Arc::new(options.clone()),
        }
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        let options = &self.options;
        // Hooks and tasks speak for clara, not for a user; admins may be exempt.
        if turn.automated || (options.admins_exempt && turn.incoming.is_admin) {
            return Ok(());
        }
        if options.tool_calls.is_some() {
            turn.tool_limit = Some(options.clone());
        }
        let Some(limit) = options.messages else {
            return Ok(());
        };
        let sent = count(run.services, options, turn, Counted::Messages, limit + 1).await?;
        if sent > u64::from(limit) {
            let incoming = &turn.incoming;
            tracing::info!(
                user = %incoming.user_id,
                conversation = %incoming.conversation.id,
                sent,
                limit,
                "rate limit reached: answered without the model"
            );
            let messages = options.messages_text();
            let window = options.window_text();
            turn.reply = fill(
                &options.reply,
                &[("messages", &messages), ("window", &window)],
            );
            turn.answered = true;
        }
        Ok(())
    }
}

/// How many messages or calls the limit's user (or conversation) made in its window, counted
/// up to `up_to`.
async fn count(
    services: &Services,
    options: &RateLimitStep,
    turn: &Turn,
    what: Counted,
    up_to: u32,
) -> Result<u64, EngineError> {
    let incoming = &turn.incoming;
    let who = match options.per {
        RateScope::User => &incoming.user_id,
        RateScope::Channel => &incoming.conversation.id,
    };
    let counted = services
        .rates
        .count(
            services.store.as_ref(),
            what,
            options.per,
            who,
            i64::from(options.window_secs) * 1000,
            services.clock.now(),
            up_to,
        )
        .await?;
    Ok(counted)
}

/// When the turn's tool call limit is reached, what the model is told instead of a result.
pub(crate) async fn tool_call_refusal(
    services: &Services,
    turn: &Turn,
) -> Result<Option<String>, EngineError> {
    let Some(options) = &turn.tool_limit else {
        return Ok(None);
    };
    let Some(limit) = options.tool_calls else {
        return Ok(None);
    };
    let made = count(services, options, turn, Counted::ToolCalls, limit).await?;
    if made < u64::from(limit) {
        return Ok(None);
    }
    tracing::info!(user = %turn.incoming.user_id, made, limit, "tool call limit reached: a call was not run");
    let calls = options.tool_calls_text();
    let window = options.window_text();
    Ok(Some(fill(
        &options.tool_calls_note,
        &[("tool_calls", &calls), ("window", &window)],
    )))
}
