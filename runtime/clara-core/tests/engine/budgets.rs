//! Budgets on the engine: each action, the step's per-turn cap, two turns racing for the last
//! of a budget, memory work held to its own budget, and a task refused.

use std::sync::Arc;
use std::time::Duration;

use clara_config::model::common::Tier;
use clara_core::engine::{Clock, EventData};
use clara_core::llm::{
    BoxFuture, ChatRequest, ChatResponse, DeltaSink, Provider, ProviderError, Role,
    ScriptedProvider, ToolCall, Usage,
};
use clara_core::store::UsageRecord;
use serde_json::json;
use tokio::sync::Notify;

use super::{CHAT, CLARA_TOML, Engine, dm, engine_from};

/// An answer that reports `input` prompt and `output` reply tokens.
fn costing(text: &str, input: u32, output: u32, calls: Vec<ToolCall>) -> ChatResponse {
    ChatResponse {
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        },
        ..ScriptedProvider::new("scripted", "m").reply(text, calls)
    }
}

/// `CHAT` with every model call asking for at most `max_tokens` of reply, so each call's
/// estimate is about that much plus its prompt.
fn chat_capped(max_tokens: u32) -> String {
    CHAT.replace(
        "type = \"llm_call\"\n",
        &format!("type = \"llm_call\"\nmax_tokens = {max_tokens}\n"),
    )
}

fn with_budgets(budgets: &str) -> String {
    format!("{CLARA_TOML}\n{budgets}")
}

/// The `budget:*` events so far: (name, budget, action, purpose).
fn budget_events(engine: &Engine) -> Vec<(&'static str, String, String, String)> {
    engine
        .events
        .events()
        .iter()
        .filter_map(|e| match &e.data {
            EventData::BudgetWarning(b) | EventData::BudgetExceeded(b) => Some((
                e.name().as_str(),
                b.budget.clone(),
                b.action.clone(),
                b.purpose.clone(),
            )),
            _ => None,
        })
        .collect()
}

const DAILY_DOLLARS: &str = r#"
[pricing."m"]
input = 1.0
output = 1.0

[budgets.daily]
per = "user"
window = "day"
dollars = 0.005
"#;

#[tokio::test]
async fn a_spent_budget_refuses_with_the_persona_reply_and_the_message_is_kept() {
    // $1 per million tokens: a token is a micro-dollar, and the cap is 5,000 of them.
    let engine = engine_from(&with_budgets(DAILY_DOLLARS), &chat_capped(1000), None);
    engine.model.push(Ok(costing("Hi Ann!", 4000, 500, vec![])));
    assert_eq!(engine.send("hello").await.reply(), Some("Hi Ann!"));
    let refused = engine.send("and again").await;
    assert_eq!(
        refused.reply(),
        Some(
            "I've reached my spending limit for now, so I can't answer this one. Your message is saved; try again later."
        )
    );
    assert_eq!(
        engine.model.requests().len(),
        1,
        "the refused call is never made"
    );
    assert_eq!(
        engine.history().await,
        [
            (Role::User, "hello".to_owned()),
            (Role::Assistant, "Hi Ann!".to_owned()),
            (Role::User, "and again".to_owned()),
        ],
        "the refused message is stored"
    );
    assert_eq!(
        budget_events(&engine),
        [
            (
                "budget:warning",
                "daily".into(),
                "warn".into(),
                "turn".into()
            ),
            (
                "budget:exceeded",
                "daily".into(),
                "refuse".into(),
                "turn".into()
            ),
        ]
    );
    let events = engine.events.events();
    let exceeded = events.iter().find_map(|e| match &e.data {
        EventData::BudgetExceeded(b) => Some(b.clone()),
        _ => None,
    });
    let exceeded = exceeded.expect("a budget:exceeded event");
    assert_eq!(
        (exceeded.scope.as_str(), exceeded.window.as_str()),
        ("ann", "day")
    );
    assert_eq!(
        (exceeded.cost_micros, exceeded.cost_limit_micros),
        (4_500, Some(5_000))
    );

    // Another user has their own day; the next day is a fresh one.
    let bob = dm("bob", "hi");
    engine.model.say("Hi Bob!");
    let outcome = engine.generation.handle_message(bob, &|_| {}).await;
    assert_eq!(outcome.unwrap().reply(), Some("Hi Bob!"));
    engine.clock.advance(24 * 3_600_000);
    engine.model.say("Good morning!");
    assert_eq!(engine.send("morning").await.reply(), Some("Good morning!"));
}

