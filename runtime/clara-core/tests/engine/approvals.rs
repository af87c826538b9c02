//! Tool approvals and tool call limits on the engine: a call waits for the adapter's approver,
//! runs only on a yes from someone allowed, is asked about once under `first_use`, fails
//! closed without an approver or in a task, and every decision is logged with who made it.

use std::sync::{Arc, Mutex};

use clara_core::engine::{ApprovalRequest, Approver, Decision, EventData};
use clara_core::llm::{BoxFuture, Role, ToolCall};
use serde_json::json;

use super::{CHAT, CLARA_TOML, Engine, dm, engine_from, reply};

/// Answers each request with the next scripted decision, keeping what it was asked.
#[derive(Default)]
struct Desk {
    answers: Mutex<Vec<Decision>>,
    asked: Mutex<Vec<ApprovalRequest>>,
}

impl Approver for Desk {
    fn ask<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Decision> {
        self.asked
            .lock()
            .expect("not poisoned")
            .push(request.clone());
        let answer = self.answers.lock().expect("not poisoned").remove(0);
        Box::pin(async move { answer })
    }
}

fn desk(engine: &Engine, answers: Vec<Decision>) -> Arc<Desk> {
    let desk = Arc::new(Desk {
        answers: Mutex::new(answers),
        asked: Mutex::default(),
    });
    engine.approvers.register("chat", desk.clone());
    desk
}

/// `CHAT` whose tool loop asks before `memory_remember` runs, as `mode` says.
fn chat_asking(mode: &str) -> String {
    CHAT.replace(
        "tools = [\"memory_*\"]\n",
        &format!("tools = [\"memory_*\"]\napprovals = {{ \"memory_rem*\" = \"{mode}\" }}\n"),
    )
}

fn remember(text: &str) -> ToolCall {
    ToolCall {
        id: "c1".to_owned(),
        name: "memory_remember".to_owned(),
        arguments: json!({ "text": text }),
    }
}

/// What the model was told about the tool call in its second request.
fn tool_result(engine: &Engine, request: usize) -> String {
    let requests = engine.model.requests();
    let last = requests[request].messages.last().cloned();
    let last = last.expect("a request has messages");
    assert_eq!(last.role, Role::Tool);
    last.text()
}

