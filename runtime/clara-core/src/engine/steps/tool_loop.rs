//! `tool_loop`: run the tools the model asks for and call it again, bounded; a round without
//! tool calls ends the loop with no extra call.

use std::sync::Arc;

use clara_config::model::steps::{LlmCallStep, ToolLoopStep};
use regex::{Regex, RegexBuilder};

use super::llm_call::chat;
use super::site::Site;
use crate::engine::EngineError;
use crate::engine::arguments;
use crate::engine::event_data::{EventData, ToolEnd, ToolFailed, ToolStart};
use crate::engine::run::Run;
use crate::engine::template::Template;
use crate::engine::tools::{Tool, ToolError};
use crate::engine::turn::Turn;
use crate::llm::{Message, ToolCall};

/// The built `tool_loop` step.
pub(crate) struct ToolLoop {
    options: ToolLoopStep,
    /// The pipeline's `llm_call` options, which the loop's calls share.
    call: LlmCallStep,
    /// `auto_continue.patterns`, compiled.
    patterns: Vec<Regex>,
    truncation_note: Template,
}

impl ToolLoop {
    pub(crate) fn build(options: &ToolLoopStep, site: &Site<'_>) -> Result<ToolLoop, EngineError> {
        Ok(ToolLoop {
            options: options.clone(),
            call: site.llm_call().cloned().unwrap_or_default(),
            patterns: compile_proceed_patterns(&options.auto_continue.patterns),
            truncation_note: site.template("truncation_note", &options.truncation_note)?,
        })
    }

    /// The tools it offers, by name or glob.
    pub(crate) fn tools(&self) -> &[String] {
        &self.options.tools
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        let options = &self.options;
        let call_options = &self.call;
        let tools = run.offered_tools(&turn.incoming);
        let patterns = self.patterns.as_slice();
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
                self.close(run, turn, &mut answers).await?;
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
                        self.execute(run, turn, &tools, call, calls_made).await?
                    };
                    turn.prompt
                        .push(Message::tool_result(call.id.clone(), result));
                }
                if at_cap(rounds, calls_made) {
                    // The last round allowed has run: the closing call offers no tools, so no call
                    // is made only to have its tool calls thrown away.
                    self.close(run, turn, &mut answers).await?;
                    break;
                }
            }
            let next = chat(run, call_options, turn, !at_cap(rounds, calls_made)).await?;
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
        &self,
        run: &Run<'_>,
        turn: &mut Turn,
        answers: &mut Vec<String>,
    ) -> Result<(), EngineError> {
        turn.prompt
            .push(Message::user(self.options.limit_reached_prompt.clone()));
        let summary = chat(run, &self.call, turn, false).await?;
        answers.push(summary.text.clone());
        turn.response = Some(summary);
        Ok(())
    }

    /// Runs one call; failures become the result the model reads, never a failed turn.
    async fn execute(
        &self,
        run: &Run<'_>,
        turn: &Turn,
        tools: &[Arc<dyn Tool>],
        call: &ToolCall,
        step: u32,
    ) -> Result<String, EngineError> {
        let services = run.services;
        let tool = tools.iter().find(|t| t.spec().name == call.name);
        let policy = tool.map(|t| t.policy().clone()).unwrap_or_default();
        let checked = match tool {
            Some(tool) => arguments::check(tool.spec(), &call.arguments).map(|a| (tool, a)),
            None => Err(format!("unknown tool `{}`", call.name)),
        };
        let arguments = checked.as_ref().map_or(&call.arguments, |(_, a)| a);
        services
            .events
            .emit(turn.event(EventData::ToolStart(ToolStart {
                tool: call.name.clone(),
                step,
                arguments: arguments.clone(),
                label: policy.label.unwrap_or_else(|| call.name.clone()),
                emoji: policy.emoji,
            })));
        let context = services.tool_context(&turn.incoming.user_id);
        let outcome = match &checked {
            Ok((tool, arguments)) => tool.call(arguments, &context).await,
            Err(why) => Err(ToolError(why.clone())),
        };
        let text = match outcome {
            Ok(text) => {
                services.events.emit(turn.event(EventData::ToolEnd(ToolEnd {
                    tool: call.name.clone(),
                    step,
                    chars: text.chars().count(),
                })));
                text
            }
            Err(error) => {
                services
                    .events
                    .emit(turn.event(EventData::ToolError(ToolFailed {
                        tool: call.name.clone(),
                        step,
                        error: error.0.clone(),
                    })));
                format!("Error: {}", error.0)
            }
        };
        self.truncate(text)
    }

    fn truncate(&self, text: String) -> Result<String, EngineError> {
        let total = text.chars().count();
        let max = self.options.max_result_chars as usize;
        if total <= max {
            return Ok(text);
        }
        let mut vars = tera::Context::new();
        vars.insert("total_chars", &total);
        vars.insert("shown_chars", &max);
        let note = self.truncation_note.render(&vars)?;
        Ok(text.chars().take(max).collect::<String>() + &note)
    }
}

fn asks_to_proceed(text: &str, patterns: &[regex::Regex], tail_chars: u32) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(tail_chars as usize)..]
        .iter()
        .collect();
    patterns.iter().any(|p| p.is_match(&tail))
}

/// Case-insensitive patterns where `.` also matches line breaks. Validation has already
/// refused patterns that do not compile.
fn compile_proceed_patterns(patterns: &[String]) -> Vec<Regex> {
    patterns
        .iter()
        .filter_map(|p| {
            RegexBuilder::new(p)
                .case_insensitive(true)
                .dot_matches_new_line(true)
                .build()
                .ok()
        })
        .collect()
}
