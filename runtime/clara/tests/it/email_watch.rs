//! Email watching end to end, on a fake Discord and a real Dovecot: ann asks for a link in
//! the chat, connects her inbox on the page it opens (a wrong password first), applies the
//! `job_hunting` preset, and a recruiter's message reaches her DM with the conditions that
//! matched; the same message never alerts twice, quiet hours hold an alert until they end,
//! and a check that fails keeps the inbox's place. Two instances on one store alert each
//! message once.

use clara::email::InboxWatch;
use clara_core::store::{EmailAccount, EmailSettings, UserEmailRule};

use crate::support::dovecot::Dovecot;
use crate::support::fake_discord::dm_channel_id;
use crate::support::fake_llm::{openai_stream, openai_tool_stream};
use crate::support::on_discord::*;

/// Ann asks; the model calls `tool` with `arguments`, then says "Done.".
async fn ann_uses(on: &OnDiscord, tool: &str, arguments: &str, n: usize) -> String {
    let asked = on.model.requests().len();
    on.model
        .push(openai_tool_stream(&[("c1", tool, arguments)], 40));
    on.model.push(openai_stream(&["Done."]));
    on.ann_mentions(&format!("please use {tool} ({n})"));
    // The turn's second model call carries the tool's result.
    let deadline = std::time::Instant::now() + SOON;
    while on.model.requests().len() < asked + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the turn never called the model twice"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    on.model.last_tool_result()
}

/// Files `raw` in ann's INBOX.
async fn deliver(server: &Dovecot, raw: &str) {
    server.deliver("ann@example.com", "right-pass", raw).await;
}

fn recruiter(id: &str) -> String {
    format!(
        "From: Dana Reyes <dana@mail.greenhouse.io>\nTo: ann@example.com\n\
         Subject: Interview invitation: Rust engineer\nMessage-ID: <{id}@greenhouse>\n\
         Content-Type: text/plain; charset=utf-8\n\nHi Ann, could we talk on Friday?\n"
    )
}

