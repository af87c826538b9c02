//! `http` tools against a local server: templated URL, query and headers, secrets from the
//! environment (and never in a result), JSON bodies, extraction, and honest failures.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::fake_llm::{FakeLlm, Reply};
use clara::tools::http::{HttpSpec, HttpTool};
use clara_config::Env;
use clara_config::model::tool::{BodyMode, HttpMethod};
use clara_core::engine::{ManualClock, ToolContext};
use clara_core::llm::ToolSpec;
use clara_core::store::InMemoryStore;
use serde_json::json;

const TOKEN: &str = "ghp_secret123";

struct Manifest {
    method: HttpMethod,
    body: BodyMode,
    url: String,
    headers: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    extract: Option<&'static str>,
    timeout: Duration,
}

fn manifest(method: HttpMethod, url: String) -> Manifest {
    Manifest {
        method,
        body: BodyMode::Json,
        url,
        headers: BTreeMap::from([(
            "Authorization".to_owned(),
            "Bearer {{ env.GITHUB_TOKEN }}".to_owned(),
        )]),
        query: BTreeMap::new(),
        extract: None,
        timeout: Duration::from_secs(10),
    }
}

/// The context of a call that involves no connection (the store and clock go unused).
fn nobody() -> ToolContext<'static> {
    ToolContext {
        user_id: "ann",
        store: Box::leak(Box::new(InMemoryStore::new())),
        embedder: None,
        clock: Box::leak(Box::new(ManualClock::new(0))),
        search: (100, 60),
        files: None,
        place: None,
    }
}

fn build(m: &Manifest) -> HttpTool {
    let host = Env::from_vars([
        ("GITHUB_TOKEN".to_owned(), TOKEN.to_owned()),
        ("OTHER_SECRET".to_owned(), "not-for-tools".to_owned()),
    ]);
    HttpTool::new(HttpSpec {
        spec: ToolSpec {
            name: "t".to_owned(),
            description: "test".to_owned(),
            parameters: json!({"type": "object"}),
        },
        policy: Default::default(),
        client: clara::tools::http_client(),
        method: m.method,
        url: &m.url,
        headers: &m.headers,
        query: &m.query,
        body: m.body,
        extract: m.extract,
        secrets_env: &["GITHUB_TOKEN".to_owned()],
        host: &host,
        auth: None,
        files: None,
        timeout: m.timeout,
        max_output_bytes: 1 << 20,
    })
    .expect("templates compile")
}

