//! Scripted tool results for `clara test`: a turn may give the result of a tool's calls
//! instead of running the tool, so a fixture can call an HTTP tool without reaching its URL
//! and get the same result every run. Tools without a scripted result run for real.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use clara_core::engine::{Tool, ToolContext, ToolError, ToolPolicy};
use clara_core::llm::{BoxFuture, ToolSpec};
use serde_json::Value;

/// The current turn's scripted results, by tool name.
#[derive(Default)]
pub struct ToolScript(Mutex<BTreeMap<String, String>>);

impl ToolScript {
    /// The results for the turn about to run.
    pub fn set(&self, results: &BTreeMap<String, String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = results.clone();
    }

    fn result(&self, tool: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tool)
            .cloned()
    }
}

/// A tool whose calls answer from the script when it has a result for them.
struct Scripted {
    tool: Arc<dyn Tool>,
    script: Arc<ToolScript>,
}

impl Tool for Scripted {
    fn spec(&self) -> &ToolSpec {
        self.tool.spec()
    }

    fn policy(&self) -> &ToolPolicy {
        self.tool.policy()
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        match self.script.result(&self.tool.spec().name) {
            Some(result) => Box::pin(async move { Ok(result) }),
            None => self.tool.call(arguments, context),
        }
    }
}

/// `tools`, each answering from `script` when it has a result for it.
pub fn scripted(tools: Vec<Arc<dyn Tool>>, script: &Arc<ToolScript>) -> Vec<Arc<dyn Tool>> {
    tools
        .into_iter()
        .map(|tool| {
            Arc::new(Scripted {
                tool,
                script: script.clone(),
            }) as Arc<dyn Tool>
        })
        .collect()
}
