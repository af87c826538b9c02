//! One turn at a time per channel on Discord: waiting messages get a notice, an active
//! channel's backlog is answered in one turn, a stop phrase stops the running reply and clears
//! the queue, and stopping clara lets the running turn finish.

use std::time::Duration;

use crate::support::fake_discord::{BOT_ID, FakeDiscord, SlashCommand, UserMessage};
use crate::support::fake_llm::{Reply, openai_stream};
use crate::support::on_discord::*;
use serde_json::json;

/// The model answers after `delay`.
fn slow(text: &str, delay: Duration) -> Reply {
    Reply {
        first_byte_delay: delay,
        ..openai_stream(&[text])
    }
}

fn bot_messages_containing(fake: &FakeDiscord, channel: u64, text: &str) -> usize {
    fake.messages_in(channel)
        .iter()
        .filter(|m| m.content.contains(text))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_channel_queues_with_a_notice_and_answers_in_order() {
    // The notices are configuration; these replace the defaults the other tests see.
    let mut on = OnDiscord::start(&[
        (
            "CLARA_ADAPTERS__DISCORD__NOTICES__QUEUED",
            "-# busy, you are number {position}",
        ),
        (
            "CLARA_ADAPTERS__DISCORD__NOTICES__STARTING",
            "-# your turn after {waited}s",
        ),
    ])
    .await;
    on.model
        .push(slow("First answer.", Duration::from_millis(2500)));
    on.model.push(openai_stream(&["Second answer."]));
    on.model.push(openai_stream(&["Elsewhere answer."]));
    on.ann_mentions("first question");
    on.discord
        .wait_for(
            "the first turn to start",
            |f| f.typing_count(GENERAL) > 0,
            SOON,
        )
        .await;
    let waiting = on.discord.send_user_message(
        UserMessage::guild(
            GENERAL,
            GUILD,
            BOB,
            "bob",
            &format!("<@{BOT_ID}> second question"),
        )
        .mention_bot(),
    );
    let notice = |f: &FakeDiscord| bot_messages_containing(f, GENERAL, "you are number 1") == 1;
    on.discord.wait_for("the queue notice", notice, SOON).await;
    let notice = on.discord.messages_in(GENERAL)[0].clone();
    assert_eq!(notice.reference, Some(waiting));
    on.wait_reply(GENERAL, 4, "Second answer.").await;
    let contents = on.reply_texts(GENERAL);
    let first = contents.iter().position(|c| c == "First answer.").unwrap();
    let second = contents.iter().position(|c| c == "Second answer.").unwrap();
    assert!(first < second, "{contents:?}");
    assert!(
        contents
            .iter()
            .any(|c| c.starts_with("-# your turn after ")),
        "{contents:?}"
    );
    let prompts = on.prompts();
    assert!(prompts[0].contains("first question") && prompts[1].contains("second question"));
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_channel_answers_its_backlog_in_one_turn() {
    let mut on = OnDiscord::start(&[]).await;
    let active = SlashCommand::guild(GENERAL, GUILD, OWNER, "owner", "clara")
        .subcommand("channel", &[("mode", json!("active"))]);
    assert_eq!(on.slash(active).await, "This channel is now `active`.");

    on.model.push(slow("Morning!", Duration::from_millis(2500)));
    on.model
        .push(openai_stream(&["Rice for Bob, tea for Ann."]));
    let say = |author: u64, name: &str, text: &str| {
        on.discord
            .send_user_message(UserMessage::guild(GENERAL, GUILD, author, name, text))
    };
    say(ANN, "ann", "good morning all");
    on.discord
        .wait_for(
            "the first turn to start",
            |f| f.typing_count(GENERAL) > 0,
            SOON,
        )
        .await;
    let second = say(BOB, "bob", "what should I eat?");
    let third = say(ANN, "ann", "and what should I drink?");
    let hourglass = |f: &FakeDiscord| {
        [second, third]
            .iter()
            .all(|m| f.reactions_on(GENERAL, *m).contains(&"⏳".to_owned()))
    };
    on.discord
        .wait_for("⏳ on the waiting messages", hourglass, SOON)
        .await;
    on.wait_reply(GENERAL, 3, "tea for Ann.").await;

    assert_eq!(on.model.request_count(), 2, "one turn for the backlog");
    let batch = &on.prompts()[1];
    assert!(
        batch.contains("[bob]: what should I eat?\\n[ann]: and what should I drink?"),
        "{batch}"
    );
    assert!(
        !batch.contains("[ann]: [bob]"),
        "no second name prefix: {batch}"
    );
    let contents = on.reply_texts(GENERAL);
    assert!(
        contents
            .iter()
            .any(|c| c.starts_with("-# 📨 Catching up on 2 messages")),
        "{contents:?}"
    );
    let cleared = |f: &FakeDiscord| f.reactions_on(GENERAL, second).is_empty();
    on.discord.wait_for("⏳ removed", cleared, SOON).await;
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_phrase_stops_the_reply_and_clears_the_queue() {
    let mut on = OnDiscord::start(&[]).await;
    let pieces = [
        "Let ", "me ", "tell ", "you ", "a ", "very ", "long ", "story ", "about ", "rice.",
    ];
    on.model_streams(&pieces, Duration::from_millis(300));
    on.model.push(openai_stream(&["This must never be sent."]));
    on.ann_mentions("tell me a story");
    on.discord
        .wait_for(
            "the reply to start",
            |f| !f.messages_in(GENERAL).is_empty(),
            SOON,
        )
        .await;
    on.discord.send_user_message(
        UserMessage::guild(GENERAL, GUILD, BOB, "bob", &format!("<@{BOT_ID}> me next"))
            .mention_bot(),
    );
    let queued = |f: &FakeDiscord| bot_messages_containing(f, GENERAL, "queued (position 1)") == 1;
    on.discord.wait_for("the queue notice", queued, SOON).await;
    let stop = on.ann_mentions("clara stop");
    let stopped = |f: &FakeDiscord| f.reactions_on(GENERAL, stop).contains(&"🛑".to_owned());
    on.discord
        .wait_for("🛑 on the stop message", stopped, SOON)
        .await;
    let marked = |f: &FakeDiscord| bot_messages_containing(f, GENERAL, "-# 🛑 stopped") == 1;
    on.discord
        .wait_for("the reply marked stopped", marked, SOON)
        .await;

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        on.model.request_count(),
        1,
        "the queued message was dropped"
    );
    let reply = on
        .replies_in(GENERAL)
        .into_iter()
        .find(|m| m.content.starts_with("Let"))
        .unwrap();
    assert!(
        !reply.content.contains("rice."),
        "cut short: {}",
        reply.content
    );
    assert_eq!(
        bot_messages_containing(&on.discord, GENERAL, "never be sent"),
        0
    );

    let idle = on.ann_mentions("stop clara");
    let nothing = |f: &FakeDiscord| f.reactions_on(GENERAL, idle).contains(&"👌".to_owned());
    on.discord
        .wait_for("👌 when nothing runs", nothing, SOON)
        .await;
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_clara_lets_the_running_turn_finish() {
    let mut on = OnDiscord::start(&[]).await;
    on.model.push(slow(
        "Finished before leaving.",
        Duration::from_millis(1500),
    ));
    on.ann_mentions("one last thing");
    on.discord
        .wait_for("the turn to start", |f| f.typing_count(GENERAL) > 0, SOON)
        .await;
    on.stop().await;
    assert_eq!(on.reply_texts(GENERAL), ["Finished before leaving."]);
    let closed = on.discord.connections().iter().all(|c| !c.open);
    assert!(closed, "{}", on.discord.dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_message_is_answered_once_and_marked() {
    let mut on = OnDiscord::start(&[]).await;
    on.model
        .push(slow("Here is the plan.", Duration::from_millis(2500)));
    let first = on.ann_mentions("plan my week");
    on.discord
        .wait_for(
            "the first turn to start",
            |f| f.typing_count(GENERAL) > 0,
            SOON,
        )
        .await;
    // A double send while the first copy is being answered: no queue notice, a 🔁 mark.
    let during = on.ann_mentions("plan my week");
    let marked =
        |id: u64| move |f: &FakeDiscord| f.reactions_on(GENERAL, id).contains(&"🔁".to_owned());
    on.discord
        .wait_for("🔁 on the copy", marked(during), SOON)
        .await;
    on.wait_reply(GENERAL, 1, "Here is the plan.").await;
    // The same again after the answer, still within the window: the store catches it.
    let after = on.ann_mentions("plan my week");
    on.discord
        .wait_for("🔁 on the late copy", marked(after), SOON)
        .await;
    assert_eq!(
        on.model.request_count(),
        1,
        "one model call for three copies"
    );
    assert_eq!(
        bot_messages_containing(&on.discord, GENERAL, "queued"),
        0,
        "a copy gets no queue notice"
    );
    assert!(
        !on.discord
            .reactions_on(GENERAL, first)
            .contains(&"🔁".to_owned())
    );
    on.stop().await;
}
