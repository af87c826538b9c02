//! One `clara test` case: a fixture run through the real engine (the root's pipelines,
//! personas, steps and tools) with a scripted model, an in-memory store and a clock that
//! moves only when the fixture says, then each turn checked against its expectations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clara_config::fixtures::turn_at;
use clara_config::model::fixture::{Expect, Fixture, FixtureTurn, ScriptedAnswer, SeedRole};
use clara_config::{ConfigSet, Loaded};
use clara_core::engine::{Conversation, Event, Incoming, Outcome};
use clara_core::llm::{
    ChatRequest, Message, Provider, ProviderErrorKind, Role, ScriptedProvider, ToolCall, Usage,
};
use clara_core::store::{MemoryQuery, NewMemory, Store};
use regex::Regex;

use super::observe::{system_prompt, tool_calls, tools_offered};
use super::scratch::{Scratch, SeedMessage};
use super::test_cassette;
use super::test_model::{AsProvider, Call, Calls};
use super::test_snapshot::{Compared, Snapshots};
use super::test_tools::{ToolScript, scripted as scripted_tools};

/// How a case went.
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// The fixture's path in the root.
    pub file: String,
    /// What did not hold, in order.
    pub failures: Vec<Failure>,
    /// How long it took.
    pub duration: Duration,
    /// Snapshots this run wrote, by path in the root.
    pub written: Vec<String>,
}

/// One expectation that did not hold.
pub struct Failure {
    /// `file:line:col` of the expectation (or of the turn).
    pub at: String,
    /// The turn, from 1.
    pub turn: usize,
    /// What was checked.
    pub what: String,
    /// What the fixture expected.
    pub expected: String,
    /// What happened.
    pub got: String,
}

/// What one turn did, as the expectations see it.
struct Observed {
    first_call: Option<Call>,
    reply: String,
    tier: Option<String>,
    requests: Vec<ChatRequest>,
    tokens: u32,
    events: Vec<Event>,
}

/// Runs `fixture` against the root `set` was loaded from.
pub async fn run_case(
    set: &Arc<ConfigSet>,
    fixture: &Loaded<Fixture>,
    snapshots: &Snapshots,
    live: Option<&clara::llm::Providers>,
) -> CaseResult {
    let started = Instant::now();
    let case = &fixture.value;
    let mut result = CaseResult {
        name: case.name.clone().unwrap_or_else(|| fixture.name.clone()),
        file: fixture.source.rel.clone(),
        failures: Vec::new(),
        duration: Duration::ZERO,
        written: Vec::new(),
    };
    let mut checks = Checks {
        fixture,
        snapshots,
        failures: &mut result.failures,
        written: &mut result.written,
    };
    if let Err(failure) = run_turns(set, fixture, &mut checks, live).await {
        result.failures.push(failure);
    }
    result.duration = started.elapsed();
    result
}

/// Where a case's checks report to.
struct Checks<'a> {
    fixture: &'a Loaded<Fixture>,
    snapshots: &'a Snapshots,
    failures: &'a mut Vec<Failure>,
    written: &'a mut Vec<String>,
}

