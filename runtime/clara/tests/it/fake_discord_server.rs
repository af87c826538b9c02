//! Self-tests of the fake Discord, driven by the real twilight clients (a `Shard` and an HTTP
//! `Client`), so every payload the fake sends is proven to deserialize in twilight 0.18.

use crate::support::fake_discord;

use fake_discord::*;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::future::IntoFuture;
use std::time::{Duration, Instant};
use tokio::time::timeout;
use twilight_gateway::queue::Queue;
use twilight_gateway::{CloseFrame, StreamExt as _};
use twilight_gateway::{ConfigBuilder, Event, EventType, EventTypeFlags, Intents, Shard, ShardId};
use twilight_http::request::channel::reaction::RequestReactionType;
use twilight_http::{Client, Response};
use twilight_model::application::command::Command;
use twilight_model::application::interaction::application_command::CommandOptionValue;
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::channel::Message;
use twilight_model::channel::message::MessageType;
use twilight_model::gateway::payload::incoming::GuildCreate;
use twilight_model::guild::Permissions;
use twilight_model::http::attachment::Attachment;
use twilight_model::http::interaction::InteractionResponseType;
use twilight_model::http::interaction::{InteractionResponse, InteractionResponseData};
use twilight_model::id::Id;

/// Every wait is bounded so a broken fake fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(10);
const GUILD: u64 = 100;
const CHANNEL: u64 = 2000;
const ADMINS: u64 = 300;
const ALICE: u64 = 42;
const ALL: Intents = Intents::GUILDS
    .union(Intents::GUILD_MESSAGES)
    .union(Intents::DIRECT_MESSAGES)
    .union(Intents::MESSAGE_CONTENT);

/// Identifies at once: twilight's default queue spaces identifies 5 s apart.
struct NoWait;

impl Queue for NoWait {
    fn enqueue(&self, _shard: u32) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(());
        rx
    }
}

/// A REST call's deserialized body; any failure fails the test.
async fn ok<T, R>(request: R) -> T
where
    T: DeserializeOwned + Unpin,
    R: IntoFuture<Output = Result<Response<T>, twilight_http::Error>>,
{
    request.await.unwrap().model().await.unwrap()
}

/// A fake with one guild (`GUILD`: channel `CHANNEL`, role `ADMINS` with ADMINISTRATOR).
async fn start() -> FakeDiscord {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeDiscord::start().await;
    let roles = [(ADMINS, "admins", 0x8)];
    fake.add_guild(GUILD, "Test server", ALICE, &roles, &[(CHANNEL, "general")]);
    fake
}

/// The payload of the bot's next `Event::$kind`.
macro_rules! next {
    ($bot:expr, $kind:ident) => {
        match $bot.event(EventType::$kind).await {
            Event::$kind(payload) => payload,
            _ => unreachable!(),
        }
    };
}

/// The twilight side: a shard and a REST client pointed at the fake.
struct Bot {
    shard: Shard<NoWait>,
    http: Client,
}

impl Bot {
    fn new(fake: &FakeDiscord, id: ShardId, intents: Intents) -> Bot {
        let config = ConfigBuilder::new("FAKE_TOKEN".into(), intents)
            .proxy_url(fake.ws_url())
            .queue(NoWait)
            .build();
        let http = Client::builder()
            .token("FAKE_TOKEN".into())
            .proxy(fake.rest_proxy(), true)
            .timeout(Duration::from_secs(5))
            .build();
        Bot {
            shard: Shard::with_config(id, config),
            http,
        }
    }

    /// Connected: READY and the guild's GUILD_CREATE arrived.
    async fn connected(fake: &FakeDiscord) -> Bot {
        let mut bot = Bot::new(fake, ShardId::ONE, ALL);
        bot.event(EventType::GuildCreate).await;
        bot
    }

    /// The next event of `kind`; a payload twilight cannot deserialize fails the test.
    async fn event(&mut self, kind: EventType) -> Event {
        let wait = async {
            loop {
                match self.shard.next_event(EventTypeFlags::all()).await {
                    Some(Ok(event)) if event.kind() == kind => return event,
                    Some(Ok(_)) => {}
                    Some(Err(error)) => panic!("shard error: {error:?}"),
                    None => panic!("the shard ended while waiting for {kind:?}"),
                }
            }
        };
        timeout(LIMIT, wait).await.expect("the event in time")
    }

