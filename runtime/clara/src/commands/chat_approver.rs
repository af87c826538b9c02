//! `clara chat`'s way to ask for tool approvals: the question goes to the person at the
//! terminal (or the next line of piped input), and a line starting with `y` approves. No
//! answer within the timeout, the end of input, or a `-m` message with no one to ask: not run.

use std::sync::Arc;

use clara_config::model::common::fill;
use clara_core::engine::{ApprovalRequest, Approver, Decision};
use clara_core::llm::BoxFuture;
use tokio::sync::Mutex;

use super::chat_input::Messages;

/// Asks through the chat's own input.
pub struct ChatApprover {
    pub messages: Arc<Mutex<Messages>>,
    /// Who is typing: the chat's user, the terminal's operator (an admin).
    pub user: String,
    /// `adapters.chat.approval_prompt`.
    pub prompt: String,
}

impl Approver for ChatApprover {
    fn ask<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            if !request.may_decide(&self.user, true) {
                return Decision::Unavailable(format!(
                    "`{}` at the terminal may not approve it",
                    self.user
                ));
            }
            let prompt = fill(&self.prompt, &[("question", &request.question)]);
            let mut messages = self.messages.lock().await;
            let by = self.user.clone();
            match tokio::time::timeout(request.timeout, messages.answer(&prompt)).await {
                Err(_) => {
                    eprintln!();
                    Decision::TimedOut
                }
                Ok(Ok(Some(line))) if line.trim().to_lowercase().starts_with('y') => {
                    Decision::Approved { by }
                }
                Ok(Ok(Some(_))) => Decision::Denied { by },
                Ok(Ok(None)) => {
                    Decision::Unavailable("no one is at the input to answer".to_owned())
                }
                Ok(Err(error)) => Decision::Unavailable(format!("{error:#}")),
            }
        })
    }
}
