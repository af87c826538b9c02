//! Connections end to end, over real HTTP: `clara run` with its status endpoint, a fake model
//! that calls the `connect` tool, and a fake Google (one server on 127.0.0.1 for the token and
//! revoke endpoints and a Sheets-like API). A user opens the link, the browser goes to the
//! consent page and back to the callback, the code is exchanged (PKCE checked), the tokens are
//! sealed in the store; an HTTP tool then calls as that user, renewing the token on a 401 and
//! before it expires; another user is told to connect first; a replayed or altered link is
//! refused; disconnecting revokes and forgets.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clara::app::App;
use clara_core::engine::Outcome;
use serde_json::Value;

use crate::support::fake_llm::{self, FakeLlm, Reply};
use crate::support::{self, shipped_root, start_run};

/// A browser that does not follow redirects, as the test plays the user.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// `key`'s value in the query of `url`.
fn query(url: &str, key: &str) -> String {
    let url = reqwest::Url::parse(url).expect("a URL");
    let found = url.query_pairs().find(|(k, _)| k == key);
    found.map_or_else(|| panic!("no `{key}` in {url}"), |(_, v)| v.into_owned())
}

/// `key`'s value in a form body.
fn form(body: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub(crate) struct Running {
    pub(crate) app: App,
    pub(crate) model: FakeLlm,
    /// The fake Google: token and revoke endpoints and every API.
    pub(crate) google: FakeLlm,
    /// `http://127.0.0.1:PORT` of the status endpoint.
    pub(crate) status: String,
    sent: std::sync::atomic::AtomicUsize,
    root: tempfile::TempDir,
}

impl Running {
    async fn start() -> Running {
        Running::start_with(|_, _| {}).await
    }

    /// Starts on the shipped root after `edit(root, fake_google_url)`.
    pub(crate) async fn start_with(edit: impl FnOnce(&Path, &str)) -> Running {
        Running::start_with_env(edit, &[]).await
    }

    /// Starts as `start_with` does, with `extra` variables set too.
    pub(crate) async fn start_with_env(
        edit: impl FnOnce(&Path, &str),
        extra: &[(&str, &str)],
    ) -> Running {
        let root = shipped_root();
        let model = FakeLlm::start().await;
        let google = FakeLlm::start().await;
        sheet_tool(root.path(), &google.base_url());
        edit(root.path(), &google.base_url());
        let g = google.base_url();
        let (authorize, token, revoke) = (
            format!("{g}/o/oauth2/v2/auth"),
            format!("{g}/token"),
            format!("{g}/revoke"),
        );
        let vars = [
            ("CLARA_ADAPTERS__DISCORD__ENABLED", "false"),
            ("CLARA_SECRET_KEY", "a test key that is long enough"),
            ("GOOGLE_CLIENT_ID", "client-1"),
            ("GOOGLE_CLIENT_SECRET", "client-secret-1"),
            (
                "CLARA_CONNECTIONS__GOOGLE__AUTHORIZE_URL",
                authorize.as_str(),
            ),
            ("CLARA_CONNECTIONS__GOOGLE__TOKEN_URL", token.as_str()),
            ("CLARA_CONNECTIONS__GOOGLE__REVOKE_URL", revoke.as_str()),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().chain(extra).copied().collect();
        let app = start_run(root.path(), &model, &vars)
            .await
            .expect("clara starts");
        let address = app.status.as_ref().expect("the status endpoint").addr();
        Running {
            app,
            model,
            google,
            status: format!("http://{address}"),
            sent: std::sync::atomic::AtomicUsize::new(0),
            root,
        }
    }

    async fn send(&self, user: &str, text: &str) -> Outcome {
        self.app
            .live
            .current()
            .handle_message(support::message(user, text), &|_| {})
            .await
            .expect("the turn is answered")
    }

    /// `user` asks; the model calls `tool` with `arguments`, then says "Done.". Returns what
    /// the tool gave the model.
    pub(crate) async fn call(&self, user: &str, tool: &str, arguments: &str) -> String {
        self.model
            .push(fake_llm::openai_tool_stream(&[("c1", tool, arguments)], 50));
        self.model.push(fake_llm::openai_stream(&["Done."]));
        // Each message differs, or the duplicate guard would drop a repeat.
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.send(user, &format!("please use {tool} ({n})")).await;
        self.model.last_tool_result()
    }

    /// Connects `user` to Google through the whole flow; the fake answers the code with
    /// `access_token`.
    pub(crate) async fn connect_google(&self, user: &str, access_token: &str) {
        let result = self
            .call(user, "connect", r#"{"connection": "google"}"#)
            .await;
        let link = result
            .split_whitespace()
            .find(|w| w.contains("/oauth/google/start/"))
            .unwrap_or_else(|| panic!("no link in {result}"))
            .to_owned();
        let browser = browser();
        let consent = consent_link(&browser, &self.on_status(&link)).await;
        let (state, redirect_uri) = (query(&consent, "state"), query(&consent, "redirect_uri"));
        self.google.push(Reply::json(
            200,
            format!(r#"{{"access_token":"{access_token}","refresh_token":"r","expires_in":3600}}"#),
        ));
        let callback = self.on_status(&format!(
            "{redirect_uri}?code=c&state={}",
            urlencode(&state)
        ));
        let page = browser.get(&callback).send().await.unwrap();
        assert_eq!(
            page.status(),
            200,
            "{}",
            page.text().await.unwrap_or_default()
        );
        self.google.take_requests();
    }

    /// The root clara runs on.
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// A path of a link clara made, on the status endpoint's real address (the links say
    /// `bind`, which is port 0 in tests).
    fn on_status(&self, link: &str) -> String {
        let (_, rest) = link
            .split_once("/oauth/")
            .unwrap_or_else(|| panic!("not an OAuth link: {link}"));
        format!("{}/oauth/{rest}", self.status)
    }
}

/// A tool that reads spreadsheet values as the calling user.
fn sheet_tool(root: &Path, api: &str) {
    std::fs::write(
        root.join("tools.d/sheet_values.toml"),
        format!(
            r#"description = "Read a range of one of the user's spreadsheets."

[parameters]
type = "object"
required = ["sheet"]

[parameters.properties.sheet]
type = "string"

[runner]
type = "http"
url = "{api}/v4/spreadsheets/{{{{ args.sheet }}}}/values/A1:B2"
extract = "/values"
auth = {{ connection = "google" }}
"#
        ),
    )
    .expect("the tool is written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_connects_google_calls_as_themselves_and_disconnects() {
    let running = Running::start().await;
    let (google, browser) = (&running.google, browser());

    // Not connected yet: the tool says so with a link, and Google is never called.
    let first = running
        .call("ann", "sheet_values", r#"{"sheet": "s1"}"#)
        .await;
    assert!(
        first.contains("Google is not connected. Connect first: http://"),
        "{first}"
    );
    assert_eq!(google.request_count(), 0);

    // The user asks to connect; the model passes on the link.
    let result = running
        .call("ann", "connect", r#"{"connection": "google"}"#)
        .await;
    let link = result
        .split_whitespace()
        .find(|w| w.contains("/oauth/google/start/"))
        .unwrap_or_else(|| panic!("no link in {result}"))
        .to_owned();

    // The browser opens it: a page says what continuing does, and leads on to Google's
    // consent page with the client, scopes and PKCE.
    let start = browser.get(running.on_status(&link)).send().await.unwrap();
    assert_eq!(start.status(), 200);
    let page = start.text().await.unwrap();
    assert!(
        page.contains("Continue only if that was you") && page.contains(">Continue to Google</a>"),
        "{page}"
    );
    let consent = consent_link(&browser, &running.on_status(&link)).await;
    assert!(consent.starts_with(&format!("{}/o/oauth2/v2/auth?", google.base_url())));
    assert_eq!(query(&consent, "client_id"), "client-1");
    assert_eq!(query(&consent, "access_type"), "offline");
    assert!(query(&consent, "scope").contains("auth/spreadsheets"));
    assert_eq!(query(&consent, "code_challenge_method"), "S256");
    let challenge = query(&consent, "code_challenge");
    let state = query(&consent, "state");
    let redirect_uri = query(&consent, "redirect_uri");
    assert!(
        redirect_uri.ends_with("/oauth/google/callback"),
        "{redirect_uri}"
    );

    // The user consents; Google sends the browser back with a code.
    google.push(Reply::json(
        200,
        r#"{"access_token":"ya29.first","refresh_token":"1//refresh","expires_in":3600,"token_type":"Bearer"}"#,
    ));
    let callback = running.on_status(&format!(
        "{redirect_uri}?code=code-1&state={}",
        urlencode(&state)
    ));
    let page = browser.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Connected to Google."));
    let exchange = google.take_requests().remove(0);
    assert_eq!(exchange.path, "/token");
    let body = &exchange.raw_body;
    assert_eq!(
        form(body, "grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(form(body, "code").as_deref(), Some("code-1"));
    assert_eq!(
        form(body, "client_secret").as_deref(),
        Some("client-secret-1")
    );
    assert_eq!(form(body, "redirect_uri"), Some(redirect_uri.clone()));
    let verifier = form(body, "code_verifier").expect("the PKCE verifier");
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    assert_eq!(
        URL_SAFE_NO_PAD.encode(digest),
        challenge,
        "S256 of the verifier"
    );

    // The tokens are in the store, sealed.
    let store = running.app.live.current().services.store.clone();
    let stored = store
        .token("ann", "google")
        .await
        .unwrap()
        .expect("ann's tokens");
    let sealed = String::from_utf8_lossy(&stored.sealed);
    assert!(
        !sealed.contains("ya29") && !sealed.contains("refresh"),
        "sealed"
    );
    assert!(store.token("bob", "google").await.unwrap().is_none());

    // The link works once.
    let again = browser.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("the link was already used")
    );

    // The tool now calls as ann, with her token.
    google.push(Reply::json(200, r#"{"values":[["a","b"],["1","2"]]}"#));
    let values = running
        .call("ann", "sheet_values", r#"{"sheet": "s1"}"#)
        .await;
    assert_eq!(values, r#"[["a","b"],["1","2"]]"#);
    let api = google.take_requests().remove(0);
    assert_eq!(api.path, "/v4/spreadsheets/s1/values/A1:B2");
    assert_eq!(api.header("authorization"), Some("Bearer ya29.first"));

    // A 401: the token is renewed with the refresh token and the call made once more.
    google.push(Reply::json(401, r#"{"error":{"code":401}}"#));
    google.push(Reply::json(
        200,
        r#"{"access_token":"ya29.second","expires_in":30}"#,
    ));
    google.push(Reply::json(200, r#"{"values":[["ok"]]}"#));
    let values = running
        .call("ann", "sheet_values", r#"{"sheet": "s1"}"#)
        .await;
    assert_eq!(values, r#"[["ok"]]"#);
    let seen = google.take_requests();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v4/spreadsheets/s1/values/A1:B2",
            "/token",
            "/v4/spreadsheets/s1/values/A1:B2"
        ]
    );
    assert_eq!(
        form(&seen[1].raw_body, "grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        form(&seen[1].raw_body, "refresh_token").as_deref(),
        Some("1//refresh")
    );
    assert_eq!(seen[2].header("authorization"), Some("Bearer ya29.second"));

    // That token expires within the minute: renewed before the next call, the refresh token
    // kept from before (the answer had none).
    google.push(Reply::json(
        200,
        r#"{"access_token":"ya29.third","expires_in":3600}"#,
    ));
    google.push(Reply::json(200, r#"{"values":[["fresh"]]}"#));
    running
        .call("ann", "sheet_values", r#"{"sheet": "s1"}"#)
        .await;
    let seen = google.take_requests();
    assert_eq!(
        form(&seen[0].raw_body, "refresh_token").as_deref(),
        Some("1//refresh")
    );
    assert_eq!(seen[1].header("authorization"), Some("Bearer ya29.third"));

    // Bob's call never carries ann's token.
    let bobs = running
        .call("bob", "sheet_values", r#"{"sheet": "s1"}"#)
        .await;
    assert!(bobs.contains("Google is not connected"), "{bobs}");
    assert_eq!(google.request_count(), 0);

    // Status, then disconnect: revoked at Google and forgotten.
    let status = running.call("ann", "connection_status", r#"{}"#).await;
    assert!(status.contains("Google: connected"), "{status}");
    assert!(!status.contains("GitHub"), "only what is set up: {status}");
    google.push(Reply::json(200, "{}"));
    let gone = running
        .call("ann", "disconnect", r#"{"connection": "google"}"#)
        .await;
    assert!(gone.starts_with("Disconnected Google"), "{gone}");
    let revoke = google.take_requests().remove(0);
    assert_eq!(revoke.path, "/revoke");
    assert_eq!(
        form(&revoke.raw_body, "token").as_deref(),
        Some("1//refresh")
    );
    assert!(store.token("ann", "google").await.unwrap().is_none());

    // Connected again, until Google stops taking the refresh token: ann is told to connect
    // again, and the dead tokens are forgotten.
    running.connect_google("ann", "ya29.again").await;
    google.push(Reply::json(401, "{}"));
    google.push(Reply::json(
        400,
        r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
    ));
    let told = running
        .call("ann", "sheet_values", r#"{"sheet": "s1"}"#)
        .await;
    assert!(
        told.contains("Google no longer accepts the saved access: invalid_grant (Token has been expired or revoked.). Connect again: http://"),
        "{told}"
    );
    assert!(store.token("ann", "google").await.unwrap().is_none());
    google.take_requests();

    // No tool result or model request ever held a token or the client secret.
    for request in running.model.requests() {
        for secret in ["ya29", "1//refresh", "client-secret-1"] {
            assert!(
                !request.raw_body.contains(secret),
                "{secret} reached the model"
            );
        }
    }
    running.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_who_has_not_connected_calls_with_the_operators_token_when_the_tool_names_one() {
    let shared_sheet = |root: &Path, _: &str| {
        let tool = std::fs::read_to_string(root.join("tools.d/sheet_values.toml"))
            .unwrap()
            .replace(
                r#"auth = { connection = "google" }"#,
                r#"auth = { connection = "google", fallback_env = "SHEETS_TOKEN" }"#,
            );
        std::fs::write(root.join("tools.d/shared_sheet.toml"), tool).unwrap();
    };
    let running =
        Running::start_with_env(shared_sheet, &[("SHEETS_TOKEN", "operator-token")]).await;
    let api = &running.google;
    let bearer = |api: &FakeLlm| {
        let request = api.take_requests().pop().expect("the API was called");
        request.header("authorization").unwrap().to_owned()
    };

    // Bob has not connected: the operator's token, and the token never reaches the model.
    api.push(Reply::json(200, r#"{"values":[["a"]]}"#));
    let bob = running
        .call("bob", "shared_sheet", r#"{"sheet": "s1"}"#)
        .await;
    assert_eq!(bob, r#"[["a"]]"#);
    assert_eq!(bearer(api), "Bearer operator-token");

    // Ann has: her own token, not the operator's.
    running.connect_google("ann", "ya29.ann").await;
    api.push(Reply::json(200, r#"{"values":[["b"]]}"#));
    let ann = running
        .call("ann", "shared_sheet", r#"{"sheet": "s1"}"#)
        .await;
    assert_eq!(ann, r#"[["b"]]"#);
    assert_eq!(bearer(api), "Bearer ya29.ann");

    // The operator's token refused: said plainly, and never shown.
    api.push(Reply::json(
        401,
        r#"{"message":"Bad credentials operator-token"}"#,
    ));
    let refused = running
        .call("bob", "shared_sheet", r#"{"sheet": "s1"}"#)
        .await;
    assert!(refused.contains("HTTP 401"), "{refused}");
    assert!(!refused.contains("operator-token"), "{refused}");

    // The tool without a fallback still asks Bob to connect.
    let plain = running
        .call("bob", "sheet_values", r#"{"sheet": "s1"}"#)
        .await;
    assert!(plain.contains("Connect first"), "{plain}");
    running.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn altered_expired_and_refused_links_change_nothing() {
    let running = Running::start().await;
    let browser = browser();
    let result = running
        .call("ann", "connect", r#"{"connection": "google"}"#)
        .await;
    let link = result
        .split_whitespace()
        .find(|w| w.contains("/oauth/google/start/"))
        .expect("a link")
        .to_owned();
    let state = link.rsplit('/').next().unwrap().to_owned();
    let (body, signature) = state.split_once('.').unwrap();

    // Someone swaps in their own user id under ann's signature.
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    claims["u"] = Value::from("mallory");
    let forged = format!(
        "{}.{signature}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let start = format!("{}/oauth/google/start/{forged}", running.status);
    let page = browser.get(&start).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("not one clara made"));
    let callback = |query: String| format!("{}/oauth/google/callback?{query}", running.status);
    let page = browser
        .get(callback(format!("code=c&state={}", urlencode(&forged))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);

    // The user declines at Google.
    let page = browser
        .get(callback(format!(
            "error=access_denied&state={}",
            urlencode(&state)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("access was not granted")
    );

    // Google's token endpoint fails: an honest page, nothing stored, the answer not shown.
    running
        .google
        .push(Reply::json(500, r#"{"access_token":"leaked?"}"#));
    let page = browser
        .get(callback(format!("code=c&state={}", urlencode(&state))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    let text = page.text().await.unwrap();
    assert!(text.contains("token endpoint failed: HTTP 500"), "{text}");
    assert!(!text.contains("leaked"), "{text}");
    let store = running.app.live.current().services.store.clone();
    assert!(store.token("ann", "google").await.unwrap().is_none());
    assert!(store.token("mallory", "google").await.unwrap().is_none());

    // An unknown connection's pages are not found.
    let missing = browser
        .get(format!("{}/oauth/nowhere/elsewhere", running.status))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    running.app.shutdown("test").await;
}

/// Opens a connection link's page and returns where its button leads: the consent page.
async fn consent_link(browser: &reqwest::Client, start: &str) -> String {
    let page = browser.get(start).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let href = page
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no link on {page}"));
    href.replace("&amp;", "&")
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn clara_chat_serves_the_callback_only_when_a_connection_is_set_up() {
    let root = shipped_root();
    let chat_like = |vars: Vec<(&'static str, &'static str)>| {
        let mut all = vec![
            ("OPENROUTER_API_KEY", "k"),
            ("CLARA_STATUS__BIND", "127.0.0.1:0"),
            ("CLARA_RUNTIME__WATCH", "false"),
        ];
        all.extend(vars);
        let loader = support::loader(root.path(), &all);
        let features = clara::app::Features {
            jobs: true,
            connections: true,
            ..clara::app::Features::default()
        };
        async move {
            App::start(
                loader,
                std::sync::Arc::new(clara_core::engine::SystemClock),
                features,
            )
            .await
            .expect("clara starts")
        }
    };
    let plain = chat_like(Vec::new()).await;
    assert!(
        plain.status.is_none(),
        "nothing to serve without a connection"
    );
    plain.shutdown("test").await;

    let connected = chat_like(vec![
        ("CLARA_SECRET_KEY", "a test key that is long enough"),
        ("GOOGLE_CLIENT_ID", "client-1"),
    ])
    .await;
    let address = connected.status.as_ref().expect("the OAuth pages").addr();
    let page = browser()
        .get(format!("http://{address}/oauth/google/start/not-a-state"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Could not connect to Google")
    );
    connected.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_discord_a_reply_with_a_connection_link_gets_a_button() {
    use crate::support::on_discord::{GENERAL, OnDiscord, SOON};
    let mut on = OnDiscord::start(&[
        ("CLARA_STATUS__PUBLIC_URL", "https://clara.example/"),
        ("CLARA_SECRET_KEY", "a test key that is long enough"),
        ("GOOGLE_CLIENT_ID", "client-1"),
    ])
    .await;
    let link = "https://clara.example/oauth/google/start/eyJ1Ijoi.c2ln";
    on.model.push(fake_llm::openai_stream(&[&format!(
        "Open this to connect Google: {link}."
    )]));
    on.ann_mentions("connect my google please");
    let with_button = |m: &crate::support::fake_discord::FakeMessage| {
        m.json["components"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    };
    on.discord
        .wait_for(
            "the reply's button",
            |fake| fake.messages_in(GENERAL).iter().any(with_button),
            SOON,
        )
        .await;
    let reply = on
        .replies_in(GENERAL)
        .into_iter()
        .find(with_button)
        .expect("the reply");
    assert_eq!(
        reply.json["components"][0]["components"][0],
        serde_json::json!({"type": 2, "style": 5, "label": "Connect Google", "url": link})
    );
    assert!(reply.content.contains(link), "the link stays in the text");
    on.stop().await;
}