/// Runs the turns and checks each. With `live` (recording cassettes), a fixture that names a
/// cassette is answered by the real providers and its cassette written from what they said.
async fn run_turns(
    set: &Arc<ConfigSet>,
    fixture: &Loaded<Fixture>,
    checks: &mut Checks<'_>,
    live: Option<&clara::llm::Providers>,
) -> Result<(), Failure> {
    let case = &fixture.value;
    let setup = |what: &str, got: String| Failure {
        at: format!("{}:{}", fixture.source.rel, fixture.source.doc.at),
        turn: 0,
        what: what.to_owned(),
        expected: "the case to start".to_owned(),
        got,
    };
    // Checked by `load_fixtures`; a bad time cannot reach here.
    let start = chrono::DateTime::parse_from_rfc3339(&case.start)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    let live = live.filter(|_| case.cassette.is_some());
    let cassette = match (&case.cassette, live) {
        (Some(name), None) => {
            Some(test_cassette::load(&set.root, name).map_err(|e| setup("the cassette", e))?)
        }
        _ => None,
    };
    let model = Arc::new(ScriptedProvider::new("scripted", "scripted"));
    let calls = Arc::new(Calls::default());
    let providers = set
        .clara
        .value
        .providers
        .iter()
        .map(|(name, config)| {
            let inner: Arc<dyn Provider> = match live.and_then(|p| p.get(name)) {
                Some(real) => real,
                None => model.clone(),
            };
            let provider = AsProvider::new(name, config, inner, &calls);
            (name.clone(), Arc::new(provider) as Arc<dyn Provider>)
        })
        .collect();
    let mut recording = live.map(|_| test_cassette::Cassette {
        recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        turns: Vec::new(),
    });
    let tool_script = Arc::new(ToolScript::default());
    let built = clara::tools::build(set, &clara::tools::http_client(), None).tools;
    let tools = scripted_tools(built, &tool_script);
    let scratch = Scratch::new(set, providers, tools, start)
        .map_err(|e| setup("the engine", e.to_string()))?;
    let Scratch {
        generation,
        store,
        clock,
        events,
    } = &scratch;
    let memories: Vec<NewMemory> = case
        .memories
        .iter()
        .map(|memory| NewMemory {
            user_id: case.user.clone(),
            project: memory.project.clone(),
            text: memory.text.clone(),
            is_key: memory.key,
            embedding: None,
        })
        .collect();
    scratch
        .seed_memories(memories)
        .await
        .map_err(|e| setup("seeding memories", e.to_string()))?;
    let history: Vec<SeedMessage<'_>> = case
        .history
        .iter()
        .map(|message| match message.role {
            SeedRole::User => SeedMessage {
                role: Role::User,
                author: Some(case.user_name.as_str()),
                text: &message.text,
            },
            SeedRole::Assistant => SeedMessage {
                role: Role::Assistant,
                author: None,
                text: &message.text,
            },
        })
        .collect();
    let conversation = incoming(case, "").conversation;
    scratch
        .seed_session(
            &case.user,
            &conversation,
            case.previous_summary.as_deref(),
            &history,
        )
        .await
        .map_err(|e| setup("seeding history", e.to_string()))?;
    for (index, turn) in case.turns.iter().enumerate() {
        clock.advance(turn.after_minutes as i64 * 60_000);
        tool_script.set(&turn.tool_results);
        let (calls_before, events_before) = (calls.len(), events.events().len());
        let script: Vec<ScriptedAnswer> = match (&cassette, &recording) {
            (_, Some(_)) => Vec::new(),
            (Some(cassette), None) => cassette.turns.get(index).cloned().unwrap_or_default(),
            (None, None) => turn.model.clone(),
        };
        for (call, answer) in script.iter().enumerate() {
            model.push(scripted(&model, answer, index, call));
        }
        let incoming = incoming(case, &turn.say);
        let outcome = match &case.pipeline {
            Some(name) => generation.handle_message_in(name, incoming, &|_| {}).await,
            None => generation.handle_message(incoming, &|_| {}).await,
        };
        let turn_failed = |what: &str, got: String| Failure {
            at: at(fixture, index, &["say"]),
            turn: index + 1,
            what: what.to_owned(),
            expected: "an answer".to_owned(),
            got,
        };
        let (reply, tier) = match outcome {
            Ok(Outcome::Replied { reply, tier, .. }) => (reply, tier),
            Ok(Outcome::Failed { reply, error, tier }) => {
                // The persona's error reply is a reply a fixture may expect; why it came is
                // said when something else fails.
                tracing::debug!(%error, "the turn failed");
                (format!("{reply}\n[the turn failed: {error}]"), tier)
            }
            Ok(Outcome::Ended(why)) => (format!("[no reply: {why:?}]"), None),
            Err(error) => return Err(turn_failed("the turn", error.to_string())),
        };
        let memory_work = generation
            .run_due_jobs(100)
            .await
            .map_err(|e| turn_failed("the memory work", e.to_string()))?;
        if memory_work.failed > 0 {
            tracing::debug!(failed = memory_work.failed, "memory jobs failed");
        }
        let made = calls.since(calls_before);
        let requests: Vec<ChatRequest> = made.iter().map(|c| c.request.clone()).collect();
        let script = match &mut recording {
            Some(cassette) => {
                let answers: Vec<ScriptedAnswer> =
                    made.iter().filter_map(|c| c.answer.clone()).collect();
                cassette.turns.push(answers.clone());
                answers
            }
            None => script,
        };
        let from = match &case.cassette {
            Some(name) => format!("the cassette {}", test_cassette::rel_path(name)),
            None => "the script".to_owned(),
        };
        if requests.len() > script.len() {
            // The calls past the script failed: what follows them says nothing.
            return Err(Failure {
                at: at(fixture, index, &["model"]),
                turn: index + 1,
                what: "scripted answers".to_owned(),
                expected: format!("{} model calls", script.len()),
                got: format!(
                    "the model was called {} times, {from} has {} replies; the calls asked: {}",
                    requests.len(),
                    script.len(),
                    describe_calls(&requests)
                ),
            });
        }
        let unused = model.remaining();
        let observed = Observed {
            first_call: made.into_iter().next(),
            reply,
            tier: tier.map(|t| t.as_str().to_owned()),
            tokens: script
                .iter()
                .take(requests.len())
                .map(|a| a.input_tokens + a.output_tokens)
                .sum(),
            requests,
            events: events.events()[events_before..].to_vec(),
        };
        check(checks, index, turn, &observed, store.as_ref()).await;
        if unused > 0 {
            checks.failures.push(Failure {
                at: at(fixture, index, &["model"]),
                turn: index + 1,
                what: "scripted answers".to_owned(),
                expected: format!("all {} used", script.len()),
                got: format!("{unused} left unused"),
            });
            // Left over, they would answer the next turn's calls.
            return Ok(());
        }
    }
    if let (Some(cassette), Some(name)) = (&recording, &case.cassette) {
        let rel = test_cassette::save(&set.root, name, cassette)
            .map_err(|e| setup("writing the cassette", e))?;
        checks.written.push(rel);
    }
    Ok(())
}

