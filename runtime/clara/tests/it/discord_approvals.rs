//! Tool approvals on the fake Discord, through the real twilight client: the question comes
//! with Approve / Deny buttons; a click from someone not allowed is told so privately and
//! changes nothing; an allowed click decides and the message says who; no click in time
//! denies; a click after the decision changes nothing.

use crate::support::fake_discord::{FakeDiscord, FakeMessage, SlashCommand};
use crate::support::fake_llm::{openai_stream, openai_tool_stream};
use crate::support::on_discord::*;

/// The chat pipeline asks before every dice roll, with these extra tool loop keys.
async fn asking(on: &OnDiscord, keys: &str) {
    let keys = format!("approvals = {{ roll_dice = \"always\" }}\n{keys}");
    crate::support::tool_loop_keys(on.root.path(), &keys);
    let reloaded = on.app().live.reload().await;
    assert!(
        matches!(reloaded, clara::live::Reload::Applied(_)),
        "{reloaded:?}"
    );
}

/// Ann asks for a roll; the model calls the tool, then says `then`.
fn ann_asks_for_a_roll(on: &OnDiscord, then: &str) {
    on.model.push(openai_tool_stream(
        &[("call_1", "roll_dice", r#"{"sides": 6}"#)],
        8,
    ));
    on.model.push(openai_stream(&[then]));
    on.ann_mentions("roll a die for me");
}

/// The question with buttons, once clara has posted it.
async fn question(on: &OnDiscord) -> FakeMessage {
    let has_buttons = |m: &FakeMessage| {
        m.json["components"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    };
    on.discord
        .wait_for(
            "the approval question",
            |fake: &FakeDiscord| fake.messages_in(GENERAL).iter().any(has_buttons),
            SOON,
        )
        .await;
    on.replies_in(GENERAL)
        .into_iter()
        .find(has_buttons)
        .unwrap()
}

/// The custom id of the question's button `n` (0 approve, 1 deny).
fn button(question: &FakeMessage, n: usize) -> String {
    question.json["components"][0]["components"][n]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Someone clicks; their answer's callback body.
async fn click(
    on: &OnDiscord,
    who: SlashCommand,
    message: u64,
    custom_id: &str,
) -> serde_json::Value {
    let token = on.discord.click_button(&who, message, custom_id);
    let answered = |fake: &FakeDiscord| {
        fake.interaction(&token)
            .is_some_and(|i| !i.callbacks.is_empty())
    };
    on.discord
        .wait_for("the click's answer", answered, SOON)
        .await;
    on.discord.interaction(&token).unwrap().callbacks[0].clone()
}

fn ann() -> SlashCommand {
    SlashCommand::guild(GENERAL, GUILD, ANN, "ann", "")
}

fn admin() -> SlashCommand {
    SlashCommand::guild(GENERAL, GUILD, BOB, "bob", "").roles(&[ADMIN_ROLE])
}

/// What the model was told about its tool call.
fn tool_result(on: &OnDiscord) -> String {
    let requests = on.model.requests();
    let messages = requests[1].body["messages"].as_array().unwrap().clone();
    let tool = messages.iter().find(|m| m["role"] == "tool").unwrap();
    tool["content"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_allowed_click_decides_and_a_second_one_changes_nothing() {
    let mut on = OnDiscord::start(&[]).await;
    asking(&on, "").await;
    ann_asks_for_a_roll(&on, "You rolled the die.");
    let asked = question(&on).await;
    assert_eq!(
        asked.content,
        "🔐 <@42> — May I run `roll_dice` with {\"sides\":6}?"
    );

    // Ann asked, but only admins decide (the default): she is told so, privately.
    let refused = click(&on, ann(), asked.id, &button(&asked, 0)).await;
    assert_eq!(refused["type"], 4);
    assert_eq!(refused["data"]["flags"], 64, "ephemeral: {refused}");
    assert_eq!(on.model.request_count(), 1, "the roll still waits");

    let approved = click(&on, admin(), asked.id, &button(&asked, 0)).await;
    assert_eq!(approved["type"], 7, "the question is updated: {approved}");
    on.wait_reply(GENERAL, 3, "You rolled the die.").await;
    let rolled: u32 = tool_result(&on).trim().parse().expect("a die's number");
    assert!((1..=6).contains(&rolled));
    let decided = on
        .replies_in(GENERAL)
        .into_iter()
        .find(|m| m.id == asked.id)
        .unwrap();
    assert!(
        decided.content.ends_with("\n-# ✅ Approved by <@43>."),
        "{}",
        decided.content
    );
    assert_eq!(decided.json["components"], serde_json::json!([]));

    // The decision is made: another click is told so and changes nothing.
    let late = click(&on, admin(), asked.id, &button(&asked, 1)).await;
    assert_eq!(late["data"]["flags"], 64);
    let store = &on.app().live.current().services.store;
    let logged = store.recent_tool_calls(10).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(
        (
            logged[0].decision.as_deref(),
            logged[0].decided_by.as_deref()
        ),
        (Some("approved"), Some("discord-43"))
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_may_decide_when_listed_and_a_deny_runs_nothing() {
    let mut on = OnDiscord::start(&[]).await;
    asking(&on, "approvers = [\"requester\"]\n").await;
    ann_asks_for_a_roll(&on, "I didn't roll it.");
    let asked = question(&on).await;
    let denied = click(&on, ann(), asked.id, &button(&asked, 1)).await;
    assert_eq!(denied["type"], 7);
    on.wait_reply(GENERAL, 2, "I didn't roll it.").await;
    assert_eq!(
        tool_result(&on),
        "Not run: `roll_dice` needs a person's approval, and discord-42 said no. Tell the user it was not run."
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_in_time_denies_and_a_late_click_changes_nothing() {
    let mut on = OnDiscord::start(&[]).await;
    asking(&on, "approval_timeout_secs = 1\n").await;
    ann_asks_for_a_roll(&on, "Nobody said yes.");
    let asked = question(&on).await;
    on.wait_reply(GENERAL, 2, "Nobody said yes.").await;
    assert!(
        tool_result(&on).contains("no one answered in time"),
        "{}",
        tool_result(&on)
    );
    let closed = on
        .replies_in(GENERAL)
        .into_iter()
        .find(|m| m.id == asked.id)
        .unwrap();
    assert!(
        closed
            .content
            .ends_with("\n-# ⌛ No answer in time: not run."),
        "{}",
        closed.content
    );
    let late = click(&on, admin(), asked.id, &button(&asked, 0)).await;
    assert_eq!(late["data"]["flags"], 64, "too late: {late}");
    assert_eq!(on.model.request_count(), 2, "nothing ran after all");
    on.stop().await;
}