    async fn message(&mut self) -> Message {
        next!(self, MessageCreate).message
    }

    async fn interaction(&mut self) -> Interaction {
        next!(self, InteractionCreate).0
    }
}

#[tokio::test]
async fn ready_and_guild_create_deserialize() {
    let fake = start().await;
    let mut bot = Bot::new(&fake, ShardId::ONE, ALL);
    let ready = next!(bot, Ready);
    assert_eq!(ready.user.id.get(), BOT_ID);
    assert_eq!(ready.application.id.get(), APP_ID);
    assert_eq!(ready.guilds[0].id.get(), GUILD);
    assert_eq!(ready.resume_gateway_url, fake.ws_url());
    let GuildCreate::Available(guild) = *next!(bot, GuildCreate) else {
        panic!("an available guild")
    };
    assert_eq!(guild.owner_id.get(), ALICE);
    let admins = guild.roles.iter().find(|r| r.id.get() == ADMINS);
    assert_eq!(admins.unwrap().permissions, Permissions::ADMINISTRATOR);
    assert!(guild.roles.iter().any(|r| r.id.get() == GUILD), "@everyone");
    assert_eq!(guild.channels[0].name.as_deref(), Some("general"));

    let identify = &fake.identifies()[0];
    assert_eq!(identify.token, "Bot FAKE_TOKEN");
    assert_eq!(identify.shard, [0, 1]);
    assert_eq!(identify.intents, ALL.bits());
    fake.wait_identified(LIMIT).await;
}

#[tokio::test]
async fn user_messages_deserialize() {
    let fake = start().await;
    let mut bot = Bot::connected(&fake).await;
    let text = format!("<@{BOT_ID}> hi <@7>");
    let first = UserMessage::guild(CHANNEL, GUILD, ALICE, "alice", &text)
        .global_name("Alice")
        .roles(&[ADMINS])
        .nick("al")
        .mention_bot()
        .mention(7, "bob")
        .mention_role(ADMINS);
    let first = fake.send_user_message(first);
    let got = bot.message().await;
    assert_eq!(got.id.get(), first);
    assert_eq!(got.guild_id, Some(Id::new(GUILD)));
    assert_eq!(got.author.global_name.as_deref(), Some("Alice"));
    let member = got.member.as_ref().unwrap();
    assert_eq!(member.roles, [Id::new(ADMINS)]);
    assert_eq!(member.nick.as_deref(), Some("al"));
    let mentioned: Vec<u64> = got.mentions.iter().map(|m| m.id.get()).collect();
    assert_eq!(mentioned, [BOT_ID, 7]);
    assert_eq!(got.mention_roles, [Id::new(ADMINS)]);

    fake.send_user_message(UserMessage::dm(ALICE, "alice", "psst"));
    let dm = bot.message().await;
    assert_eq!(dm.channel_id.get(), dm_channel_id(ALICE));
    assert!(dm.guild_id.is_none() && dm.member.is_none());

    let reply = UserMessage::guild(CHANNEL, GUILD, ALICE, "alice", "and?");
    fake.send_user_message(reply.reply_to(first));
    let reply = bot.message().await;
    assert_eq!(reply.kind, MessageType::Reply);
    let reference = reply.reference.and_then(|r| r.message_id);
    assert_eq!(reference, Some(Id::new(first)));
    assert_eq!(reply.referenced_message.unwrap().content, text);

    let png = b"\x89PNG fake image bytes";
    let url = fake.serve_file("cat.png", png, "image/png");
    let size = png.len() as u64;
    let file = FileAttachment::image("cat.png", &url, size, "image/png", 640, 480);
    let robot = UserMessage::guild(CHANNEL, GUILD, 8, "robot", "look");
    fake.send_user_message(robot.by_bot().attachment(file));
    let with_file = bot.message().await;
    assert!(with_file.author.bot);
    let attachment = &with_file.attachments[0];
    assert_eq!(attachment.width, Some(640));
    let download = reqwest::get(&attachment.url).await.unwrap();
    assert_eq!(&download.bytes().await.unwrap()[..], png);
    let stored = fake.all_messages_in(CHANNEL).len();
    assert_eq!(stored, 3, "user messages are stored for GET");
}