fn scripted(
    model: &ScriptedProvider,
    answer: &ScriptedAnswer,
    turn: usize,
    call: usize,
) -> Result<clara_core::llm::ChatResponse, ProviderErrorKind> {
    if let Some(message) = &answer.error {
        return Err(match answer.status {
            Some(status) => ProviderErrorKind::Status {
                status,
                message: message.clone(),
            },
            None => ProviderErrorKind::Api(message.clone()),
        });
    }
    let calls = answer
        .tool_calls
        .iter()
        .enumerate()
        .map(|(n, c)| ToolCall {
            id: format!("call-{}-{}-{}", turn + 1, call + 1, n + 1),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
        })
        .collect();
    let mut response = model.reply(&answer.reply, calls);
    response.usage = Usage {
        input_tokens: answer.input_tokens,
        output_tokens: answer.output_tokens,
        ..Usage::default()
    };
    Ok(response)
}

fn incoming(case: &Fixture, text: &str) -> Incoming {
    let conversation = match &case.channel {
        Some(channel) => Conversation::channel(channel),
        None => Conversation::dm(&case.user),
    };
    Incoming {
        is_admin: case.admin,
        ..Incoming::text(
            &case.platform,
            &case.user,
            &case.user_name,
            conversation,
            text.to_owned(),
        )
    }
}

fn at(fixture: &Loaded<Fixture>, turn: usize, key: &[&str]) -> String {
    format!("{}:{}", fixture.source.rel, turn_at(fixture, turn, key))
}