#[tokio::test]
async fn a_warning_budget_lets_calls_through_and_says_so_once_a_window() {
    let budgets = r#"
[budgets.soft]
window = "hour"
tokens = 5000
warn_at = 0.5
action = "warn"
"#;
    let engine = engine_from(&with_budgets(budgets), &chat_capped(1000), None);
    for text in ["one", "two", "three", "four"] {
        engine.model.push(Ok(costing("ok", 2500, 500, vec![])));
        assert_eq!(engine.send(text).await.reply(), Some("ok"));
    }
    assert_eq!(engine.model.requests().len(), 4);
    assert_eq!(
        budget_events(&engine),
        [
            (
                "budget:warning",
                "soft".into(),
                "warn".into(),
                "turn".into()
            ),
            (
                "budget:exceeded",
                "soft".into(),
                "warn".into(),
                "turn".into()
            ),
        ],
        "one warning when half is spent, one overrun however many calls pass the cap"
    );
}

#[tokio::test]
async fn a_downgrading_budget_moves_calls_to_the_cheaper_tier() {
    let budgets = r#"
[budgets.daily]
window = "day"
tokens = 5000
action = "downgrade"
downgrade = { tier = "low" }
"#;
    let engine = engine_from(&with_budgets(budgets), &chat_capped(1000), None);
    engine.model.push(Ok(costing("full", 4000, 500, vec![])));
    engine.model.push(Ok(costing("cheaper", 100, 50, vec![])));
    assert_eq!(engine.send("one").await.reply(), Some("full"));
    assert_eq!(engine.send("two").await.reply(), Some("cheaper"));
    let tiers: Vec<Option<Tier>> = engine.model.requests().iter().map(|r| r.tier).collect();
    assert_eq!(tiers, [None, Some(Tier::Low)]);
    let exceeded = budget_events(&engine);
    assert_eq!(
        exceeded.last(),
        Some(&(
            "budget:exceeded",
            "daily".into(),
            "downgrade".into(),
            "turn".into()
        ))
    );
}

#[tokio::test]
async fn a_pipeline_step_caps_one_turn_and_its_own_reply_is_used() {
    let chat = chat_capped(1000).replace(
        "[[steps]]\ntype = \"build_context\"",
        "[[steps]]\ntype = \"budget\"\n\n[steps.limits.per_message]\nwindow = \"turn\"\ntokens = 3000\nreply = \"That's all the thinking one message gets.\"\n\n[[steps]]\ntype = \"build_context\"",
    );
    assert!(chat.contains("per_message"), "the step is in the pipeline");
    let engine = engine_from(CLARA_TOML, &chat, None);
    let search = ToolCall {
        id: "c1".to_owned(),
        name: "memory_search".to_owned(),
        arguments: json!({ "query": "bees" }),
    };
    engine
        .model
        .push(Ok(costing("Let me look.", 2000, 500, vec![search])));
    let outcome = engine.send("what do I keep?").await;
    assert_eq!(
        outcome.reply(),
        Some("That's all the thinking one message gets."),
        "the second call of the turn would pass the cap"
    );
    assert_eq!(engine.model.requests().len(), 1);
    let exceeded = engine.events.events();
    let per_turn = exceeded.iter().find_map(|e| match &e.data {
        EventData::BudgetExceeded(b) => Some((b.budget.clone(), b.per.clone(), b.tokens)),
        _ => None,
    });
    assert_eq!(
        per_turn,
        Some((
            "chat.budget.per_message".to_owned(),
            "turn".to_owned(),
            2500
        ))
    );
    // The next message is a new turn with the whole cap.
    engine.model.say("Bees.");
    assert_eq!(engine.send("bees?").await.reply(), Some("Bees."));
}

