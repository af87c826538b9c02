//! `llm_call` and `tool_loop`: call the model (streaming), then run the tools it asks for and
//! call it again, bounded; a round without tool calls ends the loop with no extra call.

use clara_config::model::common::EventName;
use clara_config::model::steps::{LlmCallStep, ToolLoopStep};
use serde_json::json;

use crate::engine::EngineError;
use crate::engine::arguments;
use crate::engine::generation::step_template;
use crate::engine::run::Run;
use crate::engine::turn::Turn;
use crate::llm::{ChatRequest, ChatResponse, Message, ToolCall};

/// The request options of the pipeline's `llm_call` step, kept for the tool loop's calls.
fn call_options(run: &Run<'_>) -> LlmCallStep {
    run.pipeline
        .steps
        .iter()
        .find_map(|s| match s {
            clara_config::model::steps::Step::LlmCall(options) => Some(options.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

async fn chat(
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
    let provider = run.generation.provider(provider_name)?;
    let tools = if with_tools {
        run.offered_tools(&turn.incoming)
            .iter()
            .map(|t| t.spec().clone())
            .collect()
    } else {
        Vec::new()
    };
    // The step's tier, else the one chosen for the turn, else the persona's default.
    let persona_tier = || {
        run.generation
            .config
            .personas
            .get(run.persona)
            .and_then(|p| p.file.value.default_tier)
    };
    let request = ChatRequest {
        tools,
        tier: options.tier.or(turn.tier).or_else(persona_tier),
        max_tokens: options.max_tokens,
        temperature: options.temperature,
        stream: options.stream,
        tool_call_mode: options.tool_call_mode,
        ..ChatRequest::new(turn.prompt.clone())
    };
    run.new_answer();
    let show = |text: &str| run.show(text);
    Ok(provider.chat(&request, &show).await?)
}

pub(crate) async fn call(
    run: &Run<'_>,
    index: usize,
    options: &LlmCallStep,
    turn: &mut Turn,
) -> Result<(), EngineError> {
    if options.instruction.is_some() {
        let mut vars = tera::Context::new();
        vars.insert("user_name", &turn.incoming.user_name);
        let text = run.generation.render(
            &step_template(run.pipeline_name, index, "instruction"),
            &vars,
        )?;
        turn.prompt.push(Message::user(text));
    }
    let has_tool_loop = !run.offered_tools(&turn.incoming).is_empty();
    let response = chat(run, options, turn, has_tool_loop).await?;
    turn.reply = response.text.clone();
    turn.response = Some(response);
    Ok(())
}

pub(crate) async fn tool_loop(
    run: &Run<'_>,
    index: usize,
    options: &ToolLoopStep,
    turn: &mut Turn,
) -> Result<(), EngineError> {
    let call_options = call_options(run);
    let tools = run.offered_tools(&turn.incoming);
    let patterns = run.generation.proceed_patterns(run.pipeline_name, index);
    let mut answers = vec![turn.reply.clone()];
    let (mut rounds, mut calls_made, mut continues) = (0u32, 0u32, 0u32);
    let at_cap = |rounds: u32, calls: u32| {
        rounds >= options.max_rounds || calls >= options.max_calls_per_turn
    };
    loop {
        let Some(response) = turn.response.clone() else {
            return Ok(());
        };
        if response.tool_calls.is_empty() {
            let asks_permission = options.auto_continue.enabled
                && continues < options.auto_continue.max
                && asks_to_proceed(&response.text, patterns, options.auto_continue.tail_chars);
            if !asks_permission {
                break;
            }
            continues += 1;
            turn.prompt.push(Message::assistant(response.text.clone()));
            turn.prompt
                .push(Message::user(options.auto_continue.reply.clone()));
        } else if at_cap(rounds, calls_made) {
            // Only a model that asks for tools it was not offered gets here: its calls are
            // not run, and its text (if any) stays in the conversation.
            if !response.text.trim().is_empty() {
                turn.prompt.push(Message::assistant(response.text.clone()));
            }
            close(run, &call_options, options, turn, &mut answers).await?;
            break;
        } else {
            rounds += 1;
            turn.prompt.push(Message::assistant_with_calls(
                response.text.clone(),
                response.tool_calls.clone(),
            ));
            for call in &response.tool_calls {
                calls_made += 1;
                let result = if calls_made > options.max_calls_per_turn {
                    "Not run: the limit of tool calls for this message was reached.".to_owned()
                } else {
                    execute(run, index, options, turn, &tools, call, calls_made).await?
                };
                turn.prompt
                    .push(Message::tool_result(call.id.clone(), result));
            }
            if at_cap(rounds, calls_made) {
                // The last round allowed has run: the closing call offers no tools, so no call
                // is made only to have its tool calls thrown away.
                close(run, &call_options, options, turn, &mut answers).await?;
                break;
            }
        }
        let next = chat(run, &call_options, turn, !at_cap(rounds, calls_made)).await?;
        answers.push(next.text.clone());
        turn.response = Some(next);
    }
    turn.reply = answers
        .into_iter()
        .filter(|a| !a.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    Ok(())
}

/// The closing call at the cap: the limit prompt, then one answer without tools.
async fn close(
    run: &Run<'_>,
    call_options: &LlmCallStep,
    options: &ToolLoopStep,
    turn: &mut Turn,
    answers: &mut Vec<String>,
) -> Result<(), EngineError> {
    turn.prompt
        .push(Message::user(options.limit_reached_prompt.clone()));
    let summary = chat(run, call_options, turn, false).await?;
    answers.push(summary.text.clone());
    turn.response = Some(summary);
    Ok(())
}

fn asks_to_proceed(text: &str, patterns: &[regex::Regex], tail_chars: u32) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(tail_chars as usize)..]
        .iter()
        .collect();
    patterns.iter().any(|p| p.is_match(&tail))
}

/// Runs one call; failures become the result the model reads, never a failed turn.
async fn execute(
    run: &Run<'_>,
    index: usize,
    options: &ToolLoopStep,
    turn: &Turn,
    tools: &[std::sync::Arc<dyn crate::engine::tools::Tool>],
    call: &ToolCall,
    step: u32,
) -> Result<String, EngineError> {
    let generation = run.generation;
    let event = |name, data| turn.event(name, data);
    let tool = tools.iter().find(|t| t.spec().name == call.name);
    let policy = tool.map(|t| t.policy().clone()).unwrap_or_default();
    let checked = match tool {
        Some(tool) => arguments::check(tool.spec(), &call.arguments).map(|a| (tool, a)),
        None => Err(format!("unknown tool `{}`", call.name)),
    };
    generation.events.emit(event(
        EventName::ToolStart,
        json!({
            "tool": call.name,
            "step": step,
            "arguments": checked.as_ref().map_or(&call.arguments, |(_, a)| a),
            "label": policy.label.as_deref().unwrap_or(&call.name),
            "emoji": policy.emoji,
        }),
    ));
    let context = run.generation.tool_context(&turn.incoming.user_id);
    let outcome = match &checked {
        Ok((tool, arguments)) => tool.call(arguments, &context).await,
        Err(why) => Err(crate::engine::tools::ToolError(why.clone())),
    };
    let text = match outcome {
        Ok(text) => {
            generation.events.emit(event(
                EventName::ToolEnd,
                json!({ "tool": call.name, "step": step, "chars": text.chars().count() }),
            ));
            text
        }
        Err(error) => {
            generation.events.emit(event(
                EventName::ToolError,
                json!({ "tool": call.name, "step": step, "error": error.0 }),
            ));
            format!("Error: {}", error.0)
        }
    };
    truncate(run, index, options, text)
}

fn truncate(
    run: &Run<'_>,
    index: usize,
    options: &ToolLoopStep,
    text: String,
) -> Result<String, EngineError> {
    let total = text.chars().count();
    let max = options.max_result_chars as usize;
    if total <= max {
        return Ok(text);
    }
    let mut vars = tera::Context::new();
    vars.insert("total_chars", &total);
    vars.insert("shown_chars", &max);
    let note = run.generation.render(
        &step_template(run.pipeline_name, index, "truncation_note"),
        &vars,
    )?;
    Ok(text.chars().take(max).collect::<String>() + &note)
}
