//! The shipped GitHub pack (`tools.d/github_*.toml`) against a fake API: every manifest beyond
//! the first six, enabled, called once, sends the request GitHub documents (method, path and
//! query, JSON body, token) and hands the model the part of the answer it extracts.

use crate::support;

use std::collections::BTreeSet;

use crate::support::fake_llm::{FakeLlm, Reply};
use clara_config::Env;
use clara_config::model::approval::ApprovalMode;
use clara_core::engine::{ManualClock, ToolContext};
use clara_core::store::InMemoryStore;
use serde_json::{Value, json};

const TOKEN: &str = "ghp_pack_secret";

/// The manifests `http_tools::the_shipped_github_tools_call_the_api_as_documented` and the
/// other tests already cover.
const FIRST_SIX: [&str; 6] = [
    "github_issue",
    "github_issues",
    "github_pulls",
    "github_repo",
    "github_file",
    "github_create_issue",
];

/// One call of one tool, the fake API's answer, and what must have been sent and returned.
struct Case {
    tool: &'static str,
    arguments: Value,
    status: u16,
    reply: &'static str,
    method: &'static str,
    /// Path and query, as sent.
    path: &'static str,
    /// The JSON body; `None` when nothing may be sent.
    body: Option<Value>,
    /// The whole result, when the manifest extracts part of the answer (JSON comes back
    /// re-serialised, its keys in order).
    result: Option<&'static str>,
    approval: ApprovalMode,
}

fn get(tool: &'static str, arguments: Value, path: &'static str) -> Case {
    Case {
        tool,
        arguments,
        status: 200,
        reply: r#"[{"name":"x"}]"#,
        method: "GET",
        path,
        body: None,
        result: None,
        approval: ApprovalMode::Never,
    }
}

fn write(
    tool: &'static str,
    arguments: Value,
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
) -> Case {
    Case {
        status: 201,
        method,
        body,
        approval: ApprovalMode::Always,
        ..get(tool, arguments, path)
    }
}

fn replying(case: Case, status: u16, reply: &'static str, result: &'static str) -> Case {
    Case {
        status,
        reply,
        result: Some(result),
        ..case
    }
}

fn cases() -> Vec<Case> {
    let repo = |extra: Value| {
        let mut arguments = json!({"owner": "ann", "repo": "clara"});
        arguments
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        arguments
    };
    vec![
        replying(
            get(
                "github_file_info",
                repo(json!({"path": "docs/a b.md", "ref": "main"})),
                "/repos/ann/clara/contents/docs/a%20b.md?ref=main",
            ),
            200,
            r#"{"name":"a b.md","sha":"3d21ec53a331a6f037a91c368710b99387d012c1","content":"aGk="}"#,
            "3d21ec53a331a6f037a91c368710b99387d012c1",
        ),
        replying(
            get("github_me", json!({}), "/user"),
            200,
            r#"{"login":"ann","public_repos":3}"#,
            r#"{"login":"ann","public_repos":3}"#,
        ),
        replying(
            get(
                "github_search_repos",
                json!({"q": "tokio language:rust", "sort": "stars"}),
                "/search/repositories?per_page=10&q=tokio+language%3Arust&sort=stars",
            ),
            200,
            r#"{"total_count":1,"incomplete_results":false,"items":[{"full_name":"tokio-rs/tokio"}]}"#,
            r#"[{"full_name":"tokio-rs/tokio"}]"#,
        ),
        replying(
            get(
                "github_search_users",
                json!({"q": "ada in:name", "per_page": 3}),
                "/search/users?per_page=3&q=ada+in%3Aname",
            ),
            200,
            r#"{"total_count":1,"items":[{"login":"ada"}]}"#,
            r#"[{"login":"ada"}]"#,
        ),
        replying(
            get(
                "github_search_code",
                json!({"q": "fn main repo:ann/clara"}),
                "/search/code?per_page=10&q=fn+main+repo%3Aann%2Fclara",
            ),
            200,
            r#"{"total_count":1,"items":[{"path":"src/main.rs"}]}"#,
            r#"[{"path":"src/main.rs"}]"#,
        ),
        replying(
            write(
                "github_create_pull",
                repo(json!({
                    "title": "Faster start", "head": "fast", "base": "main",
                    "body": "Details", "draft": true
                })),
                "POST",
                "/repos/ann/clara/pulls",
                Some(json!({
                    "title": "Faster start", "head": "fast", "base": "main",
                    "body": "Details", "draft": true
                })),
            ),
            201,
            r#"{"number":8,"html_url":"https://github.com/ann/clara/pull/8"}"#,
            "https://github.com/ann/clara/pull/8",
        ),
        get(
            "github_pull",
            repo(json!({"number": 7})),
            "/repos/ann/clara/pulls/7",
        ),
        get(
            "github_commits",
            repo(json!({"sha": "main", "path": "src/lib.rs", "author": "ann"})),
            "/repos/ann/clara/commits?author=ann&path=src%2Flib.rs&per_page=10&sha=main",
        ),
        get(
            "github_commit",
            repo(json!({"ref": "abc123"})),
            "/repos/ann/clara/commits/abc123",
        ),
        replying(
            write(
                "github_write_file",
                repo(json!({
                    "path": "docs/My Notes.md", "message": "Add notes",
                    "content": "aGVsbG8=", "branch": "main", "sha": "b1"
                })),
                "PUT",
                "/repos/ann/clara/contents/docs/My%20Notes.md",
                Some(json!({
                    "message": "Add notes", "content": "aGVsbG8=", "branch": "main", "sha": "b1"
                })),
            ),
            200,
            r#"{"content":{"path":"docs/My Notes.md","sha":"b2"},"commit":{"sha":"c9"}}"#,
            r#"{"path":"docs/My Notes.md","sha":"b2"}"#,
        ),
        replying(
            get(
                "github_workflows",
                repo(json!({})),
                "/repos/ann/clara/actions/workflows?per_page=30",
            ),
            200,
            r#"{"total_count":1,"workflows":[{"id":161335,"path":".github/workflows/ci.yml"}]}"#,
            r#"[{"id":161335,"path":".github/workflows/ci.yml"}]"#,
        ),
        replying(
            get(
                "github_workflow_runs",
                repo(json!({"status": "failure"})),
                "/repos/ann/clara/actions/runs?per_page=5&status=failure",
            ),
            200,
            r#"{"total_count":1,"workflow_runs":[{"conclusion":"failure","id":30433642}]}"#,
            r#"[{"conclusion":"failure","id":30433642}]"#,
        ),
        replying(
            get(
                "github_workflow_runs",
                repo(json!({"workflow": "ci.yml", "branch": "main"})),
                "/repos/ann/clara/actions/workflows/ci.yml/runs?branch=main&per_page=5",
            ),
            200,
            r#"{"total_count":0,"workflow_runs":[]}"#,
            "[]",
        ),
        replying(
            write(
                "github_dispatch_workflow",
                repo(json!({"workflow": 161335, "ref": "main", "inputs": {"env": "prod"}})),
                "POST",
                "/repos/ann/clara/actions/workflows/161335/dispatches",
                Some(json!({"ref": "main", "inputs": {"env": "prod"}})),
            ),
            204,
            "",
            "",
        ),
        replying(
            write(
                "github_dispatch_workflow",
                repo(json!({"workflow": "deploy.yml", "ref": "v1.2", "return_run_details": true})),
                "POST",
                "/repos/ann/clara/actions/workflows/deploy.yml/dispatches",
                Some(json!({"ref": "v1.2", "return_run_details": true})),
            ),
            200,
            r#"{"workflow_run_id":22,"html_url":"https://github.com/ann/clara/actions/runs/22"}"#,
            r#"{"workflow_run_id":22,"html_url":"https://github.com/ann/clara/actions/runs/22"}"#,
        ),
        get("github_gists", json!({}), "/gists?per_page=10"),
        replying(
            write(
                "github_create_gist",
                json!({
                    "description": "Notes", "public": false,
                    "files": {"notes.md": {"content": "# Notes"}}
                }),
                "POST",
                "/gists",
                Some(json!({
                    "description": "Notes", "public": false,
                    "files": {"notes.md": {"content": "# Notes"}}
                })),
            ),
            201,
            r#"{"id":"aa5a315d","html_url":"https://gist.github.com/aa5a315d"}"#,
            "https://gist.github.com/aa5a315d",
        ),
        get(
            "github_branches",
            repo(json!({"protected": true})),
            "/repos/ann/clara/branches?per_page=30&protected=true",
        ),
        get(
            "github_releases",
            repo(json!({})),
            "/repos/ann/clara/releases?per_page=5",
        ),
        get(
            "github_tags",
            repo(json!({"per_page": 2})),
            "/repos/ann/clara/tags?per_page=2",
        ),
        get(
            "github_notifications",
            json!({"participating": true}),
            "/notifications?all=false&participating=true&per_page=10",
        ),
        replying(
            write(
                "github_star",
                repo(json!({})),
                "PUT",
                "/user/starred/ann/clara",
                None,
            ),
            204,
            "",
            "",
        ),
        get(
            "github_stars",
            json!({"sort": "updated"}),
            "/user/starred?per_page=10&sort=updated",
        ),
    ]
}