/// A model that holds each answer until the test lets it go.
struct Gated {
    scripted: ScriptedProvider,
    entered: Notify,
    release: Notify,
}

impl Provider for Gated {
    fn name(&self) -> &str {
        "scripted"
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            self.entered.notify_one();
            self.release.notified().await;
            self.scripted.chat(request, on_delta).await
        })
    }
}

#[tokio::test]
async fn two_turns_racing_for_the_last_of_a_budget_cannot_both_take_it() {
    let budgets = r#"
[budgets.daily]
window = "day"
tokens = 5000
"#;
    let gated = Arc::new(Gated {
        scripted: ScriptedProvider::new("scripted", "m"),
        entered: Notify::new(),
        release: Notify::new(),
    });
    gated
        .scripted
        .push(Ok(costing("First.", 1000, 200, vec![])));
    let engine = engine_from(
        &with_budgets(budgets),
        &chat_capped(3000),
        Some(gated.clone() as Arc<dyn Provider>),
    );
    let first = engine.generation.handle_message(dm("ann", "one"), &|_| {});
    let second = async {
        gated.entered.notified().await;
        // The first call is running and holds its estimate: what is left is too little.
        let outcome = engine
            .generation
            .handle_message(dm("ann", "two"), &|_| {})
            .await;
        gated.release.notify_one();
        outcome
    };
    let (first, second) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(first, second)
    })
    .await
    .expect("neither turn waits on the other");
    assert_eq!(first.unwrap().reply(), Some("First."));
    assert!(
        second
            .unwrap()
            .reply()
            .is_some_and(|r| r.starts_with("I've reached my spending limit")),
    );
    assert_eq!(gated.scripted.requests().len(), 1);
    // Settled at what it really spent, the first call leaves room for the next message.
    gated.scripted.push(Ok(costing("Third.", 100, 20, vec![])));
    let third = engine
        .generation
        .handle_message(dm("ann", "three"), &|_| {});
    let (third, ()) = tokio::join!(third, async {
        gated.entered.notified().await;
        gated.release.notify_one();
    });
    assert_eq!(third.unwrap().reply(), Some("Third."));
}

#[tokio::test]
async fn memory_work_obeys_its_own_budget_and_waits_for_the_next_window() {
    // An extraction call may reply with 8,000 tokens (`memory.max_tokens`): it reserves that.
    let budgets = r#"
[budgets.memory]
per = "everyone"
window = "day"
tokens = 20000
calls = ["memory"]
"#;
    let engine = engine_from(&with_budgets(budgets), CHAT, None);
    engine.model.say("Bees are lovely.");
    engine.send("I keep bees").await;
    engine.model.say("Goats too!");
    engine.send("I keep goats").await;
    let nothing = r#"{"facts": []}"#;
    engine
        .model
        .push(Ok(costing(nothing, 14_000, 1_000, vec![])));
    let report = engine.generation.run_due_jobs(10).await.unwrap();
    assert_eq!(
        (report.done, report.failed),
        (1, 1),
        "the second extraction does not fit what is left today"
    );
    assert_eq!(
        engine.model.requests().len(),
        3,
        "two turns, one extraction"
    );
    assert_eq!(
        budget_events(&engine),
        [(
            "budget:exceeded",
            "memory".into(),
            "refuse".into(),
            "memory".into()
        )],
        "the turns' own calls are not memory work"
    );
    // The engine's clock starts at 22:13 UTC: an hour on is the same day, two is the next.
    engine.clock.advance(3_600_000);
    let report = engine.generation.run_due_jobs(10).await.unwrap();
    assert_eq!(
        (report.done, report.failed),
        (0, 0),
        "it waits for the window"
    );
    engine.clock.advance(3_600_000);
    engine.model.push(Ok(costing(nothing, 100, 10, vec![])));
    let report = engine.generation.run_due_jobs(10).await.unwrap();
    assert_eq!((report.done, report.failed), (1, 0));
}

