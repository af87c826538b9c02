//! One config's side of a replay: a scratch engine seeded with what the stored session's user
//! had, answering from the replay tape, run one stored message at a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::ConfigSet;
use clara_core::engine::{Conversation, Incoming, Outcome};
use clara_core::llm::{ChatRequest, Provider};
use clara_core::store::{Millis, NewMemory};

use super::observe::tool_calls;
use super::replay_model::{Answer, ReplayProvider, Script, Tape};
use super::scratch::{Scratch, SeedMessage};
use super::test_tools::{ToolScript, scripted as scripted_tools};

/// What a tool call gets in a replay: tools never run, so a replay changes nothing outside.
const TOOL_NOT_RUN: &str = "[replay: the tool was not run]";

/// Where and by whom the replayed messages were sent.
pub struct Speaker {
    /// The platform, which picks the pipeline.
    pub platform: String,
    /// The user's id.
    pub user: String,
    /// Their display name.
    pub user_name: String,
    /// The conversation.
    pub conversation: Conversation,
}

impl Speaker {
    /// `text` as this speaker's message.
    pub fn says(&self, text: &str) -> Incoming {
        Incoming {
            // A stored channel message already names its author (`[Ann]: …`).
            authors_named: !self.conversation.is_dm,
            ..Incoming::text(
                &self.platform,
                &self.user,
                &self.user_name,
                self.conversation.clone(),
                text.to_owned(),
            )
        }
    }
}

/// What the user had before the session: memories, and the summary of the session before.
pub struct Seed<'a> {
    /// The user's memories.
    pub memories: Vec<NewMemory>,
    /// The previous session's summary.
    pub previous_summary: Option<&'a str>,
    /// Messages of the session before the first replayed one.
    pub history: Vec<SeedMessage<'a>>,
}

/// What one turn did in one world.
pub struct Seen {
    /// The tier chosen.
    pub tier: Option<String>,
    /// The reply (or what stood for it).
    pub reply: String,
    /// The turn's calls, in order.
    pub requests: Vec<ChatRequest>,
    /// Where each call's answer came from.
    pub answers: Vec<Answer>,
    /// The tools called, by name.
    pub tools_called: Vec<String>,
}

/// A config's engine for one replayed session.
pub struct World {
    scratch: Scratch,
    tape: Arc<Tape>,
}

impl World {
    /// The engine of `set`, its clock at `start`, seeded with `seed`; `live` holds the real
    /// providers for calls the script sends to the live model.
    pub async fn new(
        set: &Arc<ConfigSet>,
        live: Option<&clara::llm::Providers>,
        speaker: &Speaker,
        seed: Seed<'_>,
        start: Millis,
    ) -> anyhow::Result<World> {
        let tape = Tape::new();
        let providers: BTreeMap<String, Arc<dyn Provider>> = set
            .clara
            .value
            .providers
            .iter()
            .map(|(name, config)| {
                let real = live.and_then(|p| p.get(name));
                let provider = ReplayProvider::new(name, config, &tape, real);
                (name.clone(), Arc::new(provider) as Arc<dyn Provider>)
            })
            .collect();
        let built = clara::tools::build(set, &clara::tools::http_client(), None).tools;
        let not_run = built
            .iter()
            .map(|t| (t.spec().name.clone(), TOOL_NOT_RUN.to_owned()))
            .collect();
        let script = Arc::new(ToolScript::default());
        script.set(&not_run);
        let scratch = Scratch::new(set, providers, scripted_tools(built, &script), start)?;
        scratch.seed_memories(seed.memories).await?;
        scratch
            .seed_session(
                &speaker.user,
                &speaker.conversation,
                seed.previous_summary,
                &seed.history,
            )
            .await?;
        Ok(World { scratch, tape })
    }

    /// Runs `text` at `at`, the calls answered by `script` with `recorded` as the store's
    /// answer.
    pub async fn turn(
        &self,
        speaker: &Speaker,
        text: &str,
        at: Millis,
        recorded: &str,
        script: Script,
    ) -> anyhow::Result<Seen> {
        self.scratch.move_to(at);
        self.tape.start(recorded, script);
        let events_before = self.scratch.events.events().len();
        let outcome = self
            .scratch
            .generation
            .handle_message(speaker.says(text), &|_| {})
            .await?;
        let (reply, tier) = match outcome {
            Outcome::Replied { reply, tier, .. } => (reply, tier),
            Outcome::Failed { reply, error, tier } => {
                (format!("{reply}\n[the turn failed: {error}]"), tier)
            }
            Outcome::Ended(why) => (format!("[no reply: {why:?}]"), None),
        };
        let (requests, answers) = self.tape.played();
        let events = self.scratch.events.events();
        Ok(Seen {
            tier: tier.map(|t| t.as_str().to_owned()),
            reply,
            requests,
            answers,
            tools_called: tool_calls(&events[events_before..])
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        })
    }

    /// Runs the memory work the turns left, answered with no facts; returns how many calls it
    /// made.
    pub async fn memory_work(&self) -> anyhow::Result<usize> {
        self.tape.start("", Script::MemoryWork);
        self.scratch.generation.run_due_jobs(100).await?;
        Ok(self.tape.played().0.len())
    }
}
