//! A provider that answers from a script: what `clara test` fixtures and the engine's own
//! tests put where a model would be, behind the same `Provider` seam production uses, so
//! what is tested is what runs.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    BoxFuture, ChatRequest, ChatResponse, DeltaSink, Provider, ProviderError, ProviderErrorKind,
    StopReason, ToolCall, Usage,
};

/// Answers each call with the next scripted answer, in order, and keeps every request.
#[derive(Debug)]
pub struct ScriptedProvider {
    name: String,
    model: String,
    state: Mutex<Script>,
}

#[derive(Debug, Default)]
struct Script {
    answers: VecDeque<Result<ChatResponse, ProviderErrorKind>>,
    scripted: usize,
    requests: Vec<ChatRequest>,
}

impl ScriptedProvider {
    /// A provider named `name` (as in `clara.toml`) whose answers name `model`.
    pub fn new(name: &str, model: &str) -> Self {
        ScriptedProvider {
            name: name.to_owned(),
            model: model.to_owned(),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, Script> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Scripts a plain text answer.
    pub fn say(&self, text: &str) {
        self.push(Ok(self.reply(text, Vec::new())));
    }

    /// Scripts an answer asking for tools (with optional text before the calls).
    pub fn call_tools(&self, text: &str, calls: Vec<ToolCall>) {
        self.push(Ok(self.reply(text, calls)));
    }

    /// Scripts an answer or a failure.
    pub fn push(&self, answer: Result<ChatResponse, ProviderErrorKind>) {
        let mut state = self.state();
        state.answers.push_back(answer);
        state.scripted += 1;
    }

    /// An answer from this provider: it stops for tools when it calls any.
    pub fn reply(&self, text: &str, tool_calls: Vec<ToolCall>) -> ChatResponse {
        ChatResponse {
            text: text.to_owned(),
            stop_reason: if tool_calls.is_empty() {
                StopReason::EndTurn
            } else {
                StopReason::ToolUse
            },
            tool_calls,
            usage: Usage::default(),
            provider: self.name.clone(),
            model: self.model.clone(),
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.state().requests.clone()
    }

    /// Answers scripted and not yet given.
    pub fn remaining(&self) -> usize {
        self.state().answers.len()
    }
}

impl Provider for ScriptedProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        let answer = {
            let mut state = self.state();
            state.requests.push(request.clone());
            let calls = state.requests.len();
            let scripted = state.scripted;
            // A script that runs out is a mistake in the script, never a reason to wait or
            // retry: the error says so (and is not transient).
            state.answers.pop_front().unwrap_or_else(|| {
                Err(ProviderErrorKind::Config(format!(
                    "the model was called {calls} times, the script has {scripted} replies"
                )))
            })
        };
        Box::pin(async move {
            match answer {
                Ok(response) => {
                    if !response.text.is_empty() {
                        on_delta(&response.text);
                    }
                    Ok(response)
                }
                Err(kind) => Err(ProviderError {
                    provider: self.name.clone(),
                    model: request.model.clone().unwrap_or_else(|| self.model.clone()),
                    kind,
                    partial_output: false,
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ChatRequest {
        ChatRequest::new(Vec::new())
    }

    #[tokio::test]
    async fn answers_in_order_then_says_how_the_script_ran_out() {
        let model = ScriptedProvider::new("main", "m-1");
        model.say("one");
        model.push(Err(ProviderErrorKind::Status {
            status: 503,
            message: "busy".to_owned(),
        }));
        let seen = Mutex::new(String::new());
        let sink = |delta: &str| seen.lock().unwrap().push_str(delta);
        let first = model.chat(&request(), &sink).await.unwrap();
        assert_eq!((first.text.as_str(), first.model.as_str()), ("one", "m-1"));
        assert_eq!(*seen.lock().unwrap(), "one");
        let second = model.chat(&request(), &sink).await.unwrap_err();
        assert!(second.kind.is_transient(), "{second:?}");
        let third = model.chat(&request(), &sink).await.unwrap_err();
        assert_eq!(
            third.kind,
            ProviderErrorKind::Config(
                "the model was called 3 times, the script has 2 replies".to_owned()
            )
        );
        assert!(!third.kind.is_transient());
        assert_eq!(model.requests().len(), 3);
        assert_eq!(model.remaining(), 0);
    }
}