#[tokio::test]
async fn bot_messages_round_trip_over_rest_and_echo() {
    let fake = start().await;
    let mut bot = Bot::connected(&fake).await;
    let question = UserMessage::guild(CHANNEL, GUILD, ALICE, "alice", "question");
    let asked = Id::new(fake.send_user_message(question));
    assert_eq!(bot.message().await.id, asked);
    let (http, channel) = (&bot.http, Id::new(CHANNEL));

    let sent = ok(http.create_message(channel).content("hello").reply(asked)).await;
    assert_eq!(
        (sent.author.id.get(), sent.kind),
        (BOT_ID, MessageType::Reply)
    );
    assert_eq!(sent.referenced_message.unwrap().content, "question");
    let edit = http.update_message(channel, sent.id);
    let edited = ok(edit.content(Some("hello (edited)"))).await;
    assert!(edited.edited_timestamp.is_some());
    let fetched = ok(http.message(channel, sent.id)).await;
    assert_eq!(fetched.content, "hello (edited)");
    assert_eq!(ok(http.message(channel, asked)).await.content, "question");

    let eyes = RequestReactionType::Unicode { name: "👀" };
    http.create_reaction(channel, asked, &eyes).await.unwrap();
    http.create_typing_trigger(channel).await.unwrap();
    let notes = b"some notes".to_vec();
    let upload = [Attachment::from_bytes("notes.txt".into(), notes.clone(), 1)];
    let create = http.create_message(channel).content("see file");
    let with_file = ok(create.attachments(&upload)).await;
    assert_eq!(with_file.attachments[0].filename, "notes.txt");
    http.delete_message(channel, with_file.id).await.unwrap();

    let mine = fake.messages_in(CHANNEL);
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].edits, ["hello", "hello (edited)"]);
    assert_eq!(mine[0].reference, Some(asked.get()));
    assert!(mine[1].deleted);
    assert_eq!(mine[1].attachments, ["notes.txt"]);
    assert_eq!(fake.reactions_on(CHANNEL, asked.get()), ["👀"]);
    assert_eq!(fake.typing_count(CHANNEL), 1);
    let posts = fake.requests_to("POST", "/channels/2000/messages");
    let upload = posts.last().unwrap();
    assert_eq!(upload.body["content"], "see file");
    assert_eq!(upload.files, [("notes.txt".to_owned(), notes)]);
    assert_eq!(upload.header("authorization"), Some("Bot FAKE_TOKEN"));

    // Discord echoes the bot's own actions on the gateway.
    assert_eq!(bot.message().await.author.id.get(), BOT_ID);
    assert_eq!(next!(bot, MessageUpdate).content, "hello (edited)");
    assert_eq!(next!(bot, MessageDelete).id, with_file.id);
}

#[tokio::test]
async fn other_rest_routes_deserialize() {
    let fake = start().await;
    let http = Bot::new(&fake, ShardId::ONE, ALL).http;
    let missing = http.message(Id::new(CHANNEL), Id::new(12345)).await;
    let missing = format!("{:?}", missing.unwrap_err());
    assert!(missing.contains("10008"), "{missing}");
    let dm = ok(http.create_private_channel(Id::new(ALICE))).await;
    assert_eq!(dm.id.get(), dm_channel_id(ALICE));
    let me = ok(http.current_user()).await;
    assert_eq!((me.id.get(), me.bot), (BOT_ID, true));
    let general = ok(http.channel(Id::new(CHANNEL))).await;
    assert_eq!(general.guild_id, Some(Id::new(GUILD)));
    assert_eq!(ok(http.gateway().authed()).await.url, fake.ws_url());
    let roles = http.roles(Id::new(GUILD)).await.unwrap();
    assert_eq!(roles.models().await.unwrap().len(), 2);
    assert!(fake.unhandled_requests().is_empty(), "{}", fake.dump());

    let _ = http.guild_members(Id::new(GUILD)).await;
    let unhandled = &fake.unhandled_requests()[0];
    assert_eq!(unhandled.path, "/guilds/100/members");
    assert_eq!(unhandled.status, 404);
}

