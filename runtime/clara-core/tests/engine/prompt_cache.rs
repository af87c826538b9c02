//! The prompt built stable-first: a start that stays byte-identical from turn to turn, marked
//! for caching; the per-turn context at the head of the new message; and a long history whose
//! start does not move every turn.

use clara_core::llm::{ChatRequest, Message, Role};

use super::{CHAT, CLARA_TOML, Engine, engine_at};

const STABLE_PERSONA: &str = r#"
display_name = "Clara"
prompt = "You are {{ persona }}, on {{ platform }}."
tools = ["memory_*"]
"#;

/// Sends `texts` one turn at a minute apart and returns the chat requests.
async fn converse(engine: &Engine, texts: &[&str]) -> Vec<ChatRequest> {
    for text in texts {
        engine.model.say("Noted.");
        engine.send(text).await;
        engine.clock.advance(60_000);
    }
    engine.model.requests()
}

/// The messages up to the last cache point, with the marks taken off (a mark does not change
/// what is cached).
fn cached_start(request: &ChatRequest) -> Vec<Message> {
    let end = request
        .messages
        .iter()
        .rposition(|m| m.cache_point)
        .expect("the prompt has a cache point");
    request.messages[..=end]
        .iter()
        .map(|m| Message {
            cache_point: false,
            ..m.clone()
        })
        .collect()
}

#[tokio::test]
async fn the_stable_start_is_marked_and_repeated_byte_for_byte() {
    let engine = engine_at(CLARA_TOML, STABLE_PERSONA, CHAT, None);
    let requests = converse(&engine, &["hello", "how are you?", "tell me more"]).await;
    assert_eq!(requests.len(), 3);
    for pair in requests.windows(2) {
        let (this, next) = (cached_start(&pair[0]), cached_start(&pair[1]));
        assert!(next.len() > this.len(), "the history joined the start");
        assert_eq!(
            next[..this.len()],
            this[..],
            "the next turn repeats it exactly"
        );
    }
    for request in &requests {
        let systems: Vec<&Message> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .collect();
        assert!(systems.iter().all(|m| !m.text().contains("Current time")));
        assert!(
            systems.last().is_some_and(|m| m.cache_point),
            "marked after the persona"
        );
        let new = request.messages.last().expect("a new message");
        assert_eq!(new.role, Role::User);
        assert!(
            new.text()
                .starts_with("## Current Context\n- Current time:")
        );
        assert!(!new.cache_point, "what changes every turn is not cached");
    }
    let third = &requests[2].messages;
    let history_end = third.iter().rposition(|m| m.cache_point).unwrap();
    assert_eq!(third[history_end].role, Role::Assistant);
    assert_eq!(
        third.len(),
        history_end + 2,
        "after the history: the new message"
    );
    assert_eq!(third[history_end + 1].last_text(), "tell me more");
}

#[tokio::test]
async fn a_long_history_starts_at_the_same_message_for_several_turns() {
    let chat = CHAT.replace(
        "type = \"build_context\"\n",
        "type = \"build_context\"\nhistory_messages = 6\nhistory_trim_step = 4\nhistory_timestamps = false\n",
    );
    let engine = engine_at(CLARA_TOML, STABLE_PERSONA, &chat, None);
    let texts: Vec<String> = (1..=14).map(|n| format!("message {n}")).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let requests = converse(&engine, &texts).await;
    let starts: Vec<String> = requests
        .iter()
        .map(|r| {
            let history: Vec<&Message> = r.messages[..r.messages.len() - 1]
                .iter()
                .filter(|m| m.role != Role::System)
                .collect();
            assert!(history.len() <= 6, "never more than history_messages");
            history.first().map(|m| m.text()).unwrap_or_default()
        })
        .collect();
    // From turn 5 on the session holds more than six messages, so the history is cut. Cut at
    // exactly six it would start one turn later every turn; from a block boundary, its start
    // holds for two turns (a block of four messages, two per turn).
    let cut = &starts[4..];
    let moves = cut.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(moves <= cut.len().div_ceil(2), "{starts:#?}");
    assert!(moves >= 2, "the start still moves on: {starts:#?}");
    let shortest = requests[4..]
        .iter()
        .map(|r| r.messages.iter().filter(|m| m.role != Role::System).count() - 1)
        .min();
    assert!(
        shortest >= Some(2),
        "at least history_messages - history_trim_step"
    );
}

#[tokio::test]
async fn without_a_message_the_context_stays_before_the_history() {
    let engine = engine_at(CLARA_TOML, STABLE_PERSONA, CHAT, None);
    converse(&engine, &["hello"]).await;
    engine.model.say("How are you today?");
    engine
        .generation
        .run_pipeline("check_in", super::dm("ann", ""))
        .await
        .expect("the task runs");
    let requests = engine.model.requests();
    let task = requests.last().expect("the task's call");
    let first_other = task
        .messages
        .iter()
        .position(|m| m.role != Role::System)
        .expect("history and the instruction");
    assert!(
        task.messages[first_other..]
            .iter()
            .all(|m| m.role != Role::System),
        "every system message leads, as strict chat templates want: {:#?}",
        task.messages
    );
    assert!(
        task.messages[..first_other]
            .iter()
            .any(|m| m.text().contains("Current time"))
    );
    let marked: Vec<usize> = (0..task.messages.len())
        .filter(|&i| task.messages[i].cache_point)
        .collect();
    assert_eq!(marked.len(), 1, "only the stable system start is marked");
    assert!(marked[0] < first_other);
}
