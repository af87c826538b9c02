//! Gmail through a user's Google connection, against a fake Gmail API that keeps a mailbox:
//! connecting asks for the Google connection first, then starts from the mail that arrives
//! afterwards; checks read only new inbox mail (bounded, going on where they stopped), a
//! message too big to read whole still shows its sender, subject and attachments, a token
//! Google refuses is renewed, and history Gmail no longer keeps starts over instead of failing.

use clara::email::InboxWatch;

use crate::connections::Running;
use crate::support::fake_gmail::FakeGmail;

const MINUTE: i64 = 60_000;

fn mail(from: &str, subject: &str, id: &str) -> String {
    format!(
        "From: {from}\nTo: ann@gmail.com\nSubject: {subject}\nMessage-ID: <{id}@test>\n\
         Content-Type: text/plain; charset=utf-8\n\nHello Ann, are you free on Friday?\n"
    )
}

/// A message from Lever with a CV attached, `size` bytes long.
fn big_with_attachment(size: usize) -> String {
    let filler = "A".repeat(size);
    format!(
        "From: Jobs <jobs@hire.lever.co>\nTo: ann@gmail.com\nSubject: Your application\n\
         Message-ID: <big@test>\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain; charset=utf-8\n\nPlease find the offer attached.\n\
         --b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"offer.pdf\"\n\n\
         {filler}\n--b--\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn ann_watches_her_gmail_through_her_google_connection() {
    let gmail = FakeGmail::start("ann@gmail.com", "tok-1").await;
    let api = gmail.base_url();
    let running = Running::start_with_env(
        |_, _| {},
        &[
            ("CLARA_EMAIL__ENABLED", "true"),
            ("CLARA_EMAIL__GMAIL_API_URL", api.as_str()),
            ("CLARA_EMAIL__MAX_MESSAGES_PER_POLL", "2"),
            ("CLARA_EMAIL__MAX_MESSAGE_BYTES", "8192"),
        ],
    )
    .await;

    // Not connected to Google yet: the tool hands out the link for that.
    let first = running.call("ann", "email_connect_gmail", "{}").await;
    assert!(
        first.contains("Google is not connected") && first.contains("/oauth/google/start/"),
        "{first}"
    );
    running.connect_google("ann", "tok-1").await;
    gmail.deliver(&mail(
        "Dana <dana@mail.greenhouse.io>",
        "Interview before connecting",
        "old",
    ));
    let connected = running.call("ann", "email_connect_gmail", "{}").await;
    assert_eq!(
        connected,
        "Watching ann@gmail.com (Gmail): new mail is checked every 5 min against the user's rules."
    );
    let listed = running.call("ann", "email_list_accounts", "{}").await;
    assert!(
        listed.starts_with("ann@gmail.com (gmail), every 5 min"),
        "{listed}"
    );
    running
        .call("ann", "email_apply_preset", r#"{"preset": "job_hunting"}"#)
        .await;
    running
        .call(
            "ann",
            "email_add_rule",
            r#"{"name": "offers", "sender_domain": ["lever.co"], "has_attachments": true, "match_mode": "all", "importance": "urgent", "priority": 50}"#,
        )
        .await;
    gmail.take_requests();

    // New mail: a recruiter, a friend, a message ann sent (not in the inbox), and an offer
    // too big to read whole.
    gmail.deliver(&mail(
        "Dana Reyes <dana@mail.greenhouse.io>",
        "Interview invitation",
        "r1",
    ));
    gmail.deliver(&mail("friend@example.com", "Lunch?", "l1"));
    gmail.deliver_labelled(
        &mail("ann@gmail.com", "Interview reply", "sent1"),
        &["SENT"],
    );
    gmail.deliver(&big_with_attachment(100_000));

    let app = &running.app;
    let store = app.live.current().services.store.clone();
    let watch = InboxWatch::new(app.live.clone(), app.bus.clone());
    let now = app.live.current().services.clock.now();
    let report = watch.check_due(now + 6 * MINUTE).await.unwrap();
    assert_eq!(
        (report.checked, report.failed, report.alerts),
        (1, 0, 1),
        "{report:?}"
    );
    let requests = gmail.take_requests();
    assert!(
        requests[0].starts_with("/gmail/v1/users/me/history?startHistoryId=")
            && requests[0].contains("historyTypes=messageAdded&labelId=INBOX"),
        "{requests:?}"
    );
    assert_eq!(
        requests.iter().filter(|r| r.contains("format=raw")).count(),
        2,
        "two messages per check: {requests:?}"
    );
    assert!(
        requests.iter().all(|r| !r.contains("modify")),
        "nothing is marked read: {requests:?}"
    );

    // More waited: the next check reads on at once and finds the offer by its outline.
    let account = &store.email_accounts("ann").await.unwrap()[0];
    assert_eq!(account.next_poll_at, now + 6 * MINUTE, "due again at once");
    let rest = watch.check_due(now + 6 * MINUTE).await.unwrap();
    assert_eq!((rest.checked, rest.alerts), (1, 1), "{rest:?}");
    let requests = gmail.take_requests();
    assert!(
        requests.iter().any(|r| r.contains("format=metadata")),
        "too big for `raw`: {requests:?}"
    );
    let alerts = store.recent_email_alerts("ann", 10).await.unwrap();
    let described: Vec<String> = alerts
        .iter()
        .map(|a| format!("{} | {} | {} | {}", a.rule, a.sender, a.subject, a.matched))
        .collect();
    assert_eq!(
        described,
        [
            "offers | Jobs <jobs@hire.lever.co> | Your application | sender domain lever.co\nhas attachments",
            "job_hunting | Dana Reyes <dana@mail.greenhouse.io> | Interview invitation | sender domain greenhouse.io\nsubject contains \"interview\"",
        ]
    );
    let nothing = watch.check_due(now + 12 * MINUTE).await.unwrap();
    assert_eq!((nothing.checked, nothing.alerts), (1, 0), "{nothing:?}");

    // The access token expired: it is renewed with the refresh token and the check goes on.
    gmail.accept_only("tok-2");
    running.google.push(crate::support::fake_llm::Reply::json(
        200,
        r#"{"access_token":"tok-2","expires_in":3600}"#,
    ));
    gmail.deliver(&mail("Sam <sam@greenhouse.io>", "Second interview", "r2"));
    let renewed = watch.check_due(now + 18 * MINUTE).await.unwrap();
    assert_eq!((renewed.failed, renewed.alerts), (0, 1), "{renewed:?}");
    let refresh = running.google.take_requests();
    assert!(
        refresh
            .iter()
            .any(|r| r.raw_body.contains("grant_type=refresh_token")),
        "renewed at the token endpoint"
    );

    // Gmail no longer keeps the history after the saved place: reading starts from now,
    // without failing and without alerting on old mail.
    gmail.deliver(&mail(
        "Lee <lee@greenhouse.io>",
        "Interview lost in time",
        "r3",
    ));
    gmail.forget_history();
    let restarted = watch.check_due(now + 24 * MINUTE).await.unwrap();
    assert_eq!(
        (restarted.failed, restarted.alerts),
        (0, 0),
        "{restarted:?}"
    );
    gmail.deliver(&mail(
        "Kim <kim@greenhouse.io>",
        "Interview on Monday",
        "r4",
    ));
    let after = watch.check_due(now + 30 * MINUTE).await.unwrap();
    assert_eq!(after.alerts, 1, "{after:?}");
    let latest = &store.recent_email_alerts("ann", 1).await.unwrap()[0];
    assert_eq!(latest.subject, "Interview on Monday");

    // Checked less often from now on: due 15 minutes after its last check.
    let slower = running
        .call(
            "ann",
            "email_set_check_interval",
            r#"{"address": "ann@gmail.com", "minutes": 15}"#,
        )
        .await;
    assert_eq!(slower, "ann@gmail.com is now checked every 15 min.");
    let account = &store.email_accounts("ann").await.unwrap()[0];
    assert_eq!(
        (account.poll_interval_minutes, account.next_poll_at),
        (15, now + 45 * MINUTE)
    );
    let early = watch.check_due(now + 40 * MINUTE).await.unwrap();
    assert_eq!(early.checked, 0, "not due yet: {early:?}");

    // Disconnecting stops the watch and forgets its alerts.
    let gone = running
        .call("ann", "email_disconnect", r#"{"address": "ann@gmail.com"}"#)
        .await;
    assert!(gone.starts_with("Stopped watching ann@gmail.com"), "{gone}");
    assert!(
        store
            .recent_email_alerts("ann", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