#[tokio::test]
async fn a_429_is_retried_and_other_failures_surface() {
    let fake = start().await;
    let http = Bot::new(&fake, ShardId::ONE, ALL).http;
    let (posts, channel) = ("/channels/2000/messages", Id::new(CHANNEL));
    fake.fail_next("POST", posts, Failure::rate_limited(0.3));
    let started = Instant::now();
    ok(http.create_message(channel).content("after the limit")).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(290), "{waited:?}");
    let attempts = fake.requests_to("POST", posts);
    let statuses: Vec<u16> = attempts.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);
    assert_eq!(fake.messages_in(CHANNEL).len(), 1);

    fake.fail_next("POST", posts, Failure::server_error());
    let error = http.create_message(channel).content("boom").await;
    let error = format!("{:?}", error.unwrap_err());
    assert!(error.contains("500"), "{error}");
    assert_eq!(fake.messages_in(CHANNEL).len(), 1);

    let slow = Duration::from_millis(200);
    fake.delay("POST", "/channels/2000/typing", slow);
    let started = Instant::now();
    http.create_typing_trigger(channel).await.unwrap();
    assert!(started.elapsed() >= slow);
}

#[tokio::test]
async fn reconnect_resumes_and_replays_missed_dispatches() {
    let fake = start().await;
    let mut bot = Bot::connected(&fake).await;
    fake.lose_next_dispatches(1);
    let lost = UserMessage::guild(CHANNEL, GUILD, ALICE, "alice", "lost");
    let lost = fake.send_user_message(lost);
    fake.reconnect();
    bot.event(EventType::GatewayReconnect).await;
    let replayed = bot.message().await;
    assert_eq!(replayed.id.get(), lost, "replayed after RESUME");
    bot.event(EventType::Resumed).await;

    let resume = &fake.resumes()[0];
    assert!(resume.accepted);
    assert_eq!(resume.session_id, "fake-session-1");
    assert_eq!(resume.seq, 2, "READY and GUILD_CREATE were seen");
    let connections = fake.connections();
    assert_eq!(connections[0].client_close_code, Some(4000));
    assert!(connections[1].open && connections[1].resumed);
    assert_eq!(fake.identifies().len(), 1);
    let after = UserMessage::guild(CHANNEL, GUILD, ALICE, "alice", "after");
    let after = fake.send_user_message(after);
    let next = bot.message().await;
    assert_eq!(next.id.get(), after, "no duplicate of the replayed one");
}

#[tokio::test]
async fn invalid_session_and_fatal_close() {
    let fake = start().await;
    fake.set_heartbeat_interval(100);
    let mut bot = Bot::connected(&fake).await;
    bot.event(EventType::GatewayHeartbeatAck).await;
    assert!(fake.heartbeats() >= 1);

    fake.invalid_session(false);
    bot.event(EventType::GuildCreate).await;
    assert_eq!(fake.identifies().len(), 2, "a new session, not a resume");
    assert!(fake.resumes().is_empty());

    fake.close(4004);
    let frame: Option<CloseFrame> = next!(bot, GatewayClose);
    assert_eq!(frame.map(|f| f.code), Some(4004));
    let end = bot.shard.next_event(EventTypeFlags::all());
    let end = timeout(LIMIT, end).await.expect("the shard ends");
    assert!(end.is_none(), "4004 is fatal");
}

#[tokio::test]
async fn intents_and_shards_shape_what_is_delivered() {
    let fake = start().await;
    // Discord's rule: a guild's events go to shard (guild >> 22) % shards.
    let far = 1 << 22;
    fake.add_guild(far, "Other", ALICE, &[], &[(3000, "elsewhere")]);
    let little = Intents::GUILD_MESSAGES;
    let mut zero = Bot::new(&fake, ShardId::new(0, 2), little);
    let mut one = Bot::new(&fake, ShardId::new(1, 2), ALL);
    assert_eq!(next!(one, GuildCreate).id().get(), far);
    assert_eq!(next!(zero, GuildCreate).id().get(), GUILD);
    let shards: Vec<[u64; 2]> = fake.identifies().iter().map(|i| i.shard).collect();
    assert!(shards.contains(&[0, 2]) && shards.contains(&[1, 2]));

    // Shard 0 lacks MESSAGE_CONTENT and DIRECT_MESSAGES.
    let secret = UserMessage::guild(CHANNEL, GUILD, ALICE, "alice", "secret");
    fake.send_user_message(secret);
    assert_eq!(zero.message().await.content, "", "no MESSAGE_CONTENT");
    fake.send_user_message(UserMessage::dm(ALICE, "alice", "not delivered"));
    let hey = UserMessage::guild(CHANNEL, GUILD, ALICE, "alice", "hey <@1000>");
    fake.send_user_message(hey.mention_bot());
    let hey = zero.message().await;
    assert_eq!(hey.content, "hey <@1000>", "a mention keeps the content");
    let there = UserMessage::guild(3000, far, ALICE, "alice", "there");
    fake.send_user_message(there);
    assert_eq!(one.message().await.content, "there");
}

