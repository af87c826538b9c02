//! The model of `clara replay`: each call of a replayed turn gets the answer the store recorded
//! when it asks what the baseline asked; a call whose request changed goes to the live
//! provider (`--live`) or gets the recorded answer anyway, marked as given to a changed prompt.
//! A tier classifier's call gets an empty answer (its fallback tier): the store keeps none.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use clara_config::model::provider::ProviderConfig;
use clara_core::engine::is_classification;
use clara_core::llm::{
    BoxFuture, ChatRequest, ChatResponse, DeltaSink, Provider, ProviderError, StopReason, Usage,
};

/// Where a call's answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The recorded answer, to the request the baseline made.
    Recorded,
    /// The recorded answer, though the request changed.
    RecordedAnyway,
    /// The live model.
    Live,
    /// The no-facts answer to the memory work of a recorded turn.
    NoFacts,
    /// An empty answer to a tier classifier's call: the store keeps no classifier answer, so
    /// the pipeline's fallback tier applies.
    Classifier,
}

/// What answers the calls of the turn being replayed.
#[derive(Clone, Debug)]
pub enum Script {
    /// Every call gets the recorded answer (the baseline itself).
    Recorded,
    /// A call gets the recorded answer when it equals the baseline's call at its place.
    SameAs(Vec<ChatRequest>),
    /// Every call goes to the live model.
    Live,
    /// Every call is memory work, answered with no facts.
    MemoryWork,
}

/// One world's calls, shared by its providers: the turn's script and what the calls asked.
pub struct Tape(Mutex<State>);

struct State {
    recorded: String,
    script: Script,
    requests: Vec<ChatRequest>,
    answers: Vec<Answer>,
}

/// The answer memory extraction reads as "nothing worth keeping".
pub const NO_FACTS: &str = r#"{"facts": []}"#;

impl Tape {
    /// A tape with nothing to play yet.
    pub fn new() -> Arc<Tape> {
        Arc::new(Tape(Mutex::new(State {
            recorded: String::new(),
            script: Script::Recorded,
            requests: Vec::new(),
            answers: Vec::new(),
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a turn (or its memory work) answered by `script`, the store's answer `recorded`.
    pub fn start(&self, recorded: &str, script: Script) {
        let mut state = self.state();
        state.recorded = recorded.to_owned();
        state.script = script;
        state.requests.clear();
        state.answers.clear();
    }

    /// The requests since the last start, and where each answer came from.
    pub fn played(&self) -> (Vec<ChatRequest>, Vec<Answer>) {
        let state = self.state();
        (state.requests.clone(), state.answers.clone())
    }
}

/// A configured provider in a replay: answers from the tape, or from `live` when the tape says.
pub struct ReplayProvider {
    name: String,
    config: ProviderConfig,
    tape: Arc<Tape>,
    live: Option<Arc<dyn Provider>>,
}

impl ReplayProvider {
    /// The provider `name` of `config`, playing `tape`, with the real provider `live` for
    /// changed calls when asked.
    pub fn new(
        name: &str,
        config: &ProviderConfig,
        tape: &Arc<Tape>,
        live: Option<Arc<dyn Provider>>,
    ) -> ReplayProvider {
        ReplayProvider {
            name: name.to_owned(),
            config: config.clone(),
            tape: tape.clone(),
            live,
        }
    }

    fn answer(&self, request: &ChatRequest) -> (Answer, String) {
        let mut state = self.tape.state();
        let at = state.requests.len();
        state.requests.push(request.clone());
        let same = match &state.script {
            Script::Recorded => Some(true),
            Script::SameAs(baseline) => Some(baseline.get(at) == Some(request)),
            Script::Live => Some(false),
            Script::MemoryWork => None,
        };
        let answer = match same {
            _ if is_classification(request) => Answer::Classifier,
            None => Answer::NoFacts,
            Some(true) => Answer::Recorded,
            Some(false) if self.live.is_some() => Answer::Live,
            Some(false) => Answer::RecordedAnyway,
        };
        state.answers.push(answer);
        let text = match answer {
            Answer::NoFacts => NO_FACTS.to_owned(),
            Answer::Classifier => String::new(),
            _ => state.recorded.clone(),
        };
        (answer, text)
    }
}

impl Provider for ReplayProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        let (answer, text) = self.answer(request);
        Box::pin(async move {
            if let (Answer::Live, Some(live)) = (answer, &self.live) {
                return live.chat(request, on_delta).await;
            }
            if !text.is_empty() {
                on_delta(&text);
            }
            Ok(ChatResponse {
                text,
                tool_calls: Vec::new(),
                stop_reason: StopReason::EndTurn,
                usage: Usage::default(),
                provider: self.name.clone(),
                model: request.model_on(&self.config),
            })
        })
    }
}
