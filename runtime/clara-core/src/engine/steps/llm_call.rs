//! `llm_call`: call the model (streaming), offering the turn's tools when the pipeline has a
//! tool loop to run them.

use clara_config::model::steps::LlmCallStep;

use super::site::Site;
use crate::engine::EngineError;
use crate::engine::run::Run;
use crate::engine::template::Template;
use crate::engine::turn::Turn;
use crate::llm::{ChatRequest, ChatResponse, Message};

/// The built `llm_call` step.
pub(crate) struct LlmCall {
    options: LlmCallStep,
    instruction: Option<Template>,
}

impl LlmCall {
    pub(crate) fn build(options: &LlmCallStep, site: &Site<'_>) -> Result<LlmCall, EngineError> {
        let instruction = match &options.instruction {
            Some(text) => Some(site.template("instruction", text)?),
            None => None,
        };
        Ok(LlmCall {
            options: options.clone(),
            instruction,
        })
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        if let Some(instruction) = &self.instruction {
            let mut vars = tera::Context::new();
            vars.insert("user_name", &turn.incoming.user_name);
            turn.prompt.push(Message::user(instruction.render(&vars)?));
        }
        let has_tool_loop = !run.offered_tools(&turn.incoming).is_empty();
        let response = chat(run, &self.options, turn, has_tool_loop).await?;
        turn.reply = response.text.clone();
        turn.response = Some(response);
        Ok(())
    }
}

/// One model call with the step's request options; the tool loop's calls share them.
pub(crate) async fn chat(
    run: &Run<'_>,
    options: &LlmCallStep,
    turn: &Turn,
    with_tools: bool,
) -> Result<ChatResponse, EngineError> {
    let provider_name = if with_tools {
        options
            .tool_provider
            .as_deref()
            .or(options.provider.as_deref())
    } else {
        options.provider.as_deref()
    };
    let tools = if with_tools {
        run.offered_tools(&turn.incoming)
            .iter()
            .map(|t| t.spec().clone())
            .collect()
    } else {
        Vec::new()
    };
    // The step's tier, else the one chosen for the turn, else the persona's default.
    let request = ChatRequest {
        tools,
        tier: options.tier.or(turn.tier).or(run.persona.default_tier),
        max_tokens: options.max_tokens,
        temperature: options.temperature,
        stream: options.stream,
        tool_call_mode: options.tool_call_mode,
        ..ChatRequest::new(turn.prompt.clone())
    };
    run.new_answer();
    let show = |text: &str| run.show(text);
    let meter = turn.meter(run.pipeline, turn.purpose());
    run.services
        .chat(provider_name, &request, &show, meter)
        .await
}
