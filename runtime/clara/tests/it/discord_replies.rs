//! Replies on Discord against a local fake: streamed by edits, split to fit, in DMs, with the
//! reply chain, images and text files, and tool status lines.

use std::time::Duration;

use crate::support::fake_discord::{BOT_ID, Failure, FileAttachment, UserMessage, dm_channel_id};
use crate::support::fake_llm::{openai_stream, openai_tool_stream, save_and_send_list};
use crate::support::on_discord::*;
use serde_json::json;

/// A PNG of one colour.
fn png(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb(colour))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_gets_a_reply_that_streams_by_edits() {
    let mut on = OnDiscord::start(&[]).await;
    let pieces = [
        "Hello ", "there, ", "Ann. ", "How ", "are ", "you ", "today?",
    ];
    on.model_streams(&pieces, Duration::from_millis(150));
    let asked = on.ann_mentions("hi clara");
    on.wait_reply(GENERAL, 1, "How are you today?").await;

    let replies = on.replies_in(GENERAL);
    assert_eq!(replies.len(), 1, "{}", on.discord.dump());
    let reply = &replies[0];
    assert_eq!(
        reply.reference,
        Some(asked),
        "the reply answers the message"
    );
    assert_eq!(reply.content, "Hello there, Ann. How are you today?");
    assert!(
        reply.edits.len() >= 3,
        "streamed as several edits: {:?}",
        reply.edits
    );
    assert!(reply.edits[0].len() < reply.content.len());
    assert!(on.discord.typing_count(GENERAL) >= 1, "typing shown");
    let sent = &on.discord.requests_to("POST", "/channels/2000/messages")[0];
    assert_eq!(
        sent.body["allowed_mentions"]["parse"],
        json!([]),
        "replies ping nobody"
    );
    let prompt = &on.prompts()[0];
    assert!(prompt.contains("[ann]: hi clara"), "{prompt}");
    assert!(
        !prompt.contains(&format!("<@{BOT_ID}>")),
        "clara's mention is removed"
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_is_answered_in_the_dm() {
    let mut on = OnDiscord::start(&[]).await;
    on.model.push(openai_stream(&["Hi Ann!"]));
    on.discord
        .send_user_message(UserMessage::dm(ANN, "ann", "hello from my DMs"));
    on.wait_reply(dm_channel_id(ANN), 1, "Hi Ann!").await;
    let prompt = &on.prompts()[0];
    assert!(prompt.contains("hello from my DMs"), "{prompt}");
    assert!(
        !prompt.contains("[ann]:"),
        "no name prefix in DMs: {prompt}"
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_replies_are_split_into_messages_discord_accepts() {
    let mut on = OnDiscord::start(&[]).await;
    let paragraph = "Rice and beans are a complete protein when eaten together. ".repeat(16);
    let long = [paragraph.as_str(); 5].join("\n\n");
    assert!(long.chars().count() > 4_500);
    on.model
        .push(openai_stream(&[&long[..2000], &long[2000..]]));
    on.ann_mentions("tell me about rice");
    on.wait_reply(GENERAL, 3, "together.").await;
    let one_line = "x".repeat(2_500);
    on.model.push(openai_stream(&[&one_line]));
    on.ann_mentions("now one long line please");
    on.wait_reply(GENERAL, 5, "xxxx").await;

    let replies = on.replies_in(GENERAL);
    assert_eq!(replies.len(), 5, "{}", on.discord.dump());
    for reply in &replies {
        for version in &reply.edits {
            assert!(version.chars().count() <= 2000, "{} chars", version.len());
        }
    }
    let text: Vec<&str> = replies[..3].iter().map(|r| r.content.as_str()).collect();
    let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert!(
        words(&text.join("\n")) == words(&long),
        "the three messages hold the whole reply"
    );
    assert_eq!(replies[3].content.len() + replies[4].content.len(), 2_500);
    assert!(on.discord.unhandled_requests().is_empty());
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_reach_the_model_and_files_are_read_and_kept() {
    let mut on = OnDiscord::start(&[]).await;
    let png = png(40, 30, [200, 30, 30]);
    let image_url = on.discord.serve_file("red.png", &png, "image/png");
    let notes = b"buy rice\nbuy beans\n";
    let notes_url = on.discord.serve_file("notes.txt", notes, "text/plain");
    on.model
        .push(openai_stream(&["A red rectangle, and a shopping list."]));
    let image = FileAttachment::image("red.png", &image_url, png.len() as u64, "image/png", 40, 30);
    let file = FileAttachment::file("notes.txt", &notes_url, notes.len() as u64, "text/plain");
    on.discord.send_user_message(
        UserMessage::guild(
            GENERAL,
            GUILD,
            ANN,
            "ann",
            &format!("<@{BOT_ID}> what is this?"),
        )
        .mention_bot()
        .attachment(image)
        .attachment(file),
    );
    on.wait_reply(GENERAL, 1, "shopping list.").await;

    let request = &on.model.requests()[0].body;
    let user = request["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .to_string();
    assert!(user.contains("data:image/png;base64,"), "{user}");
    assert!(user.contains("--- Attached file: notes.txt ---"), "{user}");
    assert!(user.contains("buy beans"), "{user}");
    let kept = on.root.path().join("clara_files/discord-42");
    assert_eq!(std::fs::read(kept.join("red.png")).unwrap(), png);
    assert_eq!(std::fs::read(kept.join("notes.txt")).unwrap(), notes);
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_clara_is_answered_with_the_reply_chain() {
    let mut on = OnDiscord::start(&[]).await;
    let first = on.discord.send_user_message(UserMessage::guild(
        GENERAL,
        GUILD,
        BOB,
        "bob",
        "the sky looks green tonight",
    ));
    let clara_said = on.discord.send_user_message(
        UserMessage::guild(
            GENERAL,
            GUILD,
            BOT_ID,
            "clara",
            "Green skies can mean hail.",
        )
        .by_bot()
        .reply_to(first),
    );
    on.model.push(openai_stream(&["Stay inside, then."]));
    on.discord.send_user_message(
        UserMessage::guild(GENERAL, GUILD, ANN, "ann", "should we go out?").reply_to(clara_said),
    );
    on.wait_reply(GENERAL, 1, "Stay inside, then.").await;

    assert_eq!(
        on.model.request_count(),
        1,
        "only the reply to clara is answered"
    );
    let messages = on.model.requests()[0].body["messages"].to_string();
    let bob = messages
        .find("[bob]: the sky looks green tonight")
        .expect(&messages);
    let clara = messages
        .find("Green skies can mean hail.")
        .expect(&messages);
    let ann = messages.find("[ann]: should we go out?").expect(&messages);
    assert!(bob < clara && clara < ann, "oldest first: {messages}");
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_tool_shows_a_status_line() {
    let mut on = OnDiscord::start(&[]).await;
    on.model.push(openai_tool_stream(
        &[("call_1", "roll_dice", r#"{"sides": 6}"#)],
        8,
    ));
    on.model.push(openai_stream(&["You rolled the die."]));
    on.ann_mentions("roll a die for me");
    on.wait_reply(GENERAL, 2, "You rolled the die.").await;
    let contents = on.reply_texts(GENERAL);
    assert!(
        contents.iter().any(|c| c == "-# 🎲 Rolling dice… (step 1)"),
        "{contents:?}"
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_images_than_one_request_carries_go_in_batches() {
    let mut on = OnDiscord::start(&[]).await;
    let mut message = UserMessage::guild(
        GENERAL,
        GUILD,
        ANN,
        "ann",
        &format!("<@{BOT_ID}> compare these"),
    )
    .mention_bot();
    for (name, colour) in [("a.png", [255, 0, 0]), ("b.png", [0, 0, 255])] {
        let png = png(8, 8, colour);
        let url = on.discord.serve_file(name, &png, "image/png");
        message = message.attachment(FileAttachment::image(
            name,
            &url,
            png.len() as u64,
            "image/png",
            8,
            8,
        ));
    }
    on.model.push(openai_stream(&["The first is red."]));
    on.model.push(openai_stream(&["The second is blue."]));
    on.discord.send_user_message(message);
    on.wait_reply(GENERAL, 2, "The second is blue.").await;

    assert_eq!(
        on.model.request_count(),
        2,
        "one image per request (the default)"
    );
    let prompts = on.prompts();
    assert_eq!(prompts[0].matches("data:image/png;base64,").count(), 1);
    assert!(
        prompts[1].contains("Now please look at image 2 of 2"),
        "{}",
        prompts[1]
    );
    let contents = on.reply_texts(GENERAL);
    assert!(
        contents.contains(&"-# 🖼️ Processing 2 images in 2 batches…".to_owned()),
        "{contents:?}"
    );
    assert!(
        contents.contains(&"The first is red.\n\nThe second is blue.".to_owned()),
        "{contents:?}"
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_edit_mid_stream_is_mended_by_the_next() {
    let mut on = OnDiscord::start(&[]).await;
    on.discord
        .fail_next("PATCH", "/channels/2000/messages/", Failure::server_error());
    let pieces = ["One, ", "two, ", "three, ", "four, ", "five."];
    on.model_streams(&pieces, Duration::from_millis(250));
    let asked = on.ann_mentions("count to five");
    on.wait_reply(GENERAL, 1, "five.").await;

    let patches = on.discord.requests_to("PATCH", "/channels/2000/messages/");
    assert_eq!(patches[0].status, 500, "the first edit failed");
    assert_eq!(on.reply_texts(GENERAL), ["One, two, three, four, five."]);
    // Stopping lets the turn finish, so whatever it was going to mark is marked.
    on.stop().await;
    let marks = on.discord.reactions_on(GENERAL, asked);
    assert!(
        marks.is_empty(),
        "no ⚠️ for a reply that arrived whole: {marks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_model_sends_arrives_as_an_attachment_after_the_reply() {
    let mut on = OnDiscord::start(&[]).await;
    on.model.push(save_and_send_list());
    on.model.push(openai_stream(&["Here is your list."]));
    on.ann_mentions("write my shopping list to a file and send it");
    on.discord
        .wait_for(
            "a message with the file",
            |fake| {
                fake.messages_in(GENERAL)
                    .iter()
                    .any(|m| m.attachments == ["list.txt"])
            },
            SOON,
        )
        .await;
    let replies = on.replies_in(GENERAL);
    let text = replies
        .iter()
        .position(|m| m.content == "Here is your list.")
        .expect("the reply's text");
    let file = replies
        .iter()
        .position(|m| m.attachments == ["list.txt"])
        .unwrap();
    assert!(text < file, "the file follows the text: {replies:#?}");
    let url = replies[file].json["attachments"][0]["url"]
        .as_str()
        .unwrap();
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"milk\neggs\n");
    on.stop().await;
}