fn dms(on: &OnDiscord) -> Vec<String> {
    on.discord
        .messages_in(dm_channel_id(ANN))
        .into_iter()
        .map(|m| m.content)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Dovecot: apt-get install dovecot-imapd as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn ann_connects_her_inbox_applies_job_hunting_and_a_recruiter_reaches_her_dm() {
    let server = Dovecot::start(&[("ann@example.com", "right-pass")]);
    let mut on = OnDiscord::start(&[
        ("CLARA_EMAIL__ENABLED", "true"),
        ("CLARA_SECRET_KEY", "a test key that is long enough"),
    ])
    .await;
    let app = on.app();
    let status = format!(
        "http://{}",
        app.status.as_ref().expect("the status endpoint").addr()
    );

    // The link: the password is typed on its page, never in the chat.
    let result = ann_uses(
        &on,
        "email_connect_imap",
        r#"{"address": "ann@example.com"}"#,
        1,
    )
    .await;
    let link = result
        .split_whitespace()
        .find(|w| w.contains("/email/connect/"))
        .unwrap_or_else(|| panic!("no link in {result}"));
    let page = format!("{status}/email/{}", link.split_once("/email/").unwrap().1);
    let browser = reqwest::Client::new();
    let form = browser.get(&page).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(
        html.contains("value=\"ann@example.com\"") && html.contains("type=\"password\""),
        "{html}"
    );

    let port = server.port.to_string();
    let post = |password: &'static str| {
        let fields = [
            ("address", "ann@example.com"),
            ("host", "127.0.0.1"),
            ("port", port.as_str()),
            ("password", password),
        ];
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        browser
            .post(&page)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // A password never goes unencrypted to a server elsewhere.
    let fields = [
        ("address", "ann@example.com"),
        ("host", "imap.example.com"),
        ("port", "143"),
        ("password", "right-pass"),
    ];
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let plain = browser
        .post(&page)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    assert!(plain.text().await.unwrap().contains("Use TLS"));
    let wrong = post("wrong").await.unwrap();
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("refused the login"));
    let right = post("right-pass").await.unwrap();
    let said = right.text().await.unwrap();
    assert!(said.contains("Connected ann@example.com"), "{said}");
    let used = post("right-pass").await.unwrap();
    assert!(used.text().await.unwrap().contains("already used"));

    let store = app.live.current().services.store.clone();
    let user = format!("discord-{ANN}");
    let accounts = store.email_accounts(&user).await.unwrap();
    assert_eq!(accounts.len(), 1);
    let sealed = accounts[0].sealed_password.clone().unwrap();
    assert!(
        !String::from_utf8_lossy(&sealed).contains("right-pass"),
        "sealed at rest"
    );

    let listed = ann_uses(&on, "email_list_accounts", "{}", 2).await;
    assert!(
        listed.starts_with("ann@example.com (imap, 127.0.0.1:"),
        "{listed}"
    );
    let applied = ann_uses(&on, "email_apply_preset", r#"{"preset": "job_hunting"}"#, 3).await;
    assert_eq!(applied, "Applied the job_hunting preset.");

    // Mail arrives; a check finds the recruiter and the alert reaches ann's DM.
    deliver(&server, &recruiter("r1")).await;
    deliver(
        &server,
        "From: friend@example.com\nSubject: Lunch?\nMessage-ID: <l1@x>\n\nTacos\n",
    )
    .await;
    let watch = InboxWatch::new(app.live.clone(), app.bus.clone());
    let now = app.live.current().services.clock.now();
    let minute = 60_000;
    let report = watch.check_due(now + 6 * minute).await.unwrap();
    assert_eq!(
        (report.checked, report.alerts, report.delivered),
        (1, 1, 1),
        "{report:?}"
    );
    let alert = dms(&on).pop().expect("an alert in ann's DM");
    assert!(
        alert.contains("high mail in ann@example.com from Dana Reyes <dana@mail.greenhouse.io>")
            && alert.contains("Interview invitation: Rust engineer")
            && alert.contains(
                "job_hunting: sender domain greenhouse.io, subject contains \"interview\""
            ),
        "{alert}"
    );

    // The same message again (a client copying it back) is not news.
    deliver(&server, &recruiter("r1")).await;
    let again = watch.check_due(now + 12 * minute).await.unwrap();
    assert_eq!((again.checked, again.alerts), (1, 0), "{again:?}");

    // Quiet hours hold the next alert until they end.
    let quiet = EmailSettings {
        quiet_hours: Some(("00:00".to_owned(), "23:59".to_owned())),
        timezone: Some("UTC".to_owned()),
        ..EmailSettings::default()
    };
    store.save_email_settings(&user, &quiet).await.unwrap();
    deliver(&server, &recruiter("r2")).await;
    let held = watch.check_due(now + 18 * minute).await.unwrap();
    assert_eq!((held.alerts, held.delivered), (1, 0), "{held:?}");
    store
        .save_email_settings(&user, &EmailSettings::default())
        .await
        .unwrap();
    let later = watch.check_due(now + 19 * minute).await.unwrap();
    assert_eq!(later.delivered, 1, "{later:?}");
    assert_eq!(dms(&on).len(), 2);
    let status = ann_uses(&on, "email_status", "{}", 4).await;
    assert!(
        status.contains(
            "Rules: job_hunting\nQuiet hours: off\nAlerts go to: direct messages\nMentions: off\nAlerts waiting: 0"
        ),
        "{status}"
    );

    // Alerts can come to the channel ann asks from instead.
    let here = ann_uses(&on, "email_set_alert_channel", r#"{"to": "here"}"#, 5).await;
    assert_eq!(here, "Email alerts will be posted in general.");
    deliver(&server, &recruiter("r3")).await;
    let posted = watch.check_due(now + 25 * minute).await.unwrap();
    assert_eq!(posted.delivered, 1, "{posted:?}");
    assert_eq!(dms(&on).len(), 2, "not in the DM");
    assert!(
        on.reply_texts(GENERAL)
            .iter()
            .any(|t| t.contains("Interview invitation: Rust engineer")),
        "{:?}",
        on.reply_texts(GENERAL)
    );
    let back = ann_uses(&on, "email_set_alert_channel", r#"{"to": "dm"}"#, 6).await;
    assert_eq!(back, "Email alerts will come as direct messages.");
    let settings = store.email_settings(&user).await.unwrap();
    assert_eq!(
        (settings.alert_adapter, settings.alert_channel),
        (None, None)
    );

    // Mentions: ann turns them on, and her next alert pings her (and only her).
    let ping = ann_uses(&on, "email_toggle_ping", r#"{"on": true}"#, 7).await;
    assert_eq!(ping, "Email alerts will mention the user.");
    deliver(&server, &recruiter("r4")).await;
    let pinged = watch.check_due(now + 31 * minute).await.unwrap();
    assert_eq!(pinged.delivered, 1, "{pinged:?}");
    let last = dms(&on).pop().unwrap();
    assert!(
        last.starts_with(&format!("<@{ANN}> 📬 high mail")),
        "{last}"
    );
    let dm_posts = format!("/channels/{}/messages", dm_channel_id(ANN));
    let sent = on.discord.requests_to("POST", &dm_posts);
    assert_eq!(
        sent.last().unwrap().body["allowed_mentions"]["users"],
        serde_json::json!([ANN.to_string()])
    );
    // A rule of her own never pings, whatever the setting, and adds its own line.
    let saved = ann_uses(
        &on,
        "email_add_rule",
        r#"{"name": "landlord", "sender_domain": ["flats.example"], "importance": "urgent", "priority": 60, "ping": false, "custom_message": "Answer within a day."}"#,
        8,
    )
    .await;
    assert!(saved.starts_with("Saved the rule `landlord`"), "{saved}");
    deliver(
        &server,
        "From: Office <office@flats.example>
Subject: Rent
Message-ID: <rent1@x>

The rent changes.
",
    )
    .await;
    let unpinged = watch.check_due(now + 37 * minute).await.unwrap();
    assert_eq!(unpinged.delivered, 1, "{unpinged:?}");
    let last = dms(&on).pop().unwrap();
    assert!(
        last.starts_with("📬 urgent mail") && last.ends_with("\nAnswer within a day."),
        "{last}"
    );
    let sent = on.discord.requests_to("POST", &dm_posts);
    assert_eq!(
        sent.last().unwrap().body["allowed_mentions"]["users"],
        serde_json::Value::Null,
        "no one is pinged"
    );

    // A server that is gone: the check fails, is counted, and the place is kept.
    let place = store.email_accounts(&user).await.unwrap()[0].cursor.clone();
    drop(server);
    let failed = watch.check_due(now + 43 * minute).await.unwrap();
    assert_eq!(failed.failed, 1, "{failed:?}");
    let account = &store.email_accounts(&user).await.unwrap()[0];
    assert_eq!((account.error_count, &account.cursor), (1, &place));
    assert!(
        account.next_poll_at >= now + 43 * minute + 10 * minute,
        "backs off"
    );
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Dovecot: apt-get install dovecot-imapd as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn two_instances_on_one_store_alert_each_message_once() {
    let server = Dovecot::start(&[("ann@example.com", "right-pass")]);
    let overrides = [
        ("CLARA_EMAIL__ENABLED", "true"),
        ("CLARA_SECRET_KEY", "a test key that is long enough"),
    ];
    let mut on = OnDiscord::start(&overrides).await;
    // A second clara on the same root: the same SQLite store and the same Discord.
    let second = start_app(on.root.path(), &on.discord, &on.model, &overrides).await;
    let deadline = std::time::Instant::now() + SOON;
    while second.health.snapshot().http_status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second never connected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let first = on.app();
    let store = first.live.current().services.store.clone();
    let user = format!("discord-{ANN}");
    // Ann's inbox, saved as its connect page saves it.
    let connector =
        clara::connections::Connector::new(&first.live.current().config, reqwest::Client::new());
    let owner = clara::email::inbox_link::password_owner(&user, "ann@example.com", "127.0.0.1");
    let sealed = connector.secret_key().unwrap().seal(b"right-pass", &owner);
    store
        .save_email_account(&EmailAccount {
            id: 0,
            user_id: user.clone(),
            kind: "imap".to_owned(),
            address: "ann@example.com".to_owned(),
            host: "127.0.0.1".to_owned(),
            port: server.port,
            tls: false,
            sealed_password: Some(sealed),
            poll_interval_minutes: 5,
            cursor: None,
            next_poll_at: 0,
            error_count: 0,
            last_error: None,
            last_checked_at: None,
            created_at: 0,
        })
        .await
        .unwrap();
    store
        .save_email_rule(
            &user,
            &UserEmailRule {
                name: "job_hunting".to_owned(),
                preset: Some("job_hunting".to_owned()),
                rule_json: None,
                created_at: 0,
            },
        )
        .await
        .unwrap();
    let one = InboxWatch::new(first.live.clone(), first.bus.clone());
    let two = InboxWatch::new(second.live.clone(), second.bus.clone());
    let now = first.live.current().services.clock.now();
    let minute = 60_000;
    // The first look only finds where the inbox stands.
    let (a, b) = tokio::join!(one.check_due(now), two.check_due(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.checked + b.checked,
        1,
        "one instance claims it: {a:?} {b:?}"
    );

    // Three recruiters arrive while ann's quiet hours hold alerts; both instances look.
    let quiet = EmailSettings {
        quiet_hours: Some(("00:00".to_owned(), "23:59".to_owned())),
        timezone: Some("UTC".to_owned()),
        ..EmailSettings::default()
    };
    store.save_email_settings(&user, &quiet).await.unwrap();
    for id in ["t1", "t2", "t3"] {
        deliver(&server, &recruiter(id)).await;
    }
    let (a, b) = tokio::join!(
        one.check_due(now + 6 * minute),
        two.check_due(now + 6 * minute)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (
            a.checked + b.checked,
            a.alerts + b.alerts,
            a.delivered + b.delivered
        ),
        (1, 3, 0),
        "{a:?} {b:?}"
    );
    // The hours end: both instances try to deliver the same three alerts at once.
    store
        .save_email_settings(&user, &EmailSettings::default())
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        one.check_due(now + 7 * minute),
        two.check_due(now + 7 * minute)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.delivered + b.delivered, 3, "{a:?} {b:?}");
    let alerts = dms(&on);
    assert_eq!(alerts.len(), 3, "each message once: {alerts:#?}");
    assert!(store.undelivered_email_alerts(10).await.unwrap().is_empty());

    // A restart reads on from the saved place: nothing alerts again.
    second.shutdown("test over").await;
    let restarted = start_app(on.root.path(), &on.discord, &on.model, &overrides).await;
    let three = InboxWatch::new(restarted.live.clone(), restarted.bus.clone());
    let again = three.check_due(now + 13 * minute).await.unwrap();
    assert_eq!((again.checked, again.alerts), (1, 0), "{again:?}");
    assert_eq!(dms(&on).len(), 3);
    restarted.shutdown("test over").await;
    on.stop().await;
}

#[tokio::test]
async fn rules_are_added_checked_listed_and_removed_per_user() {
    let root = crate::support::shipped_root();
    let env = clara_config::Env::from_vars([
        ("OPENROUTER_API_KEY".to_owned(), "k".to_owned()),
        ("CLARA_EMAIL__ENABLED".to_owned(), "true".to_owned()),
    ]);
    let set = clara_config::load_with_env(root.path(), env).unwrap();
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let names: Vec<&str> = tools.tools.iter().map(|t| t.spec().name.as_str()).collect();
    assert!(names.contains(&"email_add_rule"), "{names:?}");
    assert!(
        !names.contains(&"email_connect_imap"),
        "no inbox without the key that seals its password: {names:?}"
    );
    let store = clara_core::store::InMemoryStore::new();
    let clock = clara_core::engine::ManualClock::new(1_000);
    let call = |user: &'static str, tool: &'static str, arguments: serde_json::Value| {
        let tool = tools
            .tools
            .iter()
            .find(|t| t.spec().name == tool)
            .unwrap()
            .clone();
        let (store, clock) = (&store, &clock);
        async move {
            let context = clara_core::engine::ToolContext {
                user_id: user,
                store,
                embedder: None,
                clock,
                search: (100, 60),
                files: None,
                place: None,
            };
            tool.call(&arguments, &context).await.map_err(|e| e.0)
        }
    };
    let presets = call("ann", "email_list_presets", serde_json::json!({}))
        .await
        .unwrap();
    assert!(
        presets.contains("job_hunting (high): Recruiters"),
        "{presets}"
    );

    let refused = call(
        "ann",
        "email_add_rule",
        serde_json::json!({"name": "broken", "subject_regex": "(unclosed", "sender_contains": [" "]}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused,
        "not saved: sender_contains: an empty text would match every message: remove it; subject_regex: invalid regular expression: unclosed group"
    );
    let saved = call(
        "ann",
        "email_add_rule",
        serde_json::json!({"name": "landlord", "sender_domain": ["flats.example"], "has_attachments": true, "match_mode": "all", "importance": "urgent"}),
    )
    .await
    .unwrap();
    assert_eq!(
        saved,
        "Saved the rule `landlord`: sender domain flats.example and has attachments (urgent)."
    );
    call(
        "ann",
        "email_apply_preset",
        serde_json::json!({"preset": "shipping"}),
    )
    .await
    .unwrap();
    let listed = call("ann", "email_list_rules", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(
        listed,
        "landlord: sender domain flats.example and has attachments (urgent)\nshipping: the shipping preset"
    );
    let bobs = call("bob", "email_list_rules", serde_json::json!({}))
        .await
        .unwrap();
    assert!(bobs.starts_with("No email rules yet"), "{bobs}");
    let removed = call(
        "ann",
        "email_remove_rule",
        serde_json::json!({"name": "landlord"}),
    )
    .await
    .unwrap();
    assert_eq!(removed, "Removed the rule `landlord`.");
}