#[tokio::test]
async fn get_fills_the_url_query_and_headers_and_sends_no_body() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::json(200, r#"[{"number":1,"title":"Crash"}]"#));
    let tool = build(&Manifest {
        query: BTreeMap::from([
            ("state".to_owned(), "{{ args.state }}".to_owned()),
            (
                "labels".to_owned(),
                "{{ args.labels | default(value='') }}".to_owned(),
            ),
        ]),
        ..manifest(
            HttpMethod::Get,
            format!(
                "{}/repos/{{{{ args.owner }}}}/{{{{ args.repo }}}}/issues",
                fake.base_url()
            ),
        )
    });
    let out = tool
        .run(
            &json!({"owner": "ann", "repo": "clara", "state": "open a&b"}),
            &nobody(),
        )
        .await
        .unwrap();
    assert_eq!(out, r#"[{"number":1,"title":"Crash"}]"#);
    let request = &fake.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/repos/ann/clara/issues?state=open+a%26b");
    let auth = request.headers.iter().find(|(n, _)| n == "authorization");
    assert_eq!(auth.map(|(_, v)| v.as_str()), Some("Bearer ghp_secret123"));
    assert_eq!(request.raw_body, "");
}

#[tokio::test]
async fn post_sends_the_arguments_the_url_did_not_use_and_extracts_a_part() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::json(201, r#"{"number":7,"html_url":"https://x/7"}"#));
    let tool = build(&Manifest {
        extract: Some("/html_url"),
        ..manifest(
            HttpMethod::Post,
            format!("{}/repos/{{{{ args.owner }}}}/issues", fake.base_url()),
        )
    });
    let out = tool
        .run(
            &json!({"owner": "ann", "title": "Crash", "body": "It broke"}),
            &nobody(),
        )
        .await
        .unwrap();
    assert_eq!(out, "https://x/7");
    assert_eq!(
        fake.requests()[0].body,
        json!({"title": "Crash", "body": "It broke"})
    );
    fake.push(Reply::json(200, r#"{"other":1}"#));
    let empty = tool
        .run(&json!({"owner": "ann"}), &nobody())
        .await
        .expect("an answer without the part is not an error");
    assert_eq!(empty, "nothing found (the response has no `/html_url`)");
}

#[tokio::test]
async fn failures_are_reported_honestly_without_secrets() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::json(
        404,
        format!(r#"{{"message":"Not Found","token":"{TOKEN}"}}"#),
    ));
    let tool = build(&manifest(
        HttpMethod::Get,
        format!("{}/repos/x?t={{{{ env.GITHUB_TOKEN }}}}", fake.base_url()),
    ));
    let error = tool.run(&json!({}), &nobody()).await.unwrap_err();
    assert_eq!(
        error.0,
        r#"HTTP 404 Not Found: {"message":"Not Found","token":"***"}"#
    );

    let slow = FakeLlm::start().await;
    slow.push(Reply {
        first_byte_delay: Duration::from_secs(5),
        ..Reply::json(200, "{}")
    });
    let tool = build(&Manifest {
        timeout: Duration::from_millis(200),
        ..manifest(
            HttpMethod::Get,
            format!("{}/slow?t={{{{ env.GITHUB_TOKEN }}}}", slow.base_url()),
        )
    });
    let started = Instant::now();
    let error = tool.run(&json!({}), &nobody()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(error.0.starts_with("the request failed"), "{error}");
    assert!(!error.0.contains(TOKEN), "{error}");

    let unknown_var = build(&manifest(
        HttpMethod::Get,
        format!("{}/{{{{ env.OTHER_SECRET }}}}", fake.base_url()),
    ));
    let error = unknown_var.run(&json!({}), &nobody()).await.unwrap_err();
    assert!(error.0.starts_with("cannot build the request"), "{error}");
}

#[tokio::test]
async fn the_shipped_github_tools_call_the_api_as_documented() {
    let api = FakeLlm::start().await;
    let root = support::shipped_root();
    for name in ["github_issue", "github_create_issue"] {
        let path = root.path().join(format!("tools.d/{name}.toml"));
        support::edit(&path, "https://api.github.com", &api.base_url());
        support::edit(&path, "enabled = false", "enabled = true");
    }
    let env = Env::from_vars([
        ("OPENROUTER_API_KEY".to_owned(), "k".to_owned()),
        ("GITHUB_TOKEN".to_owned(), TOKEN.to_owned()),
        ("DISCORD_BOT_TOKEN".to_owned(), "unused".to_owned()),
    ]);
    let set = clara_config::load_with_env(root.path(), env)
        .expect("the shipped root with GitHub tools enabled validates");
    let store = clara::store::open_default(&set, clara::store::Access::ReadWrite)
        .await
        .unwrap();
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let tool = |name: &str| {
        tools
            .manifest_tool(name)
            .unwrap_or_else(|| panic!("{name} is offered"))
    };
    let clock = clara_core::engine::ManualClock::new(0);
    let context = clara_core::engine::ToolContext {
        user_id: "ann",
        store: store.as_ref(),
        embedder: None,
        clock: &clock,
        search: (100, 60),
        files: None,
        place: None,
    };
    api.push(Reply::json(200, r#"{"number":5,"title":"Crash on start"}"#));
    let out = tool("github_issue")
        .call(
            &json!({"owner": "ann", "repo": "clara", "number": 5}),
            &context,
        )
        .await
        .unwrap();
    assert!(out.contains("Crash on start"));
    api.push(Reply::json(
        201,
        r#"{"html_url":"https://github.com/ann/clara/issues/6"}"#,
    ));
    let out = tool("github_create_issue")
        .call(
            &json!({"owner": "ann", "repo": "clara", "title": "New", "body": "Details"}),
            &context,
        )
        .await
        .unwrap();
    assert_eq!(out, "https://github.com/ann/clara/issues/6");
    let requests = api.requests();
    assert_eq!(requests[0].path, "/repos/ann/clara/issues/5");
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.as_str()),
        ("POST", "/repos/ann/clara/issues")
    );
    assert_eq!(requests[1].body, json!({"title": "New", "body": "Details"}));
    let header = |name: &str| {
        requests[1]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("authorization").as_deref(),
        Some("Bearer ghp_secret123")
    );
    assert_eq!(
        header("x-github-api-version").as_deref(),
        Some("2022-11-28")
    );
}

#[tokio::test]
async fn the_shipped_web_search_sends_the_query_to_tavily_with_the_key() {
    let api = FakeLlm::start().await;
    let root = support::shipped_root();
    let path = root.path().join("tools.d/web_search.toml");
    support::edit(&path, "https://api.tavily.com", &api.base_url());
    support::edit(&path, "enabled = false", "enabled = true");
    let env = Env::from_vars([
        ("OPENROUTER_API_KEY".to_owned(), "k".to_owned()),
        ("TAVILY_API_KEY".to_owned(), "tvly-secret".to_owned()),
    ]);
    let set = clara_config::load_with_env(root.path(), env)
        .expect("the shipped root with web search enabled validates");
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let search = tools
        .manifest_tool("web_search")
        .expect("web_search is offered");
    api.push(Reply::json(
        200,
        r#"{"query":"rust 2026","answer":"Rust 1.95 is out.","results":[{"title":"Rust","url":"https://www.rust-lang.org","content":"…"}]}"#,
    ));
    let out = search
        .call(&json!({"query": "rust 2026", "max_results": 3}), &nobody())
        .await
        .expect("a result");
    assert!(out.contains("Rust 1.95 is out.") && out.contains("https://www.rust-lang.org"));
    let request = api.take_requests().remove(0);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/search")
    );
    assert_eq!(
        request.body,
        json!({"query": "rust 2026", "max_results": 3})
    );
    assert_eq!(request.header("authorization"), Some("Bearer tvly-secret"));
    assert!(!out.contains("tvly-secret"));
}

#[tokio::test]
async fn the_shipped_wikipedia_search_needs_no_key() {
    let api = FakeLlm::start().await;
    let root = support::shipped_root();
    let path = root.path().join("tools.d/wikipedia_search.toml");
    support::edit(&path, "https://en.wikipedia.org", &api.base_url());
    support::edit(&path, "enabled = false", "enabled = true");
    let env = Env::from_vars([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]);
    let set = clara_config::load_with_env(root.path(), env)
        .expect("the shipped root with Wikipedia search enabled validates");
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let search = tools
        .manifest_tool("wikipedia_search")
        .expect("offered without any key");
    api.push(Reply::json(
        200,
        r#"{"batchcomplete":true,"query":{"searchinfo":{"totalhits":1},"search":[{"title":"Ada Lovelace","size":90000,"snippet":"<span class=\"searchmatch\">Ada</span> Lovelace was"}]}}"#,
    ));
    let out = search
        .call(&json!({"query": "ada & babbage"}), &nobody())
        .await
        .expect("a result");
    assert_eq!(
        out,
        r#"[{"size":90000,"snippet":"<span class=\"searchmatch\">Ada</span> Lovelace was","title":"Ada Lovelace"}]"#
    );
    let request = api.take_requests().remove(0);
    assert_eq!(request.method, "GET");
    assert!(
        request
            .path
            .starts_with("/w/api.php?action=query&format=json&formatversion=2&list=search")
            && request.path.contains("&srsearch=ada+%26+babbage"),
        "{}",
        request.path
    );
}

#[tokio::test]
async fn body_none_sends_no_body_even_for_a_post() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::json(200, "{}"));
    let tool = build(&Manifest {
        body: BodyMode::None,
        ..manifest(
            HttpMethod::Post,
            format!("{}/ping/{{{{ args.id }}}}", fake.base_url()),
        )
    });
    tool.run(&json!({"id": "7", "note": "not sent"}), &nobody())
        .await
        .unwrap();
    let request = &fake.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/ping/7")
    );
    assert_eq!(request.raw_body, "");
}

