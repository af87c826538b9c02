//! `tool_loop`: run the tools the model asks for and call it again, bounded; a round without
//! tool calls ends the loop with no extra call. Each call first passes the turn's tool call
//! limit and, when it needs one, a person's approval; every call is kept in the tool log.

use std::sync::Arc;
use std::time::Duration;

use clara_config::model::approval::ApprovalMode;
use clara_config::model::common::{fill, glob_match, is_glob, shorten};
use clara_config::model::steps::{LlmCallStep, ToolLoopStep};
use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::llm_call::chat;
use super::rate_limit;
use super::site::Site;
use crate::engine::EngineError;
use crate::engine::approval::{ApprovalRequest, Decision};
use crate::engine::arguments;
use crate::engine::event_data::{
    EventData, ToolApproval as ToolApprovalEvent, ToolEnd, ToolFailed, ToolStart,
};
use crate::engine::metered_embedder::MeteredEmbedder;
use crate::engine::rate_windows::Counted;
use crate::engine::run::Run;
use crate::engine::template::Template;
use crate::engine::tools::{Place, Tool, ToolError, ToolPolicy};
use crate::engine::trace;
use crate::engine::turn::Turn;
use crate::llm::{Message, ToolCall};
use crate::store::{Stamp, ToolCallRecord, approvers_key, ran};
use tracing::Instrument;

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
                    let span = trace::tool(&call.name, &call.id);
                    let result = if calls_made > options.max_calls_per_turn {
                        span.record("clara.tool.outcome", "over_limit");
                        "Not run: the limit of tool calls for this message was reached.".to_owned()
                    } else {
                        self.execute(run, turn, &tools, call, calls_made)
                            .instrument(span.clone())
                            .await?
                    };
                    if run.services.captures_content() {
                        span.record(
                            "gen_ai.tool.call.arguments",
                            trace::content(&call.arguments.to_string()),
                        );
                        span.record("gen_ai.tool.call.result", trace::content(&result));
                    }
                    turn.prompt
                        .push(Message::tool_result(call.id.clone(), result));
                }
                // The next round resends all of this, so it can read it from the cache.
                if turn.prompt.iter().any(|m| m.cache_point)
                    && let Some(last) = turn.prompt.last_mut()
                {
                    last.cache_point = true;
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
        let mut asked = None;
        if checked.is_ok() {
            if let Some(note) = rate_limit::tool_call_refusal(services, turn).await? {
                log(run, turn, &call.name, "limited", None).await;
                return Ok(note);
            }
            asked = self
                .approve(run, turn, &call.name, arguments, &policy, step)
                .await?;
            if let Some(asked) = &asked
                && !asked.decision.approved()
            {
                log(run, turn, &call.name, "denied", Some(asked)).await;
                let reason = denial_reason(&asked.decision);
                return Ok(fill(
                    &self.options.approval_denied,
                    &[("tool", &call.name), ("reason", &reason)],
                ));
            }
        }
        services
            .events
            .emit(turn.event(EventData::ToolStart(ToolStart {
                tool: call.name.clone(),
                step,
                arguments: arguments.clone(),
                label: policy.label.unwrap_or_else(|| call.name.clone()),
                emoji: policy.emoji,
            })));
        let embedder = MeteredEmbedder::new(services, turn.meter(run.pipeline, turn.purpose()));
        let mut context = services.tool_context(
            &turn.incoming.user_id,
            embedder.as_ref().map(MeteredEmbedder::as_dyn),
        );
        // Files go with a reply to someone's message; a task's or hook's run has no one to
        // hand them to.
        if !turn.automated {
            context.files = Some(&turn.files);
            context.place = Some(Place {
                platform: &turn.incoming.platform,
                conversation: &turn.incoming.conversation,
            });
        }
        let outcome = match &checked {
            Ok((tool, arguments)) => tool.call(arguments, &context).await,
            Err(why) => Err(ToolError(why.clone())),
        };
        let logged = match (&checked, &outcome) {
            (Err(_), _) => "invalid",
            (_, Ok(_)) => "ok",
            (_, Err(_)) => "error",
        };
        log(run, turn, &call.name, logged, asked.as_ref()).await;
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

    /// Asks for approval when the call needs it: `None` when it does not, else the mode it
    /// was asked under and the decision (already an event).
    async fn approve(
        &self,
        run: &Run<'_>,
        turn: &Turn,
        tool: &str,
        arguments: &Value,
        policy: &ToolPolicy,
        step: u32,
    ) -> Result<Option<Asked>, EngineError> {
        let options = &self.options;
        let by_pipeline = options
            .approvals
            .iter()
            .filter(|(pattern, _)| {
                pattern.as_str() == tool || (is_glob(pattern) && glob_match(pattern, tool))
            })
            .map(|(_, mode)| *mode)
            .max()
            .unwrap_or_default();
        // The stricter of the manifest and the pipeline holds, with its approvers.
        let (mode, approvers, timeout_secs) = if policy.approval >= by_pipeline {
            (
                policy.approval,
                &policy.approvers,
                policy.approval_timeout_secs,
            )
        } else {
            (
                by_pipeline,
                &options.approvers,
                options.approval_timeout_secs,
            )
        };
        let services = run.services;
        let incoming = &turn.incoming;
        let needed = match mode {
            ApprovalMode::Never => false,
            ApprovalMode::Always => true,
            ApprovalMode::FirstUse => {
                !services
                    .store
                    .tool_approved(&incoming.user_id, tool, &approvers_key(approvers))
                    .await?
            }
        };
        if !needed {
            return Ok(None);
        }
        let decision = if turn.automated {
            // A hook or task has no one to ask: its call is never made.
            Decision::Unavailable("it was started by a task, not a person".to_owned())
        } else {
            let shown = shorten(
                &serde_json::to_string(arguments).unwrap_or_default(),
                SHOWN_ARGUMENT_CHARS,
            );
            let request = ApprovalRequest {
                id: format!("{}-{step}", turn.request_id),
                platform: incoming.platform.clone(),
                conversation: incoming.conversation.clone(),
                requester: incoming.user_id.clone(),
                requester_name: incoming.user_name.clone(),
                tool: tool.to_owned(),
                arguments: arguments.clone(),
                mode,
                approvers: approvers.clone(),
                timeout: Duration::from_secs(u64::from(timeout_secs)),
                question: fill(
                    &options.approval_question,
                    &[("tool", tool), ("arguments", &shown)],
                ),
            };
            services.approvers.ask(&request).await
        };
        tracing::info!(
            tool,
            step,
            decision = decision.as_str(),
            by = decision.decided_by().unwrap_or("-"),
            "tool approval"
        );
        services
            .events
            .emit(turn.event(EventData::ToolApproval(ToolApprovalEvent {
                tool: tool.to_owned(),
                step,
                mode: mode.as_str().to_owned(),
                decision: decision.as_str().to_owned(),
                decided_by: decision.decided_by().map(str::to_owned),
            })));
        Ok(Some(Asked {
            mode,
            decision,
            approvers: approvers_key(approvers),
        }))
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

/// Most characters of a call's arguments shown in an approval question: a chat message has
/// room for the gist of a long program, not all of it.
const SHOWN_ARGUMENT_CHARS: usize = 1_000;

/// What became of a call that needed approval.
struct Asked {
    mode: ApprovalMode,
    decision: Decision,
    /// Who could decide, as the tool log keys them.
    approvers: String,
}

/// Why a call was not approved, as the model is told.
fn denial_reason(decision: &Decision) -> String {
    match decision {
        Decision::Denied { by } => format!("{by} said no"),
        Decision::TimedOut => "no one answered in time".to_owned(),
        Decision::Unavailable(why) => format!("no one could be asked ({why})"),
        Decision::Approved { .. } => "it was approved".to_owned(),
    }
}

/// Keeps a call in the tool log; a store that cannot is a warning, not a failed turn.
async fn log(run: &Run<'_>, turn: &Turn, tool: &str, outcome: &str, asked: Option<&Asked>) {
    tracing::Span::current().record("clara.tool.outcome", outcome);
    let services = run.services;
    let incoming = &turn.incoming;
    let record = ToolCallRecord {
        at: services.clock.now(),
        request_id: turn.request_id.clone(),
        user_id: incoming.user_id.clone(),
        conversation: incoming.conversation.id.clone(),
        pipeline: run.pipeline.to_owned(),
        tool: tool.to_owned(),
        outcome: outcome.to_owned(),
        approval: asked.map(|a| a.mode.as_str().to_owned()),
        decision: asked.map(|a| a.decision.as_str().to_owned()),
        decided_by: asked.and_then(|a| a.decision.decided_by().map(str::to_owned)),
        approvers: asked.map(|a| a.approvers.clone()),
    };
    match services.store.record_tool_call(&record).await {
        Ok(id) if ran(outcome) => services.rates.note(
            Counted::ToolCalls,
            &record.user_id,
            &record.conversation,
            Stamp { at: record.at, id },
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, tool, "a tool call could not be logged"),
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
