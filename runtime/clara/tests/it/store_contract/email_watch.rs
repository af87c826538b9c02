//! The email watching contract: inboxes saved per user (a reconnected one keeps its place in
//! the mailbox), due checks claimed by one claimer at a time until their lease runs out and
//! finished with their outcome, alert settings and rules per user, and alerts recorded once
//! per message, waiting oldest first until one caller marks them delivered.

use std::collections::HashSet;
use std::sync::Arc;

use clara_core::store::{EmailAccount, EmailAlert, EmailSettings, Store, UserEmailRule};

contract!(
    accounts_are_kept_per_user_and_replaced_in_place,
    removing_an_account_takes_its_alerts_and_needs_its_owner,
    due_checks_are_claimed_once_until_their_lease_runs_out,
    concurrent_claimers_never_share_an_account,
    a_finished_check_records_its_outcome,
    settings_default_until_saved_and_round_trip,
    rules_are_replaced_by_name_and_listed_oldest_first,
    an_alert_is_recorded_once_per_account_and_message,
    undelivered_alerts_wait_oldest_first_until_marked_once,
    recent_alerts_are_newest_first_per_user,
);

/// An IMAP account of `user` at `address` on `host`, due at 1 000.
fn account(user: &str, address: &str, host: &str) -> EmailAccount {
    EmailAccount {
        id: 0,
        user_id: user.to_owned(),
        kind: "imap".to_owned(),
        address: address.to_owned(),
        host: host.to_owned(),
        port: 993,
        tls: true,
        sealed_password: Some(b"\x00sealed\xff".to_vec()),
        poll_interval_minutes: 5,
        cursor: None,
        next_poll_at: 1_000,
        error_count: 0,
        last_error: None,
        last_checked_at: None,
        created_at: 500,
    }
}

/// An alert of `user` about message `key` in account `account_id`, found at `created_at`.
fn alert(account_id: i64, user: &str, key: &str, created_at: i64) -> EmailAlert {
    EmailAlert {
        id: 0,
        account_id,
        user_id: user.to_owned(),
        message_key: key.to_owned(),
        sender: "Boss <boss@example.com>".to_owned(),
        subject: format!("about {key}"),
        preview: "Can you look at this before Friday?".to_owned(),
        rule: "boss".to_owned(),
        importance: "high".to_owned(),
        matched: "from boss@example.com\nsubject has \"Friday\"".to_owned(),
        created_at,
        delivered_at: None,
    }
}

/// The ids of `accounts`, in order.
fn ids(accounts: &[EmailAccount]) -> Vec<i64> {
    accounts.iter().map(|a| a.id).collect()
}

/// The message keys of `alerts`, in order.
fn keys(alerts: &[EmailAlert]) -> Vec<&str> {
    alerts.iter().map(|a| a.message_key.as_str()).collect()
}

/// `user`'s account `id`, as listed.
async fn listed(store: &dyn Store, user: &str, id: i64) -> EmailAccount {
    store
        .email_accounts(user)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == id)
        .expect("the account is listed")
}

