//! Rate limits count in memory between reads of the store: a turn's own messages at once,
//! what another instance wrote once the window's read is a minute old.

use super::*;

fn limited_chat(messages: u32) -> String {
    CHAT.replace(
        "[[steps]]\ntype = \"build_context\"",
        &format!(
            "[[steps]]\ntype = \"rate_limit\"\nmessages = {messages}\nwindow_secs = 600\nadmins_exempt = false\n\n[[steps]]\ntype = \"build_context\""
        ),
    )
}

fn is_limited(outcome: &Outcome) -> bool {
    outcome
        .reply()
        .is_some_and(|r| r.starts_with("That's more than 2 messages in 10 minutes"))
}

#[tokio::test]
async fn a_window_slides_and_reads_what_others_wrote_after_a_minute() {
    let engine = engine_with(&limited_chat(2));
    for text in ["one", "two"] {
        engine.model.say("Ok.");
        assert!(!is_limited(&engine.send(text).await));
    }
    assert!(
        is_limited(&engine.send("three").await),
        "the third in the window"
    );
    // Past the window, only the new message counts.
    engine.clock.advance(600_001);
    engine.model.say("Ok.");
    assert!(!is_limited(&engine.send("four").await));
    // Another instance on the same database writes two of ann's messages: this one does not
    // see them until its read of the window is a minute old.
    let session = engine.store.open_session("ann", "dm-ann").await.unwrap();
    let session = session.expect("ann's session is open");
    for text in ["elsewhere 1", "elsewhere 2"] {
        let now = engine.clock.now();
        engine
            .store
            .add_message(&session.id, Role::User, None, text, now)
            .await
            .unwrap();
    }
    engine.model.say("Ok.");
    assert!(
        !is_limited(&engine.send("five").await),
        "counted in memory: four and five"
    );
    engine.clock.advance(60_000);
    assert!(
        is_limited(&engine.send("six").await),
        "read again: four, the two from elsewhere, five and six"
    );
    assert_eq!(
        engine.model.requests().len(),
        4,
        "no model call when limited"
    );
}
