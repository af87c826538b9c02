//! `rate_limit`: past so many stored messages per user (or conversation) in a window, the turn
//! answers with the step's reply and skips the model. It runs after `ingest`, so the message
//! that went over the limit is kept like any other.

use clara_config::model::common::fill;
use clara_config::model::steps::{RateLimitStep, RateScope};

use crate::engine::EngineError;
use crate::engine::run::Run;
use crate::engine::turn::Turn;

/// The built `rate_limit` step.
pub(crate) struct RateLimit {
    options: RateLimitStep,
}

impl RateLimit {
    pub(crate) fn build(options: &RateLimitStep) -> RateLimit {
        RateLimit {
            options: options.clone(),
        }
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        let options = &self.options;
        // Hooks and tasks speak for clara, not for a user; admins may be exempt.
        if turn.automated || (options.admins_exempt && turn.incoming.is_admin) {
            return Ok(());
        }
        let services = run.services;
        let since = services.clock.now() - i64::from(options.window_secs) * 1000;
        let incoming = &turn.incoming;
        let (user, conversation) = match options.per {
            RateScope::User => (Some(incoming.user_id.as_str()), None),
            RateScope::Channel => (None, Some(incoming.conversation.id.as_str())),
        };
        let sent = services
            .store
            .count_user_messages(user, conversation, since)
            .await?;
        if sent > u64::from(options.messages) {
            tracing::info!(
                user = %incoming.user_id,
                conversation = %incoming.conversation.id,
                sent,
                limit = options.messages,
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