async fn accounts_are_kept_per_user_and_replaced_in_place(store: Arc<dyn Store>) {
    assert!(store.email_accounts("ann").await.unwrap().is_empty());

    let work = account("ann", "ann@work.example", "imap.work.example");
    let work_id = store.save_email_account(&work).await.unwrap();
    assert_eq!(
        store.email_accounts("ann").await.unwrap(),
        vec![EmailAccount {
            id: work_id,
            ..work.clone()
        }],
        "every field comes back, with the id the store gave"
    );

    let gmail = EmailAccount {
        kind: "gmail".to_owned(),
        port: 0,
        sealed_password: None,
        created_at: 600,
        ..account("ann", "ann@gmail.example", "")
    };
    let gmail_id = store.save_email_account(&gmail).await.unwrap();
    assert_ne!(gmail_id, work_id);
    assert_eq!(
        ids(&store.email_accounts("ann").await.unwrap()),
        vec![work_id, gmail_id],
        "oldest first"
    );

    let bobs_id = store
        .save_email_account(&account("bob", "ann@work.example", "imap.work.example"))
        .await
        .unwrap();
    assert!(
        bobs_id != work_id && bobs_id != gmail_id,
        "the same inbox of another user is another account"
    );
    assert_eq!(
        ids(&store.email_accounts("ann").await.unwrap()),
        vec![work_id, gmail_id],
        "bob's account is not ann's"
    );
    assert_eq!(
        ids(&store.email_accounts("bob").await.unwrap()),
        vec![bobs_id]
    );

    // A place in the mailbox, then a failure, before the inbox is connected again.
    store
        .finish_email_check(work_id, Ok(Some("uid:42")), 2_000, 3_000)
        .await
        .unwrap();
    store
        .finish_email_check(work_id, Err("login refused"), 3_000, 4_000)
        .await
        .unwrap();
    let reconnected = EmailAccount {
        kind: "imap".to_owned(),
        port: 143,
        tls: false,
        sealed_password: Some(b"new password".to_vec()),
        poll_interval_minutes: 15,
        next_poll_at: 5_000,
        created_at: 4_500,
        ..work.clone()
    };
    assert_eq!(
        store.save_email_account(&reconnected).await.unwrap(),
        work_id,
        "the same user, address and host keep their id"
    );
    assert_eq!(
        listed(&*store, "ann", work_id).await,
        EmailAccount {
            id: work_id,
            cursor: Some("uid:42".to_owned()),
            error_count: 0,
            last_error: None,
            last_checked_at: Some(2_000),
            created_at: 500,
            ..reconnected
        },
        "the connection's settings are new, its place in the mailbox and age are kept, and \
         its errors are forgotten"
    );
    assert_eq!(
        ids(&store.email_accounts("ann").await.unwrap()),
        vec![work_id, gmail_id],
        "replacing adds nothing"
    );
    assert_eq!(
        listed(&*store, "bob", bobs_id).await.next_poll_at,
        1_000,
        "bob's account of the same inbox is untouched"
    );
}

async fn removing_an_account_takes_its_alerts_and_needs_its_owner(store: Arc<dyn Store>) {
    let anns = store
        .save_email_account(&account("ann", "ann@example.com", "imap.example.com"))
        .await
        .unwrap();
    let bobs = store
        .save_email_account(&account("bob", "bob@example.com", "imap.example.com"))
        .await
        .unwrap();
    for (id, user, key, at) in [
        (anns, "ann", "a-1", 1_000),
        (anns, "ann", "a-2", 2_000),
        (bobs, "bob", "b-1", 1_500),
    ] {
        assert!(
            store
                .record_email_alert(&alert(id, user, key, at))
                .await
                .unwrap()
                .is_some()
        );
    }

    assert!(
        !store.remove_email_account("bob", anns).await.unwrap(),
        "bob cannot remove ann's account"
    );
    assert_eq!(ids(&store.email_accounts("ann").await.unwrap()), vec![anns]);
    assert_eq!(
        keys(&store.recent_email_alerts("ann", 10).await.unwrap()),
        vec!["a-2", "a-1"],
        "nor its alerts"
    );

    assert!(store.remove_email_account("ann", anns).await.unwrap());
    assert!(
        !store.remove_email_account("ann", anns).await.unwrap(),
        "nothing left to remove"
    );
    assert!(store.email_accounts("ann").await.unwrap().is_empty());
    assert!(
        store
            .recent_email_alerts("ann", 10)
            .await
            .unwrap()
            .is_empty(),
        "its alerts went with it"
    );
    assert_eq!(
        keys(&store.undelivered_email_alerts(10).await.unwrap()),
        vec!["b-1"],
        "and no longer wait for delivery"
    );
    assert_eq!(ids(&store.email_accounts("bob").await.unwrap()), vec![bobs]);

    store
        .finish_email_check(anns, Ok(Some("uid:1")), 3_000, 4_000)
        .await
        .expect("a check of an account removed meanwhile finishes quietly");
    assert!(
        store.email_accounts("ann").await.unwrap().is_empty(),
        "and brings nothing back"
    );
}