#[tokio::test]
async fn a_file_body_sends_the_users_own_file_as_it_is() {
    let api = FakeLlm::start().await;
    let root = support::shipped_root();
    std::fs::write(
        root.path().join("tools.d/put_file.toml"),
        format!(
            r#"description = "Put a file."
[parameters]
type = "object"
required = ["filename"]
properties = {{ filename = {{ type = "string" }} }}
[runner]
type = "http"
method = "PUT"
url = "{}/store/{{{{ args.filename }}}}"
body = "file"
"#,
            api.base_url()
        ),
    )
    .unwrap();
    let env = Env::from_vars([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]);
    let set = clara_config::load_with_env(root.path(), env).expect("the manifest validates");
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let put = tools.manifest_tool("put_file").expect("offered");
    let folder = root.path().join("clara_files/ann");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("pic.png"), b"\x01PNG\x00\x01").unwrap();
    api.push(Reply::json(200, r#"{"ok":true}"#));
    put.call(&json!({"filename": "pic.png"}), &nobody())
        .await
        .unwrap();
    let request = api.take_requests().remove(0);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("PUT", "/store/pic.png")
    );
    assert_eq!(request.header("content-type"), Some("image/png"));
    assert_eq!(request.raw_body.as_bytes(), b"\x01PNG\x00\x01");
    // Another user's file, or a path out of the folder: refused before any request.
    let refused = put
        .call(&json!({"filename": "../ann/pic.png"}), &nobody())
        .await
        .unwrap_err();
    assert!(refused.0.contains("use a plain file name"), "{refused}");
    assert_eq!(api.request_count(), 0);
}