#[tokio::test]
async fn slash_commands_register_and_interactions_deserialize() {
    let fake = start().await;
    let mut bot = Bot::connected(&fake).await;
    let definitions: Vec<Command> = serde_json::from_value(json!([{
        "name": "clara", "description": "settings", "type": 1, "version": "1",
        "default_member_permissions": null,
        "options": [{"type": 1, "name": "channel", "description": "mode", "options": [
            {"type": 3, "name": "mode", "description": "how", "required": true,
             "choices": [{"name": "quiet", "value": "quiet"}]}]}]
    }]))
    .unwrap();
    // A second client, so the interaction client does not borrow `bot` while it is polled.
    let http = Bot::new(&fake, ShardId::ONE, ALL).http;
    let interaction = http.interaction(Id::new(APP_ID));
    let set = interaction.set_global_commands(&definitions).await;
    let registered = set.unwrap().models().await.unwrap();
    assert_eq!(registered[0].name, "clara");
    assert!(registered[0].id.is_some());
    assert_eq!(fake.commands(None).len(), 1);
    let guild = interaction.set_guild_commands(Id::new(GUILD), &definitions);
    let in_guild = guild.await.unwrap().models().await.unwrap();
    assert_eq!(in_guild[0].guild_id, Some(Id::new(GUILD)));

    let command = SlashCommand::guild(CHANNEL, GUILD, ALICE, "alice", "clara")
        .roles(&[ADMINS])
        .permissions(0x8)
        .subcommand("channel", &[("mode", json!("quiet"))]);
    fake.send_interaction(&command);
    let got = bot.interaction().await;
    assert_eq!(got.id.get(), command.id);
    assert_eq!(got.token, command.token);
    assert_eq!(got.channel.as_ref().unwrap().id.get(), CHANNEL);
    let member = got.member.as_ref().unwrap();
    assert_eq!(member.permissions, Some(Permissions::ADMINISTRATOR));
    assert_eq!(member.user.as_ref().unwrap().id.get(), ALICE);
    let Some(InteractionData::ApplicationCommand(data)) = &got.data else {
        panic!("command data")
    };
    let CommandOptionValue::SubCommand(options) = &data.options[0].value else {
        panic!("a subcommand")
    };
    let mode = &options[0].value;
    assert!(matches!(mode, CommandOptionValue::String(m) if m == "quiet"));

    let data = InteractionResponseData {
        content: Some("done".into()),
        ..Default::default()
    };
    let kind = InteractionResponseType::ChannelMessageWithSource;
    let response = InteractionResponse {
        kind,
        data: Some(data),
    };
    let respond = interaction.create_response(got.id, &got.token, &response);
    respond.await.unwrap();
    let update = interaction.update_response(&got.token);
    ok(update.content(Some("done!"))).await;
    ok(interaction.create_followup(&got.token).content("more")).await;
    let log = fake.interaction(&command.token).unwrap();
    assert_eq!(log.callbacks[0]["type"], 4);
    assert_eq!(log.original.unwrap().edits, ["done", "done!"]);
    assert_eq!(log.followups[0].content, "more");
    let again = interaction.create_response(got.id, &got.token, &response);
    let again = format!("{:?}", again.await.unwrap_err());
    assert!(again.contains("40060"), "{again}");

    let status = SlashCommand::dm(ALICE, "alice", "clara").subcommand("status", &[]);
    fake.send_interaction(&status);
    let dm = bot.interaction().await;
    assert_eq!(dm.guild_id, None);
    assert_eq!(dm.user.unwrap().id.get(), ALICE);
    assert!(fake.unhandled_requests().is_empty(), "{}", fake.dump());
}
