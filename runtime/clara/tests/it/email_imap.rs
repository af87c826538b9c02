//! Reading mail from a real IMAP server (Dovecot on 127.0.0.1): logins right and wrong, new
//! mail only and oldest first, bounded reads that go on where they stopped, renumbered
//! mailboxes, a server that dies mid-read, and the shipped presets matching what arrives.

use std::time::Duration;

use clara::email::{Cursor, ImapLogin, ImapMailbox, MailError, MailSummary, first_match};
use clara_config::model::email_rule::{EmailConditions, EmailRule, Importance, MatchMode};

use crate::support::dovecot::Dovecot;
use crate::support::shipped_root;

const SOON: Duration = Duration::from_secs(10);

fn login(server: &Dovecot, password: &str) -> ImapLogin {
    ImapLogin {
        host: "127.0.0.1".to_owned(),
        port: server.port,
        tls: false,
        user: "ann@example.com".to_owned(),
        password: password.to_owned(),
    }
}

/// Files `raw` in ann's INBOX.
async fn deliver(server: &Dovecot, raw: &str) {
    server.deliver("ann@example.com", "right-pass", raw).await;
}

fn mail(from: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: ann@example.com\nSubject: {subject}\nMessage-ID: <{}@test>\n\
         Date: Thu, 03 Dec 2026 09:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n{body}\n",
        subject.len() * 7919 + body.len()
    )
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Dovecot: apt-get install dovecot-imapd as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn a_wrong_password_is_refused_and_new_mail_is_read_oldest_first_in_bounded_batches() {
    let server = Dovecot::start(&[("ann@example.com", "right-pass")]);
    let refused = ImapMailbox::open(&login(&server, "wrong"), SOON).await;
    assert!(
        matches!(refused, Err(MailError::Login(_))),
        "{:?}",
        refused.err()
    );

    deliver(
        &server,
        &mail("old@example.com", "Before connecting", "old"),
    )
    .await;
    let mut inbox = ImapMailbox::open(&login(&server, "right-pass"), SOON)
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", server.log()));
    // The first look reports nothing that was there before: it only marks where new mail
    // starts.
    let first = inbox.new_mail(None, 10, 65536).await.unwrap();
    assert!(first.started_over && first.messages.is_empty());
    let cursor = first.cursor.unwrap();
    assert_eq!(cursor.last_uid, 1);

    for n in 1..=3 {
        deliver(
            &server,
            &mail("bob@example.com", &format!("Note {n}"), "hi"),
        )
        .await;
    }
    let batch = inbox.new_mail(Some(cursor), 2, 65536).await.unwrap();
    let subjects: Vec<String> = batch
        .messages
        .iter()
        .map(|m| MailSummary::parse(&m.bytes, 100).subject)
        .collect();
    assert_eq!(subjects, ["Note 1", "Note 2"]);
    assert!(batch.more && !batch.started_over);
    let rest = inbox.new_mail(batch.cursor, 2, 65536).await.unwrap();
    assert_eq!(rest.messages.len(), 1);
    assert_eq!(
        MailSummary::parse(&rest.messages[0].bytes, 100).subject,
        "Note 3"
    );
    assert!(!rest.more);
    let none = inbox.new_mail(rest.cursor, 2, 65536).await.unwrap();
    assert!(none.messages.is_empty());
    assert_eq!(none.cursor, rest.cursor, "nothing new keeps the position");

    // A huge message is read only up to the byte bound, and still summarised.
    let huge = mail("bob@example.com", "Big", &"x".repeat(300_000));
    deliver(&server, &huge).await;
    let big = inbox.new_mail(none.cursor, 5, 4096).await.unwrap();
    assert!(big.messages[0].bytes.len() <= 4096);
    assert_eq!(
        MailSummary::parse(&big.messages[0].bytes, 20).subject,
        "Big"
    );

    // Renumbered UIDs (another UIDVALIDITY): start over from the newest, report nothing old.
    let stale = Cursor {
        uid_validity: big.cursor.unwrap().uid_validity.wrapping_add(1),
        last_uid: 1,
    };
    let renumbered = inbox.new_mail(Some(stale), 10, 65536).await.unwrap();
    assert!(renumbered.started_over && renumbered.messages.is_empty());
    assert_eq!(renumbered.cursor, big.cursor);
    inbox.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Dovecot: apt-get install dovecot-imapd as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn a_server_that_goes_away_mid_session_is_an_error_not_a_crash() {
    let mut server = Dovecot::start(&[("ann@example.com", "right-pass")]);
    let mut inbox = ImapMailbox::open(&login(&server, "right-pass"), SOON)
        .await
        .unwrap();
    let first = inbox.new_mail(None, 10, 65536).await.unwrap();
    server.kill();
    let failed = inbox.new_mail(first.cursor, 10, 65536).await;
    assert!(
        matches!(failed, Err(MailError::Protocol(_) | MailError::Timeout(_))),
        "{:?}",
        failed.err().map(|e| e.to_string())
    );
    let gone = ImapMailbox::open(&login(&server, "right-pass"), SOON).await;
    assert!(
        matches!(gone, Err(MailError::Connect { .. })),
        "{:?}",
        gone.err()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs Dovecot: apt-get install dovecot-imapd as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn a_recruiters_message_matches_job_hunting_with_the_conditions_that_held() {
    let server = Dovecot::start(&[("ann@example.com", "right-pass")]);
    let root = shipped_root();
    let set = clara_config::load_with_env(root.path(), clara_config::Env::default()).unwrap();
    let presets: Vec<(&str, &EmailRule)> = set
        .email_presets
        .iter()
        .map(|(name, p)| (name.as_str(), &p.value))
        .collect();
    assert_eq!(
        presets.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["financial", "job_hunting", "security", "shipping", "urgent"]
    );

    let mut inbox = ImapMailbox::open(&login(&server, "right-pass"), SOON)
        .await
        .unwrap();
    let cursor = inbox.new_mail(None, 10, 65536).await.unwrap().cursor;
    deliver(
        &server,
        &mail(
            "Dana Reyes <dana@mail.greenhouse.io>",
            "Interview invitation: Rust engineer",
            "Hi Ann, we would like to schedule a call.",
        ),
    )
    .await;
    deliver(
        &server,
        &mail("friend@example.com", "Lunch?", "Tacos at noon"),
    )
    .await;
    let new = inbox.new_mail(cursor, 10, 65536).await.unwrap();
    let summaries: Vec<MailSummary> = new
        .messages
        .iter()
        .map(|m| MailSummary::parse(&m.bytes, 200))
        .collect();

    let recruiter = first_match(presets.iter().copied(), &summaries[0]).expect("a match");
    assert_eq!(recruiter.rule, "job_hunting");
    assert_eq!(recruiter.importance, Importance::High);
    assert_eq!(
        recruiter.matched,
        [
            "sender domain greenhouse.io",
            "subject contains \"interview\""
        ]
    );
    assert_eq!(first_match(presets.iter().copied(), &summaries[1]), None);

    // An `all` rule that needs an attachment does not match the same message without one.
    let with_cv = EmailRule {
        conditions: EmailConditions {
            sender_domain: vec!["greenhouse.io".to_owned()],
            has_attachments: Some(true),
            ..EmailConditions::default()
        },
        match_mode: MatchMode::All,
        ..EmailRule::default()
    };
    assert_eq!(first_match([("with_cv", &with_cv)], &summaries[0]), None);
    let any = EmailRule {
        match_mode: MatchMode::Any,
        ..with_cv.clone()
    };
    assert_eq!(
        first_match([("any", &any)], &summaries[0]).unwrap().matched,
        ["sender domain greenhouse.io"]
    );
    inbox.close().await;
}
