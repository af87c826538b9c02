//! Logging in to the console with a connection's account, against a fake GitHub on 127.0.0.1
//! (authorize, token and `/user` endpoints): the login page offers it, the browser goes to the
//! consent page holding a cookie that binds the callback to it, the code is exchanged with
//! PKCE and the account read; only a listed account gets a session, a callback works once and
//! only in the browser that started it, and taking an account off the list ends its session.

use crate::support::console_site::{OnConsole, console_in, session_cookie};
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::shipped_root;

/// `key`'s value in the query of `url`.
fn query(url: &str, key: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map_or_else(|| panic!("no {key} in {url}"), |(_, v)| v.into_owned())
}

/// Starts a sign-in: the consent URL and the cookie binding it to this browser.
async fn start(on: &OnConsole) -> (String, String) {
    let started = on.get("/console/login/github", None).await;
    assert_eq!(started.status(), 303);
    let set = started.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/oauth/github/callback/console",
    ] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let consent = started.headers()["location"].to_str().unwrap().to_owned();
    (consent, set.split(';').next().unwrap().to_owned())
}

/// The fake GitHub answers the next code, then says the token is `login`'s.
fn answers(github: &FakeLlm, login: &str) {
    github.push(Reply::json(
        200,
        r#"{"access_token":"gho_console","token_type":"bearer"}"#,
    ));
    github.push(Reply::json(200, format!(r#"{{"login":"{login}","id":7}}"#)));
}

/// The provider sends the browser back with `state`.
async fn back(on: &OnConsole, state: &str, cookie: Option<&str>) -> reqwest::Response {
    let state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    on.get(
        &format!("/oauth/github/callback/console?code=the-code&state={state}"),
        cookie,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listed_github_account_logs_in_and_no_one_else_does() {
    let github = FakeLlm::start().await;
    let g = github.base_url();
    let root = shipped_root();
    crate::support::edit(
        &root.path().join("clara.toml"),
        "# accounts = { github = [\"your-github-login\"], google = [\"you@example.com\"] }",
        "accounts = { github = [\"Octocat\"] }",
    );
    let (authorize, token, user) = (
        format!("{g}/login/oauth/authorize"),
        format!("{g}/login/oauth/access_token"),
        format!("{g}/user"),
    );
    let on = console_in(
        root,
        "0.0.0.0:0",
        &[
            ("CLARA_SECRET_KEY", "a test key that is long enough"),
            ("GITHUB_CLIENT_ID", "console-client"),
            ("GITHUB_CLIENT_SECRET", "console-secret"),
            ("CLARA_CONNECTIONS__GITHUB__AUTHORIZE_URL", &authorize),
            ("CLARA_CONNECTIONS__GITHUB__TOKEN_URL", &token),
            ("CLARA_CONNECTIONS__GITHUB__ACCOUNT_URL", &user),
        ],
    )
    .await;

    let first = on.get("/", None).await;
    assert_eq!(first.status(), 303, "no token set, yet a way to log in");
    assert_eq!(first.headers()["location"], "/console/login");
    let login = on.get("/console/login", None).await.text().await.unwrap();
    assert!(login.contains("href=\"/console/login/github\""), "{login}");
    assert!(login.contains("Log in with GitHub"), "{login}");
    assert!(
        !login.contains("name=\"token\""),
        "no token form without a token: {login}"
    );

    let (consent, browser) = start(&on).await;
    assert!(consent.starts_with(&authorize), "{consent}");
    assert_eq!(query(&consent, "client_id"), "console-client");
    assert!(
        query(&consent, "redirect_uri").ends_with("/oauth/github/callback/console"),
        "below the connection's own callback: {consent}"
    );
    assert_eq!(query(&consent, "code_challenge_method"), "S256");
    assert!(
        !consent.contains("scope="),
        "none of the connection's scopes (repo, gist, …) for a login: {consent}"
    );
    let state = query(&consent, "state");

    // A sign-in's state is no connect link: it opens no consent page for the tools' scopes.
    let as_link = on.get(&format!("/oauth/github/start/{state}"), None).await;
    assert_eq!(as_link.status(), 400);

    answers(&github, "octocat");
    let arrived = back(&on, &state, Some(&browser)).await;
    assert_eq!(arrived.status(), 200);
    let session = session_cookie(&arrived);
    let page = arrived.text().await.unwrap();
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");
    assert!(page.contains("As octocat on GitHub"), "{page}");
    let asked = github.take_requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    let exchange = &asked[0].raw_body;
    for part in ["code=the-code", "code_verifier=", "callback%2Fconsole"] {
        assert!(exchange.contains(part), "{part} in {exchange}");
    }
    assert_eq!(asked[1].path, "/user");
    assert_eq!(asked[1].header("authorization"), Some("Bearer gho_console"));

    let overview = on.get("/", Some(&session)).await;
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.unwrap();
    assert!(html.contains("Log out"), "{html}");
    assert!(!html.contains("gho_console"), "the token never shows");

    // A callback works once, and only in the browser that started it.
    let replayed = back(&on, &state, Some(&browser)).await;
    assert_eq!(replayed.status(), 401);
    assert!(replayed.text().await.unwrap().contains("already used"));
    let (consent, _) = start(&on).await;
    let elsewhere = back(
        &on,
        &query(&consent, "state"),
        Some("clara_console_signin=someone-elses"),
    )
    .await;
    assert_eq!(elsewhere.status(), 401);
    assert!(elsewhere.headers().get("set-cookie").is_none());
    let cookieless = back(&on, &query(&consent, "state"), None).await;
    assert_eq!(cookieless.status(), 400);
    assert!(github.take_requests().is_empty(), "nothing reached GitHub");

    // An account not on the list is told so, and gets no session.
    let (consent, browser) = start(&on).await;
    answers(&github, "mallory");
    let mallory = back(&on, &query(&consent, "state"), Some(&browser)).await;
    assert_eq!(mallory.status(), 403);
    let set: Vec<&str> = mallory
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        set.iter().all(|c| !c.starts_with("clara_console=")),
        "no session: {set:?}"
    );
    assert!(
        mallory
            .text()
            .await
            .unwrap()
            .contains("may not use this console")
    );

    // Off the list, out of the console.
    crate::support::edit(
        &on.root.path().join("clara.toml"),
        "accounts = { github = [\"Octocat\"] }",
        "accounts = { github = [\"someone-else\"] }",
    );
    let reloaded = on.app.live.reload().await;
    assert!(
        matches!(reloaded, clara::live::Reload::Applied(_)),
        "{reloaded:?}"
    );
    assert_eq!(on.get("/", Some(&session)).await.status(), 303);
    on.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_names_a_login_connection_that_cannot_tell_whose_account_it_is() {
    let root = shipped_root();
    let clara = root.path().join("clara.toml");
    crate::support::edit(
        &clara,
        "# accounts = { github = [\"your-github-login\"], google = [\"you@example.com\"] }",
        "accounts = { gitlab = [\"me\"], google = [\"me@example.com\"] }",
    );
    crate::support::edit(
        &clara,
        "account_url = \"https://openidconnect.googleapis.com/v1/userinfo\"\n",
        "",
    );
    let out = crate::support::clara(root.path())
        .args(["validate", "--offline"])
        .output()
        .unwrap();
    let said = crate::support::said(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("clara.toml:") && said.contains("gitlab"),
        "an unknown connection, at its place: {said}"
    );
    assert!(said.contains("has no `account_url`"), "{said}");

    // An address nobody verified says nothing of whose account it is.
    crate::support::edit(
        &clara,
        "account_verified_field = \"email_verified\"\n",
        "account_url = \"https://openidconnect.googleapis.com/v1/userinfo\"\n",
    );
    let out = crate::support::clara(root.path())
        .args(["validate", "--offline"])
        .output()
        .unwrap();
    let said = crate::support::said(&out);
    assert!(said.contains("without `account_verified_field`"), "{said}");
}
