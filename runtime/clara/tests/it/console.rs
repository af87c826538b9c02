//! The console over HTTP: every route answers (404 pages for what is not there), the cookie
//! is HTTP-only, same-site and secure, state-changing requests need the session's CSRF token,
//! and beyond loopback every page asks for a login with the console's token.

use crate::support::console_site::{console, csrf_of, session_cookie};

#[tokio::test(flavor = "multi_thread")]
async fn on_loopback_every_page_answers_and_forgetting_needs_the_forms_token() {
    let on = console("127.0.0.1:0", &[]).await;
    let overview = on.get("/", None).await;
    assert_eq!(overview.status(), 200);
    let cookie = session_cookie(&overview);
    let headers = overview.headers().clone();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["cache-control"], "no-store");
    let html = overview.text().await.unwrap();
    assert!(
        html.contains("<h1>Overview</h1>") && html.contains("Adapters"),
        "{html}"
    );
    assert!(html.contains("generation 1 since"), "{html}");
    assert!(html.contains("data-live=\"true\""));

    for (path, status) in [
        ("/console/turns", 200),
        ("/console/memory", 200),
        ("/console/assets/console.css", 200),
        ("/console/assets/console.js", 200),
        ("/console/turns/0123456789abcdef0123456789abcdef", 404),
        ("/console/no-such-page", 404),
    ] {
        let response = on.get(path, Some(&cookie)).await;
        assert_eq!(response.status(), status, "{path}");
    }
    let missing = on
        .get("/console/turns/nope", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        missing.contains("<h1>Not found</h1>"),
        "a page, not a panic: {missing}"
    );
    let partial = on
        .client
        .get(format!("{}/console/turns", on.base))
        .header("cookie", &cookie)
        .header("x-console-partial", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        partial.starts_with("<h1>Turns</h1>"),
        "a live view's main alone: {partial}"
    );

    let id = on.remember("ann", "Ann keeps <bees> & goats").await;
    let users = on
        .get("/console/memory", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(users.contains("/console/memory?user=ann"), "{users}");
    let page = on
        .get("/console/memory?user=ann", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Ann keeps &lt;bees&gt; &amp; goats"),
        "escaped: {page}"
    );
    let csrf = csrf_of(&page);
    let forged = on
        .post(
            "/console/memory/forget",
            Some(&cookie),
            &[("id", &id), ("user", "ann"), ("csrf", "0000")],
        )
        .await;
    assert_eq!(forged.status(), 403, "a wrong CSRF token is refused");
    let cookieless = on
        .post(
            "/console/memory/forget",
            None,
            &[("id", &id), ("user", "ann"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        cookieless.status(),
        403,
        "another site's form has no session"
    );
    let store = on.app.live.current().services.store.clone();
    assert!(
        store.memory(&id).await.unwrap().is_some(),
        "nothing forgotten yet"
    );
    let forgotten = on
        .post(
            "/console/memory/forget",
            Some(&cookie),
            &[("id", &id), ("user", "ann"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(forgotten.status(), 303);
    assert!(store.memory(&id).await.unwrap().is_none(), "forgotten");
    let again = on
        .post(
            "/console/memory/forget",
            Some(&cookie),
            &[("id", &id), ("user", "ann"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status(), 404);

    let schedule = on
        .get("/console/schedule", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        schedule.contains("vacuum-database") && schedule.contains("log-startup"),
        "{schedule}"
    );
    assert!(
        schedule.contains("At 03:00"),
        "the schedule in words: {schedule}"
    );
    let tools = on
        .get("/console/tools", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        tools.contains("<code>roll_dice</code>") && tools.contains("MCP servers"),
        "{tools}"
    );
    let unknown = on
        .post(
            "/console/mcp/restart",
            Some(&cookie),
            &[("name", "nothing"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let forged = on
        .post(
            "/console/mcp/restart",
            Some(&cookie),
            &[("name", "nothing")],
        )
        .await;
    assert_eq!(forged.status(), 403);

    // Open only to this machine: a page whose name was rebound to 127.0.0.1, or a request a
    // proxy forwarded, is not let in.
    let rebound = on
        .client
        .get(format!("{}/console/memory?user=ann", on.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let proxied = on
        .client
        .get(format!("{}/", on.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 403);
    let turns = on
        .client
        .get(format!("{}/turns", on.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(turns.status(), 403, "/turns only for this machine");
    assert_eq!(on.get("/turns", None).await.status(), 200);
    on.app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_loopback_every_page_asks_for_the_token_first() {
    let on = console(
        "0.0.0.0:0",
        &[("CLARA_CONSOLE_TOKEN", "a-long-console-token")],
    )
    .await;
    let first = on.get("/", None).await;
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], "/console/login");
    assert_eq!(on.get("/console/memory", None).await.status(), 303);
    assert_eq!(
        on.get("/turns", None).await.status(),
        403,
        "not beyond loopback"
    );
    let plain = on
        .client
        .post(format!("{}/console/login", on.base))
        .header("host", "192.0.2.7")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=a-long-console-token")
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.status(),
        403,
        "no login in the clear across the network"
    );
    assert!(plain.text().await.unwrap().contains("Log in over https"));
    let proxied = on
        .client
        .post(format!("{}/console/login", on.base))
        .header("host", "clara.example.com")
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=a-long-console-token")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 303, "behind an https proxy");
    let login = on.get("/console/login", None).await.text().await.unwrap();
    assert!(
        login.contains("type=\"password\" name=\"token\""),
        "{login}"
    );
    let wrong = on.post("/console/login", None, &[("token", "guess")]).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right = on
        .post("/console/login", None, &[("token", "a-long-console-token")])
        .await;
    assert_eq!(right.status(), 303);
    let cookie = session_cookie(&right);
    let overview = on.get("/", Some(&cookie)).await;
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.unwrap();
    assert!(html.contains("Log out"), "{html}");
    assert!(
        !html.contains("a-long-console-token"),
        "the token never shows"
    );
    let forged = on
        .post(
            "/console/memory/forget",
            Some(&cookie),
            &[("id", "x"), ("user", "ann")],
        )
        .await;
    assert_eq!(forged.status(), 403, "no CSRF token, no change");
    let csrf = csrf_of(&html);
    let out = on
        .post("/console/logout", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status(), 303);
    assert_eq!(on.get("/", Some(&cookie)).await.status(), 303, "logged out");
    on.app.shutdown("test").await;

    let on = console("0.0.0.0:0", &[]).await;
    let refused = on.get("/", None).await;
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("set CLARA_CONSOLE_TOKEN"),
        "says what to set: {text}"
    );
    on.app.shutdown("test").await;
}
