//! MCP servers that want OAuth, end to end over real HTTP: `clara mcp add URL` (the real
//! binary) finds the server's authorization from its 401, registers clara there and prints a
//! link, writing nothing; the admin opens it on `clara run`'s status endpoint, allows access
//! at the (fake) authorization server, and the callback keeps the grant sealed in the store
//! and installs the server, whose manifest says `oauth = true` and holds no token. Its tools
//! are then called by the model with the token, renewed when the server refuses it; an admin
//! authorizes it again from the chat with `mcp_oauth_start`; removing it forgets the grant.

use std::path::Path;
use std::process::Output;

use clara::app::App;
use clara_core::engine::Incoming;

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::oauth_mcp::OAuthMcp;
use crate::support::{self, free_port, said, shipped_root, start_run};

/// A browser that does not follow redirects, as the test plays the admin.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

struct Setup {
    app: App,
    model: FakeLlm,
    server: OAuthMcp,
    root: tempfile::TempDir,
    vars: Vec<(String, String)>,
    sent: std::sync::atomic::AtomicUsize,
}

impl Setup {
    async fn start() -> Setup {
        let root = shipped_root();
        let model = FakeLlm::start().await;
        let server = OAuthMcp::start().await;
        let vars: Vec<(String, String)> = vec![
            ("CLARA_ADAPTERS__DISCORD__ENABLED".into(), "false".into()),
            (
                "CLARA_SECRET_KEY".into(),
                "a test key that is long enough".into(),
            ),
            (
                "CLARA_STATUS__BIND".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
        ];
        let borrowed: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let app = start_run(root.path(), &model, &borrowed)
            .await
            .expect("clara starts");
        Setup {
            app,
            model,
            server,
            root,
            vars,
            sent: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `clara mcp ARGS` on the root, with the running clara's variables.
    fn mcp(&self, args: &[&str]) -> Output {
        let mut command = support::clara(self.root.path());
        command
            .env("OPENROUTER_API_KEY", "k")
            .env("CLARA_MEMORY__ENABLED", "false")
            .arg("mcp")
            .args(args);
        for (key, value) in &self.vars {
            command.env(key, value);
        }
        command.output().expect("clara runs")
    }

    /// `user` (an admin when `admin`) asks; the model calls `tool` with `arguments`, then says
    /// "Done.". Returns what the tool gave the model.
    async fn call(&self, user: &str, admin: bool, tool: &str, arguments: &str) -> String {
        self.model
            .push(fake_llm::openai_tool_stream(&[("c1", tool, arguments)], 50));
        self.model.push(fake_llm::openai_stream(&["Done."]));
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut message: Incoming = support::message(user, &format!("please use {tool} ({n})"));
        message.is_admin = admin;
        self.app
            .live
            .current()
            .handle_message(message, &|_| {})
            .await
            .expect("the turn is answered");
        self.model.last_tool_result()
    }

    /// Opens `link` as the admin: the start page, its button on to the authorization server,
    /// and the callback it redirects to. The callback page's status and text, and its URL.
    async fn allow(&self, link: &str) -> (u16, String, String) {
        let browser = browser();
        let start = browser.get(link).send().await.unwrap();
        assert_eq!(start.status(), 200);
        let page = start.text().await.unwrap();
        let consent = href(&page);
        assert!(
            consent.starts_with(&format!("{}/auth/authorize?", self.base())),
            "{page}"
        );
        let redirect = browser.get(&consent).send().await.unwrap();
        assert_eq!(redirect.status(), 302, "the authorization server consents");
        let callback = redirect.headers()["location"].to_str().unwrap().to_owned();
        let status = self.app.status.as_ref().unwrap().addr();
        assert!(
            callback.starts_with(&format!("http://{status}/mcp-oauth/notes/callback?")),
            "{callback}"
        );
        let done = browser.get(&callback).send().await.unwrap();
        (done.status().as_u16(), done.text().await.unwrap(), callback)
    }

    fn base(&self) -> String {
        self.server.url().trim_end_matches("/mcp").to_owned()
    }

    fn manifest(&self) -> std::path::PathBuf {
        self.root.path().join("tools.d/notes.toml")
    }
}

/// The first link in `text` to the status endpoint's MCP authorization pages.
fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains("/mcp-oauth/notes/start/"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .trim_end_matches(['.', ')', ','])
        .to_owned()
}

/// The button's target on a page.
fn href(page: &str) -> String {
    let (_, rest) = page.split_once("href=\"").expect("a link on the page");
    let (url, _) = rest.split_once('"').unwrap();
    url.replace("&amp;", "&")
}

/// No file under `root` holds any of `secrets`. Searched by another process: opening and
/// closing the database file here would drop the SQLite locks this process (the running
/// clara) holds on it.
fn holds_none(root: &Path, secrets: &[String]) {
    let mut grep = std::process::Command::new("grep");
    // Quiet about files that go while it reads (the running clara rotates its snapshot of
    // the applied files): only files that hold a secret are listed.
    grep.args(["-rlaFs"]);
    for secret in secrets {
        grep.arg("-e").arg(secret);
    }
    let found = grep.arg(root).output().expect("grep runs");
    let listed = String::from_utf8_lossy(&found.stdout);
    assert!(listed.trim().is_empty(), "found in the clear in: {listed}");
    assert_ne!(found.status.code(), Some(0), "{}", said(&found));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_wants_oauth_is_authorized_installed_called_renewed_and_removed() {
    let setup = Setup::start().await;
    let url = setup.server.url();

    // The install finds the authorization and gives a link; nothing is written yet.
    let added = setup.mcp(&["add", &url, "--name", "notes"]);
    let text = said(&added);
    assert!(!added.status.success(), "{text}");
    assert!(text.contains("asks for authorization"), "{text}");
    assert!(!setup.manifest().exists());
    assert_eq!(setup.server.take_log(), ["register"]);
    let registered = &setup.server.registrations()[0];
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert!(
        registered["redirect_uris"][0]
            .as_str()
            .unwrap()
            .ends_with("/mcp-oauth/notes/callback"),
        "{registered}"
    );

    // The admin allows access: the grant is kept and the server installed.
    let link = link_in(&text);
    let (status, page, callback) = setup.allow(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Authorized `notes`: installed it with 2 tools"),
        "{page}"
    );
    assert_eq!(
        setup.server.take_log(),
        ["authorize", "token authorization_code"]
    );
    let manifest = std::fs::read_to_string(setup.manifest()).unwrap();
    assert!(manifest.contains("oauth = true"), "{manifest}");
    for token in setup.server.issued_tokens() {
        assert!(!manifest.contains(&token), "{manifest}");
    }
    let validated = support::clara(setup.root.path())
        .env("OPENROUTER_API_KEY", "k")
        .arg("validate")
        .output()
        .unwrap();
    assert!(validated.status.success(), "{}", said(&validated));

    // A callback works once.
    let replay = browser().get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already used"));

    // The running clara picks the manifest up; the model calls the server's tools.
    setup.app.live.reload().await;
    setup
        .app
        .live
        .mcp()
        .started(std::time::Duration::from_secs(20))
        .await;
    assert_eq!(
        setup.call("ann", false, "notes__whoami", "{}").await,
        "called with access 1"
    );

    // The server stops taking the token: clara renews it with the refresh token and retries.
    setup.server.revoke_access();
    assert_eq!(
        setup.call("ann", false, "notes__whoami", "{}").await,
        "called with access 2"
    );
    assert_eq!(setup.server.take_log(), ["token refresh_token"]);

    // Neither the store nor any other file of the root holds a token in the clear.
    holds_none(setup.root.path(), &setup.server.issued_tokens());

    // An admin authorizes it again from the chat; others are not offered the tool.
    let refused = setup
        .call("bob", false, "mcp_oauth_start", r#"{"name": "notes"}"#)
        .await;
    assert!(!refused.contains("/mcp-oauth/"), "{refused}");
    let answer = setup
        .call("ann", true, "mcp_oauth_start", r#"{"name": "notes"}"#)
        .await;
    let (status, page, _) = setup.allow(&link_in(&answer)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("it restarts with the new access"), "{page}");
    setup
        .app
        .live
        .mcp()
        .started(std::time::Duration::from_secs(20))
        .await;
    assert_eq!(
        setup.server.take_log(),
        ["register", "authorize", "token authorization_code"]
    );
    let mut called = String::new();
    for _ in 0..50 {
        called = setup.call("ann", false, "notes__whoami", "{}").await;
        if called == "called with access 3" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(called, "called with access 3");

    // Removing it forgets the grant with the manifest.
    let removed = setup.mcp(&["remove", "notes"]);
    assert!(removed.status.success(), "{}", said(&removed));
    assert!(!setup.manifest().exists());
    setup.app.live.reload().await;
    assert!(setup.app.live.mcp().server("notes").is_none());
    let store = setup.app.live.current().services.store.clone();
    assert!(
        store.token("@mcp", "mcp/notes").await.unwrap().is_none(),
        "the grant is forgotten"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_secret_key_a_server_that_wants_oauth_is_refused_and_nothing_is_written() {
    let server = OAuthMcp::start().await;
    let root = shipped_root();
    let added = support::clara(root.path())
        .env("OPENROUTER_API_KEY", "k")
        .args(["mcp", "add", &server.url(), "--name", "notes"])
        .output()
        .unwrap();
    let text = said(&added);
    assert!(!added.status.success(), "{text}");
    assert!(
        text.contains("asks for OAuth authorization") && text.contains("secret_key_env"),
        "{text}"
    );
    assert!(!root.path().join("tools.d/notes.toml").exists());
    assert!(server.take_log().is_empty(), "nothing was registered");

    // Given a key in a header, it is not sent to OAuth: the key is what the server judges.
    let keyed = support::clara(root.path())
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_SECRET_KEY", "a test key that is long enough")
        .env("NOTES_KEY", "not-a-token-it-knows")
        .args(["mcp", "add", &server.url(), "--name", "notes"])
        .args(["--header", "Authorization=Bearer {{ env.NOTES_KEY }}"])
        .args(["--secret-env", "NOTES_KEY"])
        .output()
        .unwrap();
    let text = said(&keyed);
    assert!(!keyed.status.success(), "{text}");
    assert!(text.contains("the server did not start"), "{text}");
    assert!(!text.contains("asks for authorization"), "{text}");
    assert!(server.take_log().is_empty(), "nothing was registered");
}