async fn due_checks_are_claimed_once_until_their_lease_runs_out(store: Arc<dyn Store>) {
    let mut due_at = Vec::new();
    for (name, next_poll_at) in [("a", 1_000), ("b", 2_000), ("c", 5_000), ("d", 1_500)] {
        let id = store
            .save_email_account(&EmailAccount {
                next_poll_at,
                ..account("ann", &format!("{name}@example.com"), "imap.example.com")
            })
            .await
            .unwrap();
        due_at.push(id);
    }
    let [a, b, c, d] = due_at[..] else {
        unreachable!()
    };

    assert!(
        store
            .claim_email_checks(999, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due yet"
    );
    assert!(
        store
            .claim_email_checks(2_000, 60_000, 0)
            .await
            .unwrap()
            .is_empty(),
        "a limit of none claims none"
    );

    let first = store.claim_email_checks(2_000, 60_000, 2).await.unwrap();
    assert_eq!(
        ids(&first),
        vec![a, d],
        "the two due first (a at 1 000, d at 1 500), by id"
    );
    assert!(
        first.iter().all(|acc| acc.next_poll_at == 62_000),
        "each comes back with its lease as its next check: {first:?}"
    );
    assert_eq!(
        listed(&*store, "ann", a).await.next_poll_at,
        62_000,
        "and is stored so"
    );

    assert_eq!(
        ids(&store.claim_email_checks(2_000, 60_000, 10).await.unwrap()),
        vec![b],
        "claimed accounts are skipped while their lease runs"
    );
    assert!(
        store
            .claim_email_checks(4_999, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing else is due"
    );
    assert_eq!(
        ids(&store.claim_email_checks(5_000, 60_000, 10).await.unwrap()),
        vec![c]
    );

    let again = store.claim_email_checks(62_000, 1_000, 10).await.unwrap();
    assert_eq!(
        ids(&again),
        vec![a, b, d],
        "an account whose check never finished is due once its lease runs out"
    );
    assert!(again.iter().all(|acc| acc.next_poll_at == 63_000));
}

/// Claimers racing in each round of [`claim_race`], each claiming at most
/// [`CLAIM_LIMIT`]: together more than the race's accounts.
const CLAIMERS: usize = 6;
const CLAIM_LIMIT: u32 = 5;

/// Connects 24 inboxes, then in each of two rounds (the second once the first's leases ran
/// out) has claimers race for them, spread over `stores` and each on a task of its own, and
/// checks that no two claimers got the same account and that together they got them all.
pub(super) async fn claim_race(stores: &[Arc<dyn Store>]) {
    let mut connected = HashSet::new();
    for n in 0..24 {
        let id = stores[n % stores.len()]
            .save_email_account(&account(
                &format!("user-{}", n % 3),
                &format!("inbox-{n}@example.com"),
                "imap.example.com",
            ))
            .await
            .unwrap();
        connected.insert(id);
    }
    for now in [2_000, 62_000] {
        let claims: Vec<_> = (0..CLAIMERS)
            .map(|i| {
                let store = Arc::clone(&stores[i % stores.len()]);
                tokio::spawn(
                    async move { store.claim_email_checks(now, 60_000, CLAIM_LIMIT).await },
                )
            })
            .collect();
        let mut seen = HashSet::new();
        for claim in claims {
            for account in claim.await.expect("claim task").unwrap() {
                assert_eq!(account.next_poll_at, now + 60_000);
                assert!(
                    seen.insert(account.id),
                    "account {} was claimed twice at {now}",
                    account.id
                );
            }
        }
        // A claimer that got fewer than its limit found every other account taken.
        assert_eq!(seen, connected, "every due account was claimed at {now}");
        assert!(
            stores[0]
                .claim_email_checks(now, 60_000, 100)
                .await
                .unwrap()
                .is_empty(),
            "and none is due again while its lease runs"
        );
    }
}

async fn concurrent_claimers_never_share_an_account(store: Arc<dyn Store>) {
    claim_race(&[Arc::clone(&store)]).await;

    // Two claims joined on one task, as one instance's poller and its `check now` might; the
    // race's accounts are leased well past 1 000.
    let id = store
        .save_email_account(&account("ann", "ann@example.com", "imap.example.com"))
        .await
        .unwrap();
    let (one, two) = tokio::join!(
        store.claim_email_checks(1_000, 60_000, 10),
        store.claim_email_checks(1_000, 60_000, 10)
    );
    let mut got = [ids(&one.unwrap()), ids(&two.unwrap())];
    got.sort();
    assert_eq!(
        got,
        [vec![], vec![id]],
        "exactly one claim gets the account"
    );
}

async fn a_finished_check_records_its_outcome(store: Arc<dyn Store>) {
    let id = store
        .save_email_account(&account("ann", "ann@example.com", "imap.example.com"))
        .await
        .unwrap();
    assert_eq!(
        ids(&store.claim_email_checks(1_000, 60_000, 10).await.unwrap()),
        vec![id]
    );

    store
        .finish_email_check(id, Err("login refused"), 2_000, 3_000)
        .await
        .unwrap();
    store
        .finish_email_check(id, Err("timed out"), 3_000, 4_000)
        .await
        .unwrap();
    let failed = listed(&*store, "ann", id).await;
    assert_eq!(
        (
            failed.error_count,
            failed.last_error.as_deref(),
            failed.next_poll_at
        ),
        (2, Some("timed out"), 4_000),
        "failures are counted and the last one kept"
    );
    assert_eq!((failed.cursor, failed.last_checked_at), (None, None));

    store
        .finish_email_check(id, Ok(Some("uid:7")), 4_000, 5_000)
        .await
        .unwrap();
    let checked = listed(&*store, "ann", id).await;
    assert_eq!(
        (
            checked.cursor.as_deref(),
            checked.error_count,
            checked.last_error.as_deref(),
            checked.last_checked_at,
            checked.next_poll_at
        ),
        (Some("uid:7"), 0, None, Some(4_000), 5_000),
        "a success saves the cursor and forgets the errors"
    );

    store
        .finish_email_check(id, Err("server gone"), 5_000, 6_000)
        .await
        .unwrap();
    let failed = listed(&*store, "ann", id).await;
    assert_eq!(
        (
            failed.cursor.as_deref(),
            failed.error_count,
            failed.last_error.as_deref(),
            failed.last_checked_at,
            failed.next_poll_at
        ),
        (Some("uid:7"), 1, Some("server gone"), Some(4_000), 6_000),
        "a failure leaves the cursor and the last success as they were"
    );

    store
        .finish_email_check(id, Ok(None), 6_000, 7_000)
        .await
        .unwrap();
    let checked = listed(&*store, "ann", id).await;
    assert_eq!(
        (
            checked.cursor.as_deref(),
            checked.error_count,
            checked.last_error.as_deref(),
            checked.last_checked_at,
            checked.next_poll_at
        ),
        (Some("uid:7"), 0, None, Some(6_000), 7_000),
        "a success without a new cursor keeps the old one"
    );

    assert!(
        store
            .claim_email_checks(6_999, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before its next check"
    );
    assert_eq!(
        ids(&store.claim_email_checks(7_000, 60_000, 10).await.unwrap()),
        vec![id]
    );
}

async fn settings_default_until_saved_and_round_trip(store: Arc<dyn Store>) {
    assert_eq!(
        store.email_settings("ann").await.unwrap(),
        EmailSettings::default()
    );

    let full = EmailSettings {
        alert_adapter: Some("discord".to_owned()),
        alert_channel: Some("1234567890".to_owned()),
        ping: true,
        quiet_hours: Some(("22:00".to_owned(), "07:30".to_owned())),
        timezone: Some("Europe/Paris".to_owned()),
    };
    store.save_email_settings("ann", &full).await.unwrap();
    assert_eq!(store.email_settings("ann").await.unwrap(), full);
    assert_eq!(
        store.email_settings("bob").await.unwrap(),
        EmailSettings::default(),
        "ann's settings are not bob's"
    );

    let plain = EmailSettings {
        alert_adapter: Some("gateway".to_owned()),
        ..EmailSettings::default()
    };
    store.save_email_settings("ann", &plain).await.unwrap();
    assert_eq!(
        store.email_settings("ann").await.unwrap(),
        plain,
        "saving replaces them all: no quiet hours, no time zone, no channel"
    );

    store.save_email_settings("bob", &full).await.unwrap();
    assert_eq!(store.email_settings("bob").await.unwrap(), full);
    assert_eq!(store.email_settings("ann").await.unwrap(), plain);
}

async fn rules_are_replaced_by_name_and_listed_oldest_first(store: Arc<dyn Store>) {
    assert!(store.email_rules("ann").await.unwrap().is_empty());
    let preset = |name: &str, created_at| UserEmailRule {
        name: name.to_owned(),
        preset: Some(name.to_owned()),
        rule_json: None,
        created_at,
    };
    let own = UserEmailRule {
        name: "boss".to_owned(),
        preset: None,
        rule_json: Some(r#"{"from":["boss@example.com"],"importance":"high"}"#.to_owned()),
        created_at: 1_000,
    };
    for rule in [preset("bills", 2_000), own.clone(), preset("alpha", 3_000)] {
        store.save_email_rule("ann", &rule).await.unwrap();
    }
    assert_eq!(
        store.email_rules("ann").await.unwrap(),
        vec![own.clone(), preset("bills", 2_000), preset("alpha", 3_000)],
        "oldest first, every field as saved"
    );

    let bills = UserEmailRule {
        preset: None,
        rule_json: Some(r#"{"subject":["invoice"]}"#.to_owned()),
        created_at: 4_000,
        ..preset("bills", 0)
    };
    store.save_email_rule("ann", &bills).await.unwrap();
    assert_eq!(
        store.email_rules("ann").await.unwrap(),
        vec![own.clone(), preset("alpha", 3_000), bills.clone()],
        "a rule of the same name is replaced, not added"
    );

    store
        .save_email_rule("bob", &preset("bills", 5_000))
        .await
        .unwrap();
    assert_eq!(
        store.email_rules("bob").await.unwrap(),
        vec![preset("bills", 5_000)]
    );
    assert_eq!(
        store.email_rules("ann").await.unwrap(),
        vec![own.clone(), preset("alpha", 3_000), bills],
        "bob's rule of the same name is his own"
    );

    assert!(store.remove_email_rule("ann", "bills").await.unwrap());
    assert!(
        !store.remove_email_rule("ann", "bills").await.unwrap(),
        "nothing left to remove"
    );
    assert!(!store.remove_email_rule("ann", "never").await.unwrap());
    assert_eq!(
        store.email_rules("ann").await.unwrap(),
        vec![own, preset("alpha", 3_000)]
    );
    assert_eq!(
        store.email_rules("bob").await.unwrap(),
        vec![preset("bills", 5_000)],
        "removing ann's leaves bob's"
    );
}

async fn an_alert_is_recorded_once_per_account_and_message(store: Arc<dyn Store>) {
    let work = store
        .save_email_account(&account("ann", "ann@work.example", "imap.work.example"))
        .await
        .unwrap();
    let home = store
        .save_email_account(&account("ann", "ann@home.example", "imap.home.example"))
        .await
        .unwrap();

    let first = alert(work, "ann", "<m1@example.com>", 1_000);
    let id = store
        .record_email_alert(&first)
        .await
        .unwrap()
        .expect("a new message is recorded");
    assert_eq!(
        store.recent_email_alerts("ann", 10).await.unwrap(),
        vec![EmailAlert {
            id,
            ..first.clone()
        }],
        "every field comes back, with the id the store gave"
    );

    let again = EmailAlert {
        subject: "another instance found it too".to_owned(),
        created_at: 1_001,
        ..first.clone()
    };
    assert_eq!(
        store.record_email_alert(&again).await.unwrap(),
        None,
        "the same message of the same account is not recorded twice"
    );

    let elsewhere = store
        .record_email_alert(&alert(home, "ann", "<m1@example.com>", 1_002))
        .await
        .unwrap()
        .expect("the same key in another account is another message");
    let next = store
        .record_email_alert(&alert(work, "ann", "<m2@example.com>", 1_003))
        .await
        .unwrap()
        .expect("another message of the same account");
    assert_eq!(HashSet::from([id, elsewhere, next]).len(), 3);

    let recent = store.recent_email_alerts("ann", 10).await.unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(
        recent
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.subject.as_str()),
        Some("about <m1@example.com>"),
        "the first record stands"
    );
}

async fn undelivered_alerts_wait_oldest_first_until_marked_once(store: Arc<dyn Store>) {
    let anns = store
        .save_email_account(&account("ann", "ann@example.com", "imap.example.com"))
        .await
        .unwrap();
    let bobs = store
        .save_email_account(&account("bob", "bob@example.com", "imap.example.com"))
        .await
        .unwrap();
    assert!(store.undelivered_email_alerts(10).await.unwrap().is_empty());

    let mut recorded = Vec::new();
    for (account_id, user, key, at) in [
        (anns, "ann", "k3", 3_000),
        (anns, "ann", "k1", 1_000),
        (anns, "ann", "k2", 2_000),
        (anns, "ann", "k2-later", 2_000),
        (bobs, "bob", "bob-1", 1_500),
    ] {
        let id = store
            .record_email_alert(&alert(account_id, user, key, at))
            .await
            .unwrap()
            .expect("recorded");
        recorded.push(id);
    }
    let k1 = recorded[1];

    assert_eq!(
        keys(&store.undelivered_email_alerts(10).await.unwrap()),
        vec!["k1", "bob-1", "k2", "k2-later", "k3"],
        "oldest first, every user's, the first recorded first among those found at once"
    );
    assert_eq!(
        keys(&store.undelivered_email_alerts(2).await.unwrap()),
        vec!["k1", "bob-1"],
        "at most the limit"
    );
    assert!(store.undelivered_email_alerts(0).await.unwrap().is_empty());

    assert!(store.mark_email_alert_delivered(k1, 5_000).await.unwrap());
    assert!(
        !store.mark_email_alert_delivered(k1, 5_001).await.unwrap(),
        "only the first caller marks it"
    );
    assert!(
        !store
            .mark_email_alert_delivered(k1 + 1_000, 5_000)
            .await
            .unwrap(),
        "an unknown alert is not marked"
    );
    assert_eq!(
        keys(&store.undelivered_email_alerts(10).await.unwrap()),
        vec!["bob-1", "k2", "k2-later", "k3"],
        "a delivered alert waits no more"
    );
    let delivered = store
        .recent_email_alerts("ann", 10)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == k1)
        .expect("a delivered alert is still among the recent ones");
    assert_eq!(
        delivered.delivered_at,
        Some(5_000),
        "the first caller's time stands"
    );

    // A post that failed gives the alert back, but only the claim it made.
    let k3 = store
        .undelivered_email_alerts(10)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.message_key == "k3")
        .unwrap()
        .id;
    assert!(store.mark_email_alert_delivered(k3, 6_000).await.unwrap());
    store.release_email_alert(k3, 6_001).await.unwrap();
    store.release_email_alert(k1, 6_000).await.unwrap();
    assert_eq!(
        keys(&store.undelivered_email_alerts(10).await.unwrap()),
        vec!["bob-1", "k2", "k2-later"],
        "another claim's time releases nothing"
    );
    store.release_email_alert(k3, 6_000).await.unwrap();
    assert_eq!(
        keys(&store.undelivered_email_alerts(10).await.unwrap()),
        vec!["bob-1", "k2", "k2-later", "k3"],
        "a released alert waits again"
    );
    assert!(store.mark_email_alert_delivered(k3, 7_000).await.unwrap());
}

async fn recent_alerts_are_newest_first_per_user(store: Arc<dyn Store>) {
    let anns = store
        .save_email_account(&account("ann", "ann@example.com", "imap.example.com"))
        .await
        .unwrap();
    let bobs = store
        .save_email_account(&account("bob", "bob@example.com", "imap.example.com"))
        .await
        .unwrap();
    for (account_id, user, key, at) in [
        (anns, "ann", "old", 1_000),
        (anns, "ann", "newest", 3_000),
        (bobs, "bob", "bobs", 4_000),
        (anns, "ann", "middle", 2_000),
        (anns, "ann", "newest-too", 3_000),
    ] {
        store
            .record_email_alert(&alert(account_id, user, key, at))
            .await
            .unwrap()
            .expect("recorded");
    }

    assert_eq!(
        keys(&store.recent_email_alerts("ann", 10).await.unwrap()),
        vec!["newest-too", "newest", "middle", "old"],
        "newest first, the last recorded first among those found at once"
    );
    assert_eq!(
        keys(&store.recent_email_alerts("ann", 2).await.unwrap()),
        vec!["newest-too", "newest"],
        "at most the limit"
    );
    assert_eq!(
        keys(&store.recent_email_alerts("bob", 10).await.unwrap()),
        vec!["bobs"],
        "only the user's own"
    );
    assert!(
        store
            .recent_email_alerts("carl", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