#[tokio::test]
async fn every_shipped_github_tool_calls_the_api_as_documented() {
    let api = FakeLlm::start().await;
    let root = support::shipped_root();
    let cases = cases();
    let shipped: BTreeSet<String> = std::fs::read_dir(root.path().join("tools.d"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let stem = name.strip_suffix(".toml")?;
            stem.starts_with("github_").then(|| stem.to_owned())
        })
        .filter(|name| !FIRST_SIX.contains(&name.as_str()))
        .collect();
    let called: BTreeSet<String> = cases.iter().map(|c| c.tool.to_owned()).collect();
    assert_eq!(called, shipped, "every shipped GitHub tool is called here");
    for name in &shipped {
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
        .expect("the shipped root with the GitHub pack enabled validates");
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let store = InMemoryStore::new();
    let clock = ManualClock::new(0);
    let context = ToolContext {
        user_id: "ann",
        store: &store,
        embedder: None,
        clock: &clock,
        search: (100, 60),
        files: None,
        place: None,
    };
    for case in cases {
        let tool = tools
            .manifest_tool(case.tool)
            .unwrap_or_else(|| panic!("{} is offered", case.tool));
        assert_eq!(tool.policy().approval, case.approval, "{}", case.tool);
        assert_eq!(tool.policy().emoji.as_deref(), Some("🐙"), "{}", case.tool);
        api.push(Reply::json(case.status, case.reply));
        let out = tool
            .call(&case.arguments, &context)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.tool));
        assert_eq!(out, case.result.unwrap_or(case.reply), "{}", case.tool);
        let mut requests = api.take_requests();
        assert_eq!(requests.len(), 1, "{}", case.tool);
        let request = requests.remove(0);
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            (case.method, case.path),
            "{}",
            case.tool
        );
        match &case.body {
            Some(body) => assert_eq!(&request.body, body, "{}", case.tool),
            None => assert_eq!(request.raw_body, "", "{}", case.tool),
        }
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{}",
            case.tool
        );
        assert_eq!(
            request.header("x-github-api-version"),
            Some("2022-11-28"),
            "{}",
            case.tool
        );
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github+json"),
            "{}",
            case.tool
        );
    }
}
