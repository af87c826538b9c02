//! One pipeline run as its steps see it: the services, the pipeline's name and tool list, the
//! persona, and the caller's stream of reply text.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::persona::Persona;
use super::services::Services;
use super::session::SessionRules;
use super::tools::Tool;
use super::turn::Incoming;
use crate::llm::DeltaSink;

/// What every step of one run shares.
pub(crate) struct Run<'a> {
    pub services: &'a Services,
    pub sessions: SessionRules,
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The pipeline's `tool_loop` list; `None` without a tool loop.
    pub tools: Option<&'a [String]>,
    pub persona: &'a Persona,
    sink: TurnSink<'a>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        services: &'a Services,
        sessions: SessionRules,
        pipeline: &'a str,
        tools: Option<&'a [String]>,
        persona: &'a Persona,
        on_delta: DeltaSink<'a>,
    ) -> Self {
        Run {
            services,
            sessions,
            pipeline,
            tools,
            persona,
            sink: TurnSink {
                inner: on_delta,
                shown: AtomicBool::new(false),
                separate: AtomicBool::new(false),
            },
        }
    }

    /// Text for the user, as it streams.
    pub(crate) fn show(&self, text: &str) {
        self.sink.show(text);
    }

    /// Marks the start of a new model answer within the turn: its text is set apart from
    /// what the user already saw.
    pub(crate) fn new_answer(&self) {
        self.sink
            .separate
            .store(self.sink.shown.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The tools `incoming`'s author may be offered: in the persona's list and the pipeline's
    /// `tool_loop` list (none without a tool loop), and allowed by each tool's own policy.
    pub(crate) fn offered_tools(&self, incoming: &Incoming) -> Vec<Arc<dyn Tool>> {
        let Some(pipeline_tools) = self.tools else {
            return Vec::new();
        };
        let mut tools = self
            .services
            .allowed_tools(&self.persona.tools, pipeline_tools);
        tools.retain(|t| t.policy().allows(&incoming.user_id, incoming.is_admin));
        tools
    }
}

struct TurnSink<'a> {
    inner: DeltaSink<'a>,
    shown: AtomicBool,
    separate: AtomicBool,
}

impl TurnSink<'_> {
    fn show(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.separate.swap(false, Ordering::SeqCst) {
            (self.inner)("\n\n");
        }
        self.shown.store(true, Ordering::SeqCst);
        (self.inner)(text);
    }
}
