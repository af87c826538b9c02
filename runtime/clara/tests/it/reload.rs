//! Hot reload: a turn in flight finishes on the configuration it started with and the next
//! turn sees the edit; invalid edits and edits that need a restart are kept out; tool
//! manifests come and go; editors' rename saves and vim's save dance are seen by the watcher.

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::fake_llm::{self, FakeLlm};
use clara::live::{Live, Reload, watch};
use clara_config::model::common::EventName;
use clara_core::engine::{RecordedEvents, SystemClock};
use serde_json::Value;

async fn start(root: &Path, fake: &FakeLlm, events: Arc<RecordedEvents>) -> Arc<Live> {
    let url = fake.base_url();
    let vars = [
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    Live::start(support::loader(root, &vars), Arc::new(SystemClock), events)
        .await
        .unwrap()
}

/// Answers `text` on the generation current now.
async fn turn(live: &Live, text: &str) -> String {
    let generation = live.current();
    let outcome = generation
        .handle_message(support::message("ann", text), &|_| {})
        .await
        .unwrap();
    assert_eq!(outcome.error(), None);
    outcome.reply().unwrap().to_owned()
}

/// Every system message of a request, joined.
fn system_prompt(request: &Value) -> String {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn offered(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn names(events: &RecordedEvents, name: EventName) -> Vec<Value> {
    events
        .events()
        .into_iter()
        .filter(|e| e.name() == name)
        .map(|e| e.data.to_json())
        .collect()
}

const PERSONA: &str = "personas/clara.md";
const FIRST_LINE: &str = "You are Clara, a personal assistant";

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_in_flight_keeps_its_persona_and_the_next_turn_gets_the_new_one() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let events = Arc::new(RecordedEvents::default());
    let live = start(root.path(), &fake, events.clone()).await;
    let mut slow = fake_llm::openai_stream(&["old answer"]);
    slow.first_byte_delay = Duration::from_millis(1500);
    fake.push(slow);
    fake.push(fake_llm::openai_stream(&["new answer"]));

    let in_flight = {
        let live = live.clone();
        tokio::spawn(async move { turn(&live, "first").await })
    };
    while fake.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    support::edit(
        &root.path().join(PERSONA),
        FIRST_LINE,
        "You are Clara the pirate, a personal assistant",
    );
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    // The new generation serves new turns at once, while the old turn is still waiting.
    assert!(!in_flight.is_finished());
    assert_eq!(turn(&live, "second").await, "new answer");
    assert_eq!(in_flight.await.unwrap(), "old answer");

    let requests = fake.requests();
    assert!(system_prompt(&requests[0].body).contains(FIRST_LINE));
    assert!(system_prompt(&requests[1].body).contains("Clara the pirate"));
    let reloaded = names(&events, EventName::ConfigReloaded);
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0]["changed"], serde_json::json!([PERSONA]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_edit_is_kept_out_and_the_next_valid_edit_goes_in() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let events = Arc::new(RecordedEvents::default());
    let live = start(root.path(), &fake, events.clone()).await;
    let before = live.current();

    let pipeline = root.path().join("pipelines/chat.toml");
    support::edit(
        &pipeline,
        "type = \"llm_call\"",
        "type = \"llm_call\"\nbogus = 1",
    );
    match live.reload().await {
        Reload::Invalid(problems) => {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert!(
                text.iter()
                    .any(|p| p.starts_with("pipelines/chat.toml:") && p.contains("bogus")),
                "{text:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        Arc::ptr_eq(&before, &live.current()),
        "the running generation stays"
    );
    let failed = names(&events, EventName::ConfigReloadFailed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["reason"], "invalid");

    support::edit(&pipeline, "\nbogus = 1", "");
    support::edit(
        &root.path().join(PERSONA),
        FIRST_LINE,
        "You are Clara (fixed), a personal assistant",
    );
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    fake.push(fake_llm::openai_stream(&["hi"]));
    turn(&live, "hello").await;
    assert!(system_prompt(&fake.requests()[0].body).contains("Clara (fixed)"));
    assert_eq!(live.reload().await, Reload::Unchanged);
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_manifests_added_changed_and_removed_reach_the_next_turn() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake, Arc::default()).await;
    let manifest = root.path().join("tools.d/shout.toml");
    let write = |description: &str| {
        std::fs::write(
            &manifest,
            format!("description = \"{description}\"\n\n[runner]\ntype = \"command\"\nprogram = \"echo\"\nargs = [\"HI\"]\n"),
        )
        .unwrap();
    };
    let offered_now = |live: Arc<Live>, fake: &FakeLlm| {
        fake.push(fake_llm::openai_stream(&["ok"]));
        let fake_count = fake.request_count();
        async move {
            // A different question each time: a repeat within seconds is a duplicate.
            turn(&live, &format!("which tools now? ({fake_count})")).await;
            fake_count
        }
    };

    write("Shout.");
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    let i = offered_now(live.clone(), &fake).await;
    let request = &fake.requests()[i].body;
    assert!(offered(request).contains(&"shout".to_owned()));
    let description = |request: &Value| {
        request["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["function"]["name"] == "shout")
            .map(|t| t["function"]["description"].as_str().unwrap().to_owned())
    };
    assert_eq!(description(request).as_deref(), Some("Shout."));

    write("Shout louder.");
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    let i = offered_now(live.clone(), &fake).await;
    assert_eq!(
        description(&fake.requests()[i].body).as_deref(),
        Some("Shout louder.")
    );

    std::fs::remove_file(&manifest).unwrap();
    match live.reload().await {
        Reload::Applied(changes) => assert_eq!(changes.removed, ["tools.d/shout.toml"]),
        other => panic!("{other:?}"),
    }
    let i = offered_now(live.clone(), &fake).await;
    assert!(!offered(&fake.requests()[i].body).contains(&"shout".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_change_is_refused_with_a_message_saying_it_needs_a_restart() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let events = Arc::new(RecordedEvents::default());
    let live = start(root.path(), &fake, events.clone()).await;
    let before = live.current();
    support::edit(
        &root.path().join("clara.toml"),
        "type = \"sqlite\"\npath = \"data/clara.db\"",
        "type = \"postgres\"\nurl_env = \"DATABASE_URL\"",
    );
    match live.reload().await {
        Reload::Refused(reason) => {
            assert!(
                reason.contains("store") && reason.contains("restart"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(Arc::ptr_eq(&before, &live.current()));
    let failed = names(&events, EventName::ConfigReloadFailed);
    assert_eq!(failed[0]["reason"], "needs_restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_providers_and_tools_are_kept_across_a_reload() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake, Arc::default()).await;
    let before = live.current();
    support::edit(
        &root.path().join(PERSONA),
        FIRST_LINE,
        "You are Clara, still a personal assistant",
    );
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    let after = live.current();
    assert!(Arc::ptr_eq(
        &before.services.providers["openrouter"],
        &after.services.providers["openrouter"]
    ));
    let tool = |g: &clara_core::engine::Generation| {
        g.services
            .tools
            .iter()
            .find(|t| t.spec().name == "roll_dice")
            .cloned()
            .unwrap()
    };
    assert!(Arc::ptr_eq(&tool(&before), &tool(&after)));
    assert!(Arc::ptr_eq(&before.services.store, &after.services.store));

    support::edit(
        &root.path().join("clara.toml"),
        "model = \"anthropic/claude-sonnet-4\"",
        "model = \"anthropic/claude-sonnet-4.5\"",
    );
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    assert!(!Arc::ptr_eq(
        &after.services.providers["openrouter"],
        &live.current().services.providers["openrouter"]
    ));
}

/// Waits until the persona's prompt on the current generation contains `text`; returns how
/// long that took.
async fn until_prompt_has(live: &Live, text: &str) -> Duration {
    let started = Instant::now();
    while !live.current().config.personas["clara"]
        .prompt
        .contains(text)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the watcher did not pick up the edit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_sees_in_place_rename_and_vim_saves() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake, Arc::default()).await;
    let _watcher = watch::watch(live.clone(), root.path(), Duration::from_millis(50)).unwrap();
    let persona = root.path().join(PERSONA);
    let original = std::fs::read_to_string(&persona).unwrap();

    // In place.
    std::fs::write(
        &persona,
        original.replace(FIRST_LINE, "You are Clara one, a personal assistant"),
    )
    .unwrap();
    until_prompt_has(&live, "Clara one").await;

    // Atomic rename over the file (VS Code and most editors).
    let temp = root.path().join("personas/.clara.md.tmp");
    std::fs::write(
        &temp,
        original.replace(FIRST_LINE, "You are Clara two, a personal assistant"),
    )
    .unwrap();
    std::fs::rename(&temp, &persona).unwrap();
    until_prompt_has(&live, "Clara two").await;

    // vim (backupcopy=no): probe file, move the original aside, write anew, drop the backup.
    let probe = root.path().join("personas/4913");
    std::fs::write(&probe, "").unwrap();
    std::fs::remove_file(&probe).unwrap();
    let backup = root.path().join("personas/clara.md~");
    std::fs::rename(&persona, &backup).unwrap();
    std::fs::write(
        &persona,
        original.replace(FIRST_LINE, "You are Clara three, a personal assistant"),
    )
    .unwrap();
    std::fs::remove_file(&backup).unwrap();
    until_prompt_has(&live, "Clara three").await;

    // A new manifest in a folder created after the watch started.
    std::fs::remove_dir_all(root.path().join("tools.d")).unwrap();
    until_tools_lack(&live, "roll_dice").await;
    std::fs::create_dir(root.path().join("tools.d")).unwrap();
    std::fs::write(
        root.path().join("tools.d/late.toml"),
        "description = \"Late.\"\n[runner]\ntype = \"command\"\nprogram = \"true\"\n",
    )
    .unwrap();
    let started = Instant::now();
    while !live
        .current()
        .services
        .tools
        .iter()
        .any(|t| t.spec().name == "late")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the new folder is not watched"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn until_tools_lack(live: &Live, name: &str) {
    let started = Instant::now();
    while live
        .current()
        .services
        .tools
        .iter()
        .any(|t| t.spec().name == name)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} is still offered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_memory_work_finds_its_step_by_name_after_a_reload_moves_or_removes_it() {
    let root = support::base_root();
    let pipeline = root.path().join("pipelines/chat.toml");
    support::edit(
        &pipeline,
        "type = \"write_memory\"",
        "type = \"write_memory\"\nid = \"remember\"\nextraction_prompt = \"FACTS ABOUT {{ user_name }} PLEASE\"",
    );
    let fake = FakeLlm::start().await;
    let url = fake.base_url();
    let vars = [("CLARA_PROVIDERS__LOCAL__BASE_URL", url.as_str())];
    let live = Live::start(
        support::loader(root.path(), &vars),
        Arc::new(SystemClock),
        Arc::new(RecordedEvents::default()),
    )
    .await
    .unwrap();
    fake.push(fake_llm::openai_stream(&["Hello, Ann."]));
    turn(&live, "I grow tomatoes").await;

    // The step moves down one place; at its old position is now the tool loop.
    support::edit(
        &pipeline,
        "type = \"ingest\"\n",
        "type = \"ingest\"\n\n[[steps]]\ntype = \"classify_tier\"\nclassifier = false\n",
    );
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    fake.push(fake_llm::openai_json(r#"{"facts": []}"#));
    let report = live.current().run_due_jobs(10).await.unwrap();
    assert_eq!((report.done, report.failed), (1, 0));
    let requests = fake.requests();
    let extraction = requests.last().unwrap().body.to_string();
    assert!(
        extraction.contains("FACTS ABOUT ann PLEASE"),
        "the queued job ran with its own step's prompt: {extraction}"
    );

    // A job whose step is gone fails loudly and stays queued; it never runs on defaults.
    fake.push(fake_llm::openai_stream(&["Noted."]));
    turn(&live, "I also keep bees").await;
    support::edit(&pipeline, "id = \"remember\"", "id = \"renamed\"");
    assert!(matches!(live.reload().await, Reload::Applied(_)));
    let before = fake.request_count();
    let report = live.current().run_due_jobs(10).await.unwrap();
    assert_eq!((report.done, report.failed), (0, 1));
    assert_eq!(
        fake.request_count(),
        before,
        "no extraction call on default settings"
    );
}
