//! The README's provider recipes, exactly as written there: each is applied to a copy of the
//! shipped root (its `.env` lines written, its TOML lines set in `clara.toml`), then two real
//! `clara chat` runs on a fake server must answer, write a memory on the recipe's memory model
//! (and embed it where the recipe has embeddings), and find it again the next day.

use std::path::Path;
use std::process::Output;

use crate::support::fake_llm::{self, FakeLlm, Reply};
use crate::support::{clara, repo_root, shipped_root};
use serde_json::{Value, json};

/// A recipe's blocks: the `sh` one holds `.env` lines, the `toml` one keys for `clara.toml`.
struct Recipe {
    env: String,
    toml: String,
}

fn recipe(name: &str) -> Recipe {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let marker = format!("<!-- recipe: {name} -->");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("the README has no {marker}"));
    let rest = &readme[start + marker.len()..];
    let end = ["<!-- recipe:", "\n## ", "\nTo pin memory"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    let mut recipe = Recipe {
        env: String::new(),
        toml: String::new(),
    };
    let mut block: Option<&mut String> = None;
    for line in rest[..end].lines() {
        match (line, block.is_some()) {
            ("```sh", false) => block = Some(&mut recipe.env),
            ("```toml", false) => block = Some(&mut recipe.toml),
            ("```", true) => block = None,
            (_, true) => {
                let text = block.as_mut().unwrap();
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    recipe
}

/// Sets every key of `from` in `into`, table by table, as a person editing the file would.
fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(old)), toml::Value::Table(new)) => merge(old, new),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn apply(root: &Path, recipe: &Recipe) {
    let path = root.join("clara.toml");
    let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    merge(
        &mut config,
        recipe.toml.parse().expect("the recipe's TOML parses"),
    );
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    std::fs::write(root.join(".env"), &recipe.env).unwrap();
}

async fn chat(root: &Path, text: &str, now: &str, env: &[(String, String)]) -> Output {
    let mut command = clara(root);
    command.args(["chat", "-m", text]).env("CLARA_NOW", now);
    command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("job failed"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    output
}

/// The provider's wire format: a streamed reply and a JSON answer.
#[derive(Clone, Copy)]
enum Wire {
    Openai,
    Anthropic,
}

impl Wire {
    fn stream(self, text: &str) -> Reply {
        match self {
            Wire::Openai => fake_llm::openai_stream(&[text]),
            Wire::Anthropic => fake_llm::anthropic_stream(&[text]),
        }
    }

    fn json(self, value: Value) -> Reply {
        match self {
            Wire::Openai => fake_llm::openai_json(&value.to_string()),
            Wire::Anthropic => fake_llm::anthropic_json(&value.to_string()),
        }
    }
}

/// What a recipe must lead to.
struct Expect {
    /// `CLARA_PROVIDERS__…__BASE_URL` variables pointed at the fake server.
    providers: &'static [&'static str],
    wire: Wire,
    chat_path: &'static str,
    reply_model: &'static str,
    memory_model: &'static str,
    /// The embedding model and its dimensions, when the recipe turns embeddings on.
    embeddings: Option<(&'static str, usize)>,
}

async fn follow(name: &str, expect: Expect) {
    let recipe = recipe(name);
    let root = shipped_root();
    apply(root.path(), &recipe);
    let fake = FakeLlm::start().await;
    if let Some((_, dims)) = expect.embeddings {
        fake.auto_embeddings(dims);
    }
    let mut env: Vec<(String, String)> = expect
        .providers
        .iter()
        .map(|p| (format!("CLARA_PROVIDERS__{p}__BASE_URL"), fake.base_url()))
        .collect();
    // The recipes are about chatting; Discord stays as shipped.
    env.push(("DISCORD_BOT_TOKEN".to_owned(), "unused".to_owned()));

    let validate = clara(root.path())
        .args(["validate", "--for", "chat"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let verdict = String::from_utf8_lossy(&validate.stdout);
    assert!(validate.status.success(), "{name}: {verdict}");
    assert!(verdict.starts_with("ok: "), "{name}: {verdict}");

    let wire = expect.wire;
    fake.push(wire.stream("Green tea, noted."));
    fake.push_background(wire.json(json!({ "facts": ["Likes green tea"] })));
    fake.push_background(
        wire.json(
            json!({ "memory": [{ "id": "new1", "text": "Likes green tea", "event": "ADD" }] }),
        ),
    );
    chat(
        root.path(),
        "I like green tea",
        "2026-03-02T10:00:00Z",
        &env,
    )
    .await;

    // A new day: the reply, and beside it the summary of yesterday's session (on the low
    // tier), then the extraction.
    fake.push(wire.stream("You like green tea."));
    fake.push_background(wire.json(json!("They said they like green tea.")));
    fake.push_background(wire.json(json!({ "facts": [] })));
    let day2 = chat(
        root.path(),
        "What do I like to drink?",
        "2026-03-03T10:00:00Z",
        &env,
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&day2.stdout),
        "You like green tea.\n"
    );

    let requests = fake.requests();
    let calls: Vec<&Value> = requests
        .iter()
        .filter(|r| r.path.ends_with(expect.chat_path))
        .map(|r| &r.body)
        .collect();
    let models: Vec<&str> = calls.iter().map(|b| b["model"].as_str().unwrap()).collect();
    assert_eq!(
        models[..3],
        [expect.reply_model, expect.memory_model, expect.memory_model],
        "{name}: reply, extraction, reconciliation"
    );
    // Day 2's summary may reach the model before or after the reply: it runs beside it.
    let mut day2_models = models[3..].to_vec();
    day2_models.sort_unstable();
    let mut expected = vec![expect.reply_model, expect.memory_model, expect.memory_model];
    expected.sort_unstable();
    assert_eq!(day2_models, expected, "{name}: reply, summary, extraction");
    let replies: Vec<&&Value> = calls.iter().filter(|b| b["stream"] == true).collect();
    let day2_prompt = replies[1].to_string();
    assert!(
        day2_prompt.contains("Likes green tea"),
        "{name}: {day2_prompt}"
    );
    let embedded: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .map(|r| r.body["model"].as_str().unwrap())
        .collect();
    match expect.embeddings {
        Some((model, _)) => {
            assert!(!embedded.is_empty(), "{name}: nothing was embedded");
            assert!(embedded.iter().all(|m| *m == model), "{name}: {embedded:?}");
        }
        None => assert!(embedded.is_empty(), "{name}: {embedded:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openrouter_recipe_remembers_with_openai_embeddings() {
    follow(
        "openrouter",
        Expect {
            providers: &["OPENROUTER", "OPENAI"],
            wire: Wire::Openai,
            chat_path: "/chat/completions",
            reply_model: "anthropic/claude-sonnet-4",
            memory_model: "anthropic/claude-haiku",
            embeddings: Some(("text-embedding-3-small", 1536)),
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_anthropic_recipe_remembers_on_claude_alone() {
    follow(
        "anthropic",
        Expect {
            providers: &["ANTHROPIC"],
            wire: Wire::Anthropic,
            chat_path: "/v1/messages",
            reply_model: "claude-sonnet-4-5",
            memory_model: "claude-haiku-4-5",
            embeddings: None,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_recipe_remembers_with_local_embeddings() {
    follow(
        "local",
        Expect {
            providers: &["LOCAL"],
            wire: Wire::Openai,
            chat_path: "/chat/completions",
            reply_model: "llama3.2",
            memory_model: "llama3.2",
            embeddings: Some(("nomic-embed-text", 768)),
        },
    )
    .await;
}