#[tokio::test]
async fn a_task_refused_by_its_budget_fails_instead_of_posting_the_refusal() {
    let budgets = r#"
[budgets.tasks]
per = "pipeline"
window = "month"
tokens = 10
calls = ["task"]
"#;
    let engine = engine_from(&with_budgets(budgets), CHAT, None);
    let task = engine
        .generation
        .run_pipeline("check_in", dm("ann", ""))
        .await;
    let error = task.expect_err("a refused task has nothing to post");
    assert_eq!(error.to_string(), "budget `tasks` is spent for this month");
    assert!(engine.model.requests().is_empty());
    // A user's turn on the same pipeline is not a task.
    engine.model.say("Hello.");
    assert_eq!(engine.send("hi").await.reply(), Some("Hello."));
}

/// A call recorded before this engine started (an earlier run of clara), an hour ago.
async fn spent_earlier(engine: &Engine, user: &str, pipeline: &str, tokens: u32) {
    let record = UsageRecord {
        at: engine.clock.now() - 3_600_000,
        user_id: Some(user.to_owned()),
        conversation: Some(format!("dm-{user}")),
        pipeline: Some(pipeline.to_owned()),
        purpose: "turn".to_owned(),
        provider: "scripted".to_owned(),
        model: "m".to_owned(),
        input_tokens: tokens,
        ..UsageRecord::default()
    };
    engine
        .store
        .record_usage(&record)
        .await
        .expect("the store keeps it");
}

#[tokio::test]
async fn spending_from_before_a_restart_counts_for_the_persona_and_the_channel() {
    // Every pipeline here answers as `clara`: what any of them spent is the persona's.
    let per_persona = "[budgets.clara]\nper = \"persona\"\nwindow = \"day\"\ntokens = 10000\n";
    let engine = engine_from(&with_budgets(per_persona), &chat_capped(1000), None);
    spent_earlier(&engine, "ann", "chat", 5_000).await;
    spent_earlier(&engine, "bob", "check_in", 4_500).await;
    let refused = engine.send("hello").await;
    assert!(
        refused
            .reply()
            .is_some_and(|r| r.starts_with("I've reached my spending limit")),
        "{refused:?}"
    );

    // Narrowed to the chat pipeline, the check-in's spending is not counted.
    let chat_only = format!("{per_persona}pipelines = [\"chat\"]\n");
    let engine = engine_from(&with_budgets(&chat_only), &chat_capped(1000), None);
    spent_earlier(&engine, "ann", "chat", 5_000).await;
    spent_earlier(&engine, "bob", "check_in", 4_500).await;
    engine.model.say("Hello!");
    assert_eq!(engine.send("hello").await.reply(), Some("Hello!"));

    // Per conversation: Ann's DM is spent, Bob's is not.
    let per_channel = "[budgets.dm]\nper = \"channel\"\nwindow = \"day\"\ntokens = 10000\n";
    let engine = engine_from(&with_budgets(per_channel), &chat_capped(1000), None);
    spent_earlier(&engine, "ann", "chat", 9_500).await;
    assert!(
        engine
            .send("hello")
            .await
            .reply()
            .is_some_and(|r| r.starts_with("I've reached my spending limit"))
    );
    engine.model.say("Hi Bob!");
    let bob = engine
        .generation
        .handle_message(dm("bob", "hi"), &|_| {})
        .await;
    assert_eq!(bob.unwrap().reply(), Some("Hi Bob!"));
}
