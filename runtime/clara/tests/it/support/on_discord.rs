//! clara running on a fake Discord: the shipped root, the fake model, and an `App` started as
//! `clara run` starts it, connected through the real twilight client.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::time::Duration;

use clara::app::App;

use super::fake_discord::{FakeDiscord, SlashCommand, UserMessage};
use super::fake_llm::{FakeLlm, openai_stream};

/// The test server, its owner, and two of its channels.
pub const GUILD: u64 = 500;
pub const OWNER: u64 = 9;
pub const GENERAL: u64 = 2000;
pub const RANDOM: u64 = 2001;
/// Roles: the admin role by name, and a plain member role.
pub const ADMIN_ROLE: u64 = 700;
pub const MEMBER_ROLE: u64 = 701;
/// An ordinary user.
pub const ANN: u64 = 42;
pub const BOB: u64 = 43;

/// How long a test waits for something clara should do at once.
pub const SOON: Duration = Duration::from_secs(10);

/// A running clara with its fakes.
pub struct OnDiscord {
    pub discord: FakeDiscord,
    pub model: FakeLlm,
    pub root: tempfile::TempDir,
    pub app: Option<App>,
}

impl OnDiscord {
    /// Starts the fakes and clara, with `overrides` (`CLARA_…` variables) on top of the
    /// shipped configuration, and waits until the shard has identified.
    pub async fn start(overrides: &[(&str, &str)]) -> OnDiscord {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let discord = FakeDiscord::start().await;
        discord.add_guild(
            GUILD,
            "Test Server",
            OWNER,
            &[(ADMIN_ROLE, "Clara-Admin", 0), (MEMBER_ROLE, "member", 0)],
            &[(GENERAL, "general"), (RANDOM, "random")],
        );
        let model = FakeLlm::start().await;
        let root = super::shipped_root();
        let app = start_app(root.path(), &discord, &model, overrides).await;
        discord.wait_identified(SOON).await;
        let mut on = OnDiscord {
            discord,
            model,
            root,
            app: Some(app),
        };
        on.wait_ready().await;
        on
    }

    /// Waits until the adapter reports itself connected (READY handled).
    pub async fn wait_ready(&mut self) {
        let health = self.app().health.clone();
        let deadline = std::time::Instant::now() + SOON;
        while health.snapshot().http_status() != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "clara never connected"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `/metrics` would show `line` (counters move when a turn ends, a moment
    /// after its reply is on Discord).
    pub async fn wait_metric(&self, line: &str) {
        let deadline = std::time::Instant::now() + SOON;
        loop {
            let text = self.app().metrics.render(&self.app().health, None);
            if text.lines().any(|l| l == line) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no `{line}` in\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The running app.
    pub fn app(&self) -> &App {
        self.app.as_ref().expect("clara is running")
    }

    /// The model's next reply streams these pieces, `gap` apart.
    pub fn model_streams(&self, pieces: &[&str], gap: Duration) {
        self.model.push(super::fake_llm::Reply {
            piece_delay: Some(gap),
            ..openai_stream(pieces)
        });
    }

    /// Ann mentions clara in #general.
    pub fn ann_mentions(&self, text: &str) -> u64 {
        self.discord.send_user_message(
            UserMessage::guild(
                GENERAL,
                GUILD,
                ANN,
                "ann",
                &format!("<@{}> {text}", super::fake_discord::BOT_ID),
            )
            .mention_bot(),
        )
    }

    /// Runs a slash command and returns clara's answer (checked to be ephemeral).
    pub async fn slash(&self, command: SlashCommand) -> String {
        let token = command.token.clone();
        self.discord.send_interaction(&command);
        let answered = |fake: &FakeDiscord| {
            fake.interaction(&token)
                .is_some_and(|i| !i.callbacks.is_empty())
        };
        self.discord
            .wait_for("the slash command's answer", answered, SOON)
            .await;
        let callback = &self.discord.interaction(&token).unwrap().callbacks[0];
        assert_eq!(callback["data"]["flags"], 64, "ephemeral: {callback}");
        callback["data"]["content"].as_str().unwrap().to_owned()
    }

    /// Runs a slash command clara answers after "thinking…" and returns the answer it fills
    /// in (checked to be ephemeral).
    pub async fn slash_later(&self, command: SlashCommand) -> String {
        let token = command.token.clone();
        self.discord.send_interaction(&command);
        let filled = |fake: &FakeDiscord| {
            fake.interaction(&token)
                .and_then(|i| i.original)
                .is_some_and(|m| !m.content.is_empty())
        };
        self.discord
            .wait_for(
                "the slash command's answer",
                filled,
                Duration::from_secs(60),
            )
            .await;
        let log = self.discord.interaction(&token).unwrap();
        assert_eq!(log.callbacks[0]["type"], 5, "deferred: {:?}", log.callbacks);
        assert_eq!(log.callbacks[0]["data"]["flags"], 64, "ephemeral");
        log.original.unwrap().content
    }

    /// The text of clara's messages in `channel` that are still there.
    pub fn reply_texts(&self, channel: u64) -> Vec<String> {
        self.replies_in(channel)
            .into_iter()
            .map(|m| m.content)
            .collect()
    }

    /// clara's messages in `channel` that are still there.
    pub fn replies_in(&self, channel: u64) -> Vec<super::fake_discord::FakeMessage> {
        self.discord
            .messages_in(channel)
            .into_iter()
            .filter(|m| !m.deleted)
            .collect()
    }

    /// Waits until clara has `count` messages in `channel` whose last content ends with
    /// `ending` (streaming finished).
    pub async fn wait_reply(&self, channel: u64, count: usize, ending: &str) {
        let done = |fake: &FakeDiscord| {
            let messages: Vec<_> = fake
                .messages_in(channel)
                .into_iter()
                .filter(|m| !m.deleted)
                .collect();
            messages.len() >= count && messages.last().is_some_and(|m| m.content.ends_with(ending))
        };
        self.discord
            .wait_for(&format!("a reply ending `{ending}`"), done, SOON)
            .await;
    }

    /// What the model was asked, as text, request by request.
    pub fn prompts(&self) -> Vec<String> {
        self.model
            .requests()
            .into_iter()
            .map(|r| r.raw_body)
            .collect()
    }

    /// Stops clara as Ctrl-C does.
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown("test over").await;
        }
    }
}

/// Starts clara as `clara run` does, on the fakes.
pub async fn start_app(
    root: &Path,
    discord: &FakeDiscord,
    model: &FakeLlm,
    overrides: &[(&str, &str)],
) -> App {
    let ws = discord.ws_url();
    let rest = discord.rest_proxy();
    let mut vars: Vec<(&str, &str)> = vec![
        ("DISCORD_BOT_TOKEN", "FAKE_TOKEN"),
        ("CLARA_ADAPTERS__DISCORD__GATEWAY_URL", &ws),
        ("CLARA_ADAPTERS__DISCORD__API_PROXY", &rest),
        ("CLARA_ADAPTERS__DISCORD__EDIT_INTERVAL_MS", "200"),
    ];
    vars.extend_from_slice(overrides);
    super::start_run(root, model, &vars)
        .await
        .expect("clara starts")
}