/// The `tool:approval` events: (decision, decided by).
fn approvals(engine: &Engine) -> Vec<(String, Option<String>)> {
    engine
        .events
        .events()
        .iter()
        .filter_map(|e| match &e.data {
            EventData::ToolApproval(a) => Some((a.decision.clone(), a.decided_by.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_approved_call_runs_and_first_use_asks_each_user_once() {
    let engine = engine_from(CLARA_TOML, &chat_asking("first_use"), None);
    let desk = desk(
        &engine,
        vec![Decision::Approved {
            by: "root".to_owned(),
        }],
    );
    engine
        .model
        .push(Ok(reply("Noting.", vec![remember("Ann keeps bees")])));
    engine.model.say("Noted.");
    engine.send("I keep bees").await;
    assert!(tool_result(&engine, 1).starts_with("Remembered ["));
    let asked = desk.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    let request = &asked[0];
    assert_eq!(
        (request.tool.as_str(), request.requester.as_str()),
        ("memory_remember", "ann")
    );
    assert_eq!(
        request.question,
        r#"May I run `memory_remember` with {"text":"Ann keeps bees"}?"#
    );
    assert!(request.may_decide("root", true), "admins decide by default");
    assert!(!request.may_decide("ann", false), "not the requester");

    // Approved once for Ann: her next call runs without asking.
    engine
        .model
        .push(Ok(reply("Noting.", vec![remember("Ann keeps goats")])));
    engine.model.say("Noted.");
    engine.send("I keep goats").await;
    assert!(tool_result(&engine, 3).starts_with("Remembered ["));
    assert_eq!(desk.asked.lock().unwrap().len(), 1, "not asked again");
    assert_eq!(
        approvals(&engine),
        [("approved".into(), Some("root".into()))]
    );
    let logged = engine.store.recent_tool_calls(10).await.unwrap();
    let rows: Vec<(&str, Option<&str>, Option<&str>)> = logged
        .iter()
        .map(|c| {
            (
                c.outcome.as_str(),
                c.decision.as_deref(),
                c.decided_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("ok", None, None), ("ok", Some("approved"), Some("root"))],
        "newest first; who approved is kept"
    );
}

#[tokio::test]
async fn a_denied_call_is_not_made_and_the_model_is_told_why() {
    let engine = engine_from(CLARA_TOML, &chat_asking("always"), None);
    desk(
        &engine,
        vec![Decision::Denied {
            by: "root".to_owned(),
        }],
    );
    engine
        .model
        .push(Ok(reply("Noting.", vec![remember("Ann keeps bees")])));
    engine.model.say("I didn't get to note that.");
    engine.send("I keep bees").await;
    assert_eq!(
        tool_result(&engine, 1),
        "Not run: `memory_remember` needs a person's approval, and root said no. Tell the user it was not run."
    );
    assert!(
        engine
            .store
            .key_memories("ann", 10)
            .await
            .unwrap()
            .is_empty()
            && engine.store.memories_of("ann").await.unwrap().is_empty(),
        "nothing was remembered"
    );
    assert_eq!(approvals(&engine), [("denied".into(), Some("root".into()))]);
    let logged = engine.store.recent_tool_calls(1).await.unwrap();
    assert_eq!(logged[0].outcome, "denied");
    assert_eq!(logged[0].approval.as_deref(), Some("always"));
}

#[tokio::test]
async fn without_an_approver_or_a_person_to_ask_the_call_fails_closed() {
    // No approver registered for the `chat` adapter.
    let engine = engine_from(CLARA_TOML, &chat_asking("always"), None);
    engine
        .model
        .push(Ok(reply("Noting.", vec![remember("Ann keeps bees")])));
    engine.model.say("Not noted.");
    engine.send("I keep bees").await;
    assert!(
        tool_result(&engine, 1)
            .contains("no one could be asked (the `chat` adapter cannot ask for approval)"),
        "{}",
        tool_result(&engine, 1)
    );

    // A task has no one to ask, even where an approver is registered.
    let desk = desk(&engine, vec![]);
    engine
        .model
        .push(Ok(reply("Noting.", vec![remember("Ann keeps goats")])));
    engine.model.say("Not noted.");
    engine
        .generation
        .run_pipeline("chat", dm("ann", "check in"))
        .await
        .unwrap();
    assert!(desk.asked.lock().unwrap().is_empty(), "no one was asked");
    assert!(tool_result(&engine, 3).contains("it was started by a task, not a person"));
    let decisions: Vec<String> = approvals(&engine).into_iter().map(|(d, _)| d).collect();
    assert_eq!(decisions, ["unavailable", "unavailable"]);
}

#[tokio::test]
async fn past_the_tool_call_limit_a_call_is_not_run_and_does_not_count() {
    let chat = CHAT.replace(
        "[[steps]]\ntype = \"build_context\"",
        "[[steps]]\ntype = \"rate_limit\"\ntool_calls = 1\nwindow_secs = 3600\nadmins_exempt = false\n\n[[steps]]\ntype = \"build_context\"",
    );
    let engine = engine_from(CLARA_TOML, &chat, None);
    let two = vec![
        remember("Ann keeps bees"),
        ToolCall {
            id: "c2".to_owned(),
            ..remember("Ann keeps goats")
        },
    ];
    engine.model.push(Ok(reply("Noting both.", two)));
    engine.model.say("Noted one.");
    engine.send("I keep bees and goats").await;
    let requests = engine.model.requests();
    let results: Vec<String> = requests[1]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(clara_core::llm::Message::text)
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].ends_with("]: Ann keeps bees"), "{}", results[0]);
    assert_eq!(
        results[1],
        "Not run: that is more than 1 tool call in 1 hour. Tell the user politely to try again later."
    );
    let logged = engine.store.recent_tool_calls(10).await.unwrap();
    let outcomes: Vec<&str> = logged.iter().map(|c| c.outcome.as_str()).collect();
    assert_eq!(outcomes, ["limited", "ok"]);
    assert_eq!(
        engine
            .store
            .tool_call_stamps(Some("ann"), None, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // An hour on, the window has room again.
    engine.clock.advance(3_600_001);
    engine
        .model
        .push(Ok(reply("Noting.", vec![remember("Ann keeps hens")])));
    engine.model.say("Noted.");
    engine.send("and hens").await;
    assert!(tool_result(&engine, 3).starts_with("Remembered ["));
}
