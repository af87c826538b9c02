//! `clara test`: the shipped fixtures pass; each expectation kind passes when it holds and
//! fails, at its `file:line:col`, when it does not; a broken persona reads as a failure; a
//! script that runs out or is left over says so; JUnit XML is written; broken fixture files
//! are reported like every other file.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::{self, edit, repo_root};

fn clara_test(root: &Path, args: &[&str]) -> Output {
    support::clara(root)
        .arg("test")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_shipped_fixtures_pass() {
    let out = clara_test(&repo_root(), &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok    chat: a greeting, a tier prefix, a tool round and a remembered fact (tests/chat.toml, "),
        "{text}"
    );
    assert!(
        text.contains("ok    chat: a new session after an idle half hour"),
        "{text}"
    );
    assert!(text.contains("2 cases: 2 passed, 0 failed ("), "{text}");
}

#[test]
fn a_broken_persona_fails_readably_and_junit_says_so() {
    let root = support::shipped_root();
    edit(
        &root.path().join("personas/clara.md"),
        "You are Clara, a personal",
        "You are Bob, a personal",
    );
    let junit = root.path().join("report.xml");
    let out = clara_test(root.path(), &["--junit", junit.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  chat: a greeting, a tier prefix, a tool round and a remembered fact (tests/chat.toml, "),
        "{text}"
    );
    assert!(
        text.contains(
            "  tests/chat.toml:25:19: turn 1, prompt_contains\n    expected: contains \"You are Clara\"\n    got:\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("      | You are Bob, a personal assistant"),
        "{text}"
    );
    assert!(text.contains("2 cases: 1 passed, 1 failed ("), "{text}");
    let xml = fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"clara test\" tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"tests/chat.toml:25:19: prompt_contains\">"),
        "{xml}"
    );
    assert!(xml.contains("classname=\"tests/sessions.toml\""), "{xml}");
}

/// One fixture whose every expectation holds, and one whose every expectation is wrong.
const PASSING: &str = r#"
name = "every kind holds"
user = "cat"
user_name = "Cat"

[[memories]]
text = "Cat lives in Oslo"
key = true

[[history]]
role = "user"
text = "I collect board games"

[[history]]
role = "assistant"
text = "Which one is your favourite?"

[[turns]]
say = "!low roll two dice"
model = [
    { tool_calls = [{ name = "roll_dice", arguments = { sides = 6, count = 2 } }], input_tokens = 100, output_tokens = 10 },
    { reply = "Two dice rolled.\nGood luck!", input_tokens = 150, output_tokens = 20 },
    { reply = '{"facts": [{"text": "Cat likes dice games", "is_key": false}]}' },
    { reply = '{"memory": [{"id": "new", "text": "Cat likes dice games", "event": "ADD", "is_key": false}]}' },
]

tool_results = { roll_dice = "rolled: 4 and 2" }

[turns.expect]
reply = "Two dice rolled.\nGood luck!"
reply_contains = ["Good luck"]
reply_not_contains = ["sorry"]
reply_matches = "^Two dice"
tier = "low"
provider = "openrouter"
model = "anthropic/claude-sonnet-4"
messages_contain = ["I collect board games", "Which one is your favourite?", "rolled: 4 and 2"]
model_calls = 4
tokens = 280
tools_called = ["roll_dice"]
tool_calls = [{ name = "roll_dice", arguments = { sides = 6 } }]
tools_offered = ["roll_dice"]
prompt_contains = ["KEY MEMORIES:\n- Cat lives in Oslo"]
prompt_not_contains = ["PROJECT MEMORIES"]
prompt_matches = "User: Cat"
events = ["tool:start", "message:sent"]
memories = ["Cat likes dice games"]
memories_absent = ["Cat dislikes dice"]
"#;

#[test]
fn every_expectation_kind_passes_when_it_holds_and_fails_where_it_is_written() {
    let root = support::shipped_root();
    let tests = root.path().join("tests");
    fs::remove_dir_all(&tests).unwrap();
    fs::create_dir_all(&tests).unwrap();
    fs::write(tests.join("holds.toml"), PASSING).unwrap();
    let failing = PASSING
        .replace("every kind holds", "every kind fails")
        .replace(
            "reply = \"Two dice rolled.\\nGood luck!\"\nreply_contains",
            "reply = \"Two dice rolled.\\nBad luck!\"\nreply_contains",
        )
        .replace("[\"Good luck\"]", "[\"Great luck\"]")
        .replace("[\"sorry\"]", "[\"dice\"]")
        .replace("\"^Two dice\"", "\"^Three dice\"")
        .replace("tier = \"low\"", "tier = \"high\"")
        .replace("provider = \"openrouter\"", "provider = \"nanogpt\"")
        .replace(
            "model = \"anthropic/claude-sonnet-4\"",
            "model = \"anthropic/claude-haiku\"",
        )
        .replace("\"rolled: 4 and 2\"]", "\"rolled: 6 and 6\"]")
        .replace("model_calls = 4", "model_calls = 3")
        .replace("tokens = 280", "tokens = 1")
        .replace("tools_called = [\"roll_dice\"]", "tools_called = []")
        .replace(
            "arguments = { sides = 6 } }]\ntools_offered",
            "arguments = { sides = 8 } }]\ntools_offered",
        )
        .replace(
            "tools_offered = [\"roll_dice\"]",
            "tools_offered = [\"web_search\"]",
        )
        .replace(
            "[\"KEY MEMORIES:\\n- Cat lives in Oslo\"]",
            "[\"Cat lives in Rome\"]",
        )
        .replace("[\"PROJECT MEMORIES\"]", "[\"KEY MEMORIES\"]")
        .replace("\"User: Cat\"", "\"User: Dog\"")
        .replace(
            "[\"tool:start\", \"message:sent\"]",
            "[\"session:timeout\"]",
        )
        .replace(
            "memories = [\"Cat likes dice games\"]",
            "memories = [\"Cat likes chess\"]",
        )
        .replace("[\"Cat dislikes dice\"]", "[\"Cat likes dice\"]");
    fs::write(tests.join("fails.toml"), &failing).unwrap();
    let out = clara_test(root.path(), &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ok    every kind holds (tests/holds.toml, "),
        "{text}"
    );
    assert!(
        text.contains("FAIL  every kind fails (tests/fails.toml, "),
        "{text}"
    );
    // Each expectation, at the line and column of its value.
    let lines: Vec<&str> = failing.lines().collect();
    for key in [
        "reply",
        "reply_contains",
        "reply_not_contains",
        "reply_matches",
        "tier",
        "provider",
        "model",
        "messages_contain",
        "model_calls",
        "tokens",
        "tools_called",
        "tool_calls",
        "tools_offered",
        "prompt_contains",
        "prompt_not_contains",
        "prompt_matches",
        "events",
        "memories",
        "memories_absent",
    ] {
        let expect = lines.iter().position(|l| *l == "[turns.expect]").unwrap();
        let line = expect
            + lines[expect..]
                .iter()
                .position(|l| l.starts_with(&format!("{key} = ")))
                .unwrap()
            + 1;
        let column = key.len() + 4;
        let at = format!("  tests/fails.toml:{line}:{column}: turn 1, {key}\n");
        assert!(text.contains(&at), "no {at:?} in\n{text}");
    }
    assert!(
        text.contains("    --- expected\n    +++ got\n      Two dice rolled.\n    - Bad luck!\n    + Good luck!\n"),
        "{text}"
    );
    assert!(
        text.contains("    expected: high\n    got:      low\n"),
        "{text}"
    );
    assert!(text.contains("2 cases: 1 passed, 1 failed ("), "{text}");
}

#[test]
fn a_script_that_runs_out_or_is_left_over_says_so() {
    let root = support::shipped_root();
    let tests = root.path().join("tests");
    fs::write(
        tests.join("short.toml"),
        "name = \"too short\"\n[[turns]]\nsay = \"hello\"\nmodel = [{ reply = \"hi\" }]\n",
    )
    .unwrap();
    fs::write(
        tests.join("long.toml"),
        "name = \"too long\"\n[[turns]]\nsay = \"hello\"\nmodel = [\n  { reply = \"hi\" },\n  { reply = '{\"facts\": []}' },\n  { reply = \"never asked\" },\n]\n",
    )
    .unwrap();
    let out = clara_test(root.path(), &["--filter", "too "]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "  tests/short.toml:4:9: turn 1, scripted answers\n    expected: 1 model calls\n    got:      the model was called 2 times, the script has 1 replies; the calls asked: 1) \"hello\" 2) \"You keep a memory of facts about Tester,"
        ),
        "{text}"
    );
    assert!(
        text.contains("  tests/long.toml:4:9: turn 1, scripted answers\n    expected: all 3 used\n    got:      1 left unused\n"),
        "{text}"
    );
    assert!(text.contains("2 cases: 0 passed, 2 failed ("), "{text}");
}

#[test]
fn paths_and_filter_choose_the_cases() {
    let root = support::shipped_root();
    let only = root.path().join("tests/sessions.toml");
    let out = clara_test(root.path(), &[only.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 case: 1 passed, 0 failed ("), "{text}");
    assert!(!text.contains("tests/chat.toml"), "{text}");
    let out = clara_test(root.path(), &["--filter", "tier prefix"]);
    let text = stdout(&out);
    assert!(
        text.contains("ok    chat: a greeting, a tier prefix"),
        "{text}"
    );
    assert!(text.contains("1 case: 1 passed"), "{text}");
    let missing = clara_test(root.path(), &["tests/nowhere.toml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("no such fixture file or folder: tests/nowhere.toml"),
        "{missing:?}"
    );
}

#[test]
fn broken_fixture_files_are_reported_at_their_positions() {
    let root = support::shipped_root();
    let tests = root.path().join("tests");
    fs::write(
        tests.join("broken.toml"),
        "pipeline = \"nope\"\n[[turns]]\nsay = \"hi\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    fs::write(
        tests.join("wrong.toml"),
        "pipeline = \"nope\"\nstart = \"yesterday\"\n[[turns]]\nsay = \"hi\"\nmodel = [{ status = 500 }, { error = \"x\", reply = \"y\" }]\n[turns.expect]\nreply_matches = \"(unclosed\"\n",
    )
    .unwrap();
    fs::write(
        tests.join("tier.toml"),
        "[[turns]]\nsay = \"hi\"\n[turns.expect]\ntier = \"medium\"\nevents = [\"message:arrived\"]\n",
    )
    .unwrap();
    fs::write(tests.join("empty.toml"), "turns = []\n").unwrap();
    let out = support::clara(root.path())
        .args(["validate", "--offline"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for problem in [
        "tests/broken.toml:4:1: unknown key `colour`; expected one of: after_minutes, expect, model, say, tool_results\n",
        "tests/wrong.toml:1:12: no pipeline `nope` in pipelines/ (there are: chat, check_in, session_summary)\n",
        "tests/wrong.toml:2:9: `start` is not an RFC 3339 time, like 2026-01-05T09:00:00Z\n",
        "tests/wrong.toml:5:10: `status` goes with `error`: add the error's message\n",
        "tests/wrong.toml:5:28: an answer is an `error` or a `reply` with `tool_calls`, not both\n",
        "tests/wrong.toml:7:17: `reply_matches` is not a regular expression",
        "tests/empty.toml:1:9:",
    ] {
        assert!(text.contains(problem), "no {problem:?} in\n{text}");
    }
    assert!(
        text.contains(
            "tests/tier.toml:4:8: unknown value `medium`; expected one of: high, mid, low\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("tests/tier.toml:5:11: unknown value `message:arrived`"),
        "{text}"
    );
    // The valid fixtures still run; the run fails for the broken files.
    let out = clara_test(root.path(), &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("2 cases: 2 passed, 0 failed, 9 problems in fixture files ("),
        "{text}"
    );
}

/// The README's example fixture, exactly as written there: it passes on the shipped root, and
/// fails as the README shows once the persona is renamed.
#[test]
fn the_readme_example_passes_and_fails_as_shown() {
    let readme = fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme.find("<!-- fixture example -->\n```toml\n").unwrap();
    let block = &readme[start..];
    let block = &block[block.find("```toml\n").unwrap() + 8..];
    let fixture = &block[..block.find("```\n").unwrap()];
    let root = support::shipped_root();
    let dog = root.path().join("tests/dog.toml");
    fs::write(&dog, fixture).unwrap();
    let out = clara_test(root.path(), &[dog.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("ok    remembers the dog (tests/dog.toml, "),
        "{text}"
    );
    edit(
        &root.path().join("personas/clara.md"),
        "You are Clara, a personal",
        "You are Bob, a personal",
    );
    let out = clara_test(root.path(), &[dog.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let shown = "  tests/dog.toml:19:19: turn 1, prompt_contains\n    expected: contains \"You are Clara\"\n    got:\n      | You can use tools.";
    assert!(text.contains(shown), "{text}");
    assert!(readme.contains(&shown.replace("You can use tools.", "You can use tools. …")));
    assert!(
        text.contains(
            "      | You are Bob, a personal assistant and companion to the people you talk with.\n"
        ),
        "{text}"
    );
}

#[test]
fn prompt_snapshots_are_written_by_update_and_show_what_changed() {
    let root = support::shipped_root();
    let fixture = "name = \"snap\"\n[[turns]]\nsay = \"hello\"\nmodel = [{ reply = \"hi\" }, { reply = '{\"facts\": []}' }]\n[turns.expect]\nprompt_snapshot = true\n";
    fs::write(root.path().join("tests/snap.toml"), fixture).unwrap();
    let args = ["--filter", "snap"];
    let missing = clara_test(root.path(), &args);
    let text = stdout(&missing);
    assert_eq!(missing.status.code(), Some(1), "{text}");
    assert!(
        text.contains("  tests/snap.toml:6:19: turn 1, prompt_snapshot\n    expected: a snapshot at tests/snapshots/snap.1.prompt: run `clara test --update` to write it\n    got:\n"),
        "{text}"
    );
    let update = clara_test(root.path(), &["--update", "--filter", "snap"]);
    let text = stdout(&update);
    assert!(update.status.success(), "{text}");
    assert!(text.contains("ok    snap (tests/snap.toml, "), "{text}");
    assert!(
        text.contains("      wrote tests/snapshots/snap.1.prompt\n"),
        "{text}"
    );
    let snapshot = root.path().join("tests/snapshots/snap.1.prompt");
    let stored = fs::read_to_string(&snapshot).unwrap();
    assert!(
        stored.contains("You are Clara, a personal assistant"),
        "{stored}"
    );
    assert!(stored.contains("- User: Tester"), "{stored}");
    let again = clara_test(root.path(), &args);
    assert!(again.status.success(), "{}", stdout(&again));
    edit(
        &root.path().join("personas/clara.md"),
        "- Warm. You like",
        "- Warm! You like",
    );
    let changed = clara_test(root.path(), &args);
    let text = stdout(&changed);
    assert_eq!(changed.status.code(), Some(1), "{text}");
    assert!(
        text.contains("turn 1, prompt_snapshot (`clara test --update` accepts the new prompt)\n    --- expected\n    +++ got\n    …\n"),
        "{text}"
    );
    assert!(
        text.contains("    - - Warm. You like the people you talk with and it shows, without gushing or flattery.\n    + - Warm! You like the people you talk with and it shows, without gushing or flattery.\n"),
        "{text}"
    );
    assert!(
        !text.contains("How you talk"),
        "only lines near the change: {text}"
    );
    let accepted = clara_test(root.path(), &["--update", "--filter", "snap"]);
    assert!(accepted.status.success(), "{}", stdout(&accepted));
    assert!(
        fs::read_to_string(&snapshot)
            .unwrap()
            .contains("- Warm! You like")
    );
}

/// The fixtures `clara init` writes pass in the root it writes, whichever provider a
/// MyPalClara `.env` chose.
#[test]
fn a_fresh_root_from_a_mypalclara_env_passes_its_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("mypalclara.env");
    fs::write(
        &env,
        "LLM_PROVIDER=nanogpt\nNANOGPT_API_KEY=x\nNANOGPT_MODEL=some/model\n",
    )
    .unwrap();
    let root = dir.path().join("root");
    let init = support::clara(dir.path())
        .arg("init")
        .arg(&root)
        .arg("--from-env")
        .arg(&env)
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let out = clara_test(&root, &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 cases: 2 passed, 0 failed ("), "{text}");
}

#[test]
fn a_previous_session_summary_is_seeded_into_the_prompt() {
    let root = support::shipped_root();
    let tests = root.path().join("tests");
    let fixture = |summary: &str| {
        format!(
            r#"
user = "cat"
user_name = "Cat"
previous_summary = "{summary}"

[[turns]]
say = "hello again"
model = [{{ reply = "Welcome back!" }}, {{ reply = '{{"facts": []}}' }}]

[turns.expect]
prompt_contains = ["PREVIOUS SESSION SUMMARY:\nCat planned a trip to Bergen"]
"#
        )
    };
    fs::write(
        tests.join("summary.toml"),
        fixture("Cat planned a trip to Bergen"),
    )
    .unwrap();
    let path = tests.join("summary.toml");
    let out = clara_test(root.path(), &[path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    fs::write(&path, fixture("Cat repainted the kitchen")).unwrap();
    let out = clara_test(root.path(), &[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("Cat repainted the kitchen"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cassette_is_recorded_from_the_real_provider_and_played_without_it() {
    use crate::support::fake_llm::{self, FakeLlm};
    let root = support::shipped_root();
    let tests = root.path().join("tests");
    fs::write(
        tests.join("greeting.toml"),
        r#"
name = "greets from a cassette"
cassette = "greeting"

[[turns]]
say = "hi there"

[turns.expect]
reply = "Hello from the recorded model"
model_calls = 2
"#,
    )
    .unwrap();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&[
        "Hello from ",
        "the recorded model",
    ]));
    fake.push_background(fake_llm::openai_json(r#"{"facts": []}"#));
    let path = root.path().join("tests/greeting.toml");
    let run = |args: &[&str], env: Vec<(&'static str, String)>| {
        let mut command = support::clara(root.path());
        command.arg("test").arg(&path).args(args).envs(env);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };

    // Without its cassette the case says how to record one.
    let out = run(&[], Vec::new()).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(
            "no cassette at tests/cassettes/greeting.json: record it with `clara test --record-cassettes`"
        ),
        "{}",
        stdout(&out)
    );

    // Recording asks the real provider (here the fake server) and writes what it said.
    let env = vec![
        ("OPENROUTER_API_KEY", "sk-or-test".to_owned()),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url()),
    ];
    let out = run(&["--record-cassettes"], env).await.unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("wrote tests/cassettes/greeting.json"),
        "{}",
        stdout(&out)
    );
    assert_eq!(fake.request_count(), 2, "the reply and the memory work");
    let cassette = fs::read_to_string(tests.join("cassettes/greeting.json")).unwrap();
    assert!(
        cassette.contains("\"reply\": \"Hello from the recorded model\""),
        "{cassette}"
    );

    // Played back: no key, no server, the same result.
    drop(fake);
    let out = run(&[], Vec::new()).await.unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("1 case: 1 passed, 0 failed"),
        "{}",
        stdout(&out)
    );

    // A fixture cannot have both.
    edit(
        &path,
        "say = \"hi there\"",
        "say = \"hi there\"\nmodel = [{ reply = \"x\" }]",
    );
    let out = support::clara(root.path())
        .args(["validate", "--offline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out)
            .contains("tests/greeting.toml:7:9: this fixture plays its answers from a cassette")
            || String::from_utf8_lossy(&out.stderr).contains(
                "tests/greeting.toml:7:9: this fixture plays its answers from a cassette"
            ),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}