/// What each call asked, by the start of its last message, so a fixture's author can see
/// which answer goes where: `1) "…" 2) "…"`.
fn describe_calls(requests: &[ChatRequest]) -> String {
    let asked: Vec<String> = requests
        .iter()
        .enumerate()
        .map(|(n, request)| {
            let last = request
                .messages
                .last()
                .map(Message::last_text)
                .unwrap_or_default();
            let line = last.split_whitespace().collect::<Vec<_>>().join(" ");
            let mut start: String = line.chars().take(60).collect();
            if line.chars().count() > 60 {
                start.push('…');
            }
            format!("{}) {start:?}", n + 1)
        })
        .collect();
    asked.join(" ")
}

/// Whether `actual` holds every key of `wanted` with an equal value, recursively.
fn contains_json(actual: &serde_json::Value, wanted: &serde_json::Value) -> bool {
    match (actual, wanted) {
        (serde_json::Value::Object(actual), serde_json::Value::Object(wanted)) => wanted
            .iter()
            .all(|(k, v)| actual.get(k).is_some_and(|a| contains_json(a, v))),
        _ => actual == wanted,
    }
}

async fn check(
    checks: &mut Checks<'_>,
    index: usize,
    turn: &FixtureTurn,
    got: &Observed,
    store: &dyn Store,
) {
    let fixture = checks.fixture;
    let expect: &Expect = &turn.expect;
    let prompt = got.requests.first().map(system_prompt).unwrap_or_default();
    if expect.prompt_snapshot {
        match checks.snapshots.compare(&fixture.name, index + 1, &prompt) {
            Ok(Compared::Same) => {}
            Ok(Compared::Written(rel)) => checks.written.push(rel),
            Ok(Compared::Differs(stored)) => checks.failures.push(Failure {
                at: at(fixture, index, &["expect", "prompt_snapshot"]),
                turn: index + 1,
                what: "prompt_snapshot (`clara test --update` accepts the new prompt)".to_owned(),
                expected: stored,
                got: prompt.clone(),
            }),
            Ok(Compared::Missing(rel)) => checks.failures.push(Failure {
                at: at(fixture, index, &["expect", "prompt_snapshot"]),
                turn: index + 1,
                what: "prompt_snapshot".to_owned(),
                expected: format!("a snapshot at {rel}: run `clara test --update` to write it"),
                got: prompt.clone(),
            }),
            Err(err) => checks.failures.push(Failure {
                at: at(fixture, index, &["expect", "prompt_snapshot"]),
                turn: index + 1,
                what: "prompt_snapshot".to_owned(),
                expected: "a readable snapshot".to_owned(),
                got: err.to_string(),
            }),
        }
    }
    let failures = &mut *checks.failures;
    let mut fail = |key: &str, expected: String, actual: String| {
        failures.push(Failure {
            at: at(fixture, index, &["expect", key]),
            turn: index + 1,
            what: key.to_owned(),
            expected,
            got: actual,
        });
    };
    if let Some(reply) = &expect.reply
        && *reply != got.reply
    {
        fail("reply", reply.clone(), got.reply.clone());
    }
    for text in &expect.reply_contains {
        if !got.reply.contains(text.as_str()) {
            fail(
                "reply_contains",
                format!("contains {text:?}"),
                got.reply.clone(),
            );
        }
    }
    for text in &expect.reply_not_contains {
        if got.reply.contains(text.as_str()) {
            fail(
                "reply_not_contains",
                format!("no {text:?}"),
                got.reply.clone(),
            );
        }
    }
    if let Some(pattern) = &expect.reply_matches
        && !Regex::new(pattern).is_ok_and(|re| re.is_match(&got.reply))
    {
        fail(
            "reply_matches",
            format!("matches /{pattern}/"),
            got.reply.clone(),
        );
    }
    if let Some(tier) = &expect.tier
        && Some(tier.as_str()) != got.tier.as_deref()
    {
        let actual = got.tier.clone().unwrap_or_else(|| "none".to_owned());
        fail("tier", tier.as_str().to_owned(), actual);
    }
    let first_call = got.first_call.as_ref();
    if let Some(provider) = &expect.provider
        && Some(provider.as_str()) != first_call.map(|c| c.provider.as_str())
    {
        let actual = first_call.map_or_else(|| "no call".to_owned(), |c| c.provider.clone());
        fail("provider", provider.clone(), actual);
    }
    if let Some(model) = &expect.model
        && Some(model.as_str()) != first_call.map(|c| c.model.as_str())
    {
        let actual = first_call.map_or_else(|| "no call".to_owned(), |c| c.model.clone());
        fail("model", model.clone(), actual);
    }
    if let Some(calls) = expect.model_calls
        && calls as usize != got.requests.len()
    {
        fail(
            "model_calls",
            calls.to_string(),
            got.requests.len().to_string(),
        );
    }
    if let Some(tokens) = expect.tokens
        && tokens != got.tokens
    {
        fail("tokens", tokens.to_string(), got.tokens.to_string());
    }
    let called = tool_calls(&got.events);
    if let Some(names) = &expect.tools_called {
        let actual: Vec<&str> = called.iter().map(|(name, _)| name.as_str()).collect();
        if *names != actual {
            fail("tools_called", format!("{names:?}"), format!("{actual:?}"));
        }
    }
    for wanted in &expect.tool_calls {
        let found = called
            .iter()
            .any(|(name, args)| *name == wanted.name && contains_json(args, &wanted.arguments));
        if !found {
            let actual: Vec<String> = called.iter().map(|(n, a)| format!("{n} {a}")).collect();
            fail(
                "tool_calls",
                format!("{} {}", wanted.name, wanted.arguments),
                format!("{actual:?}"),
            );
        }
    }
    let first = got.requests.first();
    if !expect.tools_offered.is_empty() {
        let offered = first.map(tools_offered).unwrap_or_default();
        for name in &expect.tools_offered {
            if !offered.contains(name) {
                fail(
                    "tools_offered",
                    format!("offers {name:?}"),
                    format!("{offered:?}"),
                );
            }
        }
    }
    for text in &expect.prompt_contains {
        if !prompt.contains(text.as_str()) {
            fail(
                "prompt_contains",
                format!("contains {text:?}"),
                prompt.clone(),
            );
        }
    }
    for text in &expect.prompt_not_contains {
        if prompt.contains(text.as_str()) {
            fail(
                "prompt_not_contains",
                format!("no {text:?}"),
                prompt.clone(),
            );
        }
    }
    if let Some(pattern) = &expect.prompt_matches
        && !Regex::new(pattern).is_ok_and(|re| re.is_match(&prompt))
    {
        fail(
            "prompt_matches",
            format!("matches /{pattern}/"),
            prompt.clone(),
        );
    }
    if !expect.messages_contain.is_empty() {
        let sent: Vec<String> = got
            .requests
            .iter()
            .flat_map(|r| r.messages.iter().map(Message::text))
            .collect();
        for text in &expect.messages_contain {
            if !sent.iter().any(|m| m.contains(text.as_str())) {
                fail(
                    "messages_contain",
                    format!("a message with {text:?}"),
                    sent.join("\n---\n"),
                );
            }
        }
    }
    let names: Vec<&str> = got.events.iter().map(|e| e.name().as_str()).collect();
    for name in &expect.events {
        if !names.contains(&name.as_str()) {
            fail(
                "events",
                format!("emits {}", name.as_str()),
                format!("{names:?}"),
            );
        }
    }
    let user = &fixture.value.user;
    for text in &expect.memories {
        if !has_memory(store, user, text).await {
            fail(
                "memories",
                format!("a memory with {text:?}"),
                "none".to_owned(),
            );
        }
    }
    for text in &expect.memories_absent {
        if has_memory(store, user, text).await {
            fail(
                "memories_absent",
                format!("no memory with {text:?}"),
                "one".to_owned(),
            );
        }
    }
}

/// Whether one of `user`'s memories contains `text`.
async fn has_memory(store: &dyn Store, user: &str, text: &str) -> bool {
    let query = MemoryQuery {
        user_id: user,
        project: None,
        text,
        embedding: None,
        limit: 100,
        candidates: 1_000,
        rrf_k: 60,
    };
    store
        .search_memories(&query)
        .await
        .is_ok_and(|found| found.iter().any(|m| m.memory.text.contains(text)))
}
