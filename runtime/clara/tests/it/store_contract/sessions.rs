//! The sessions contract: one open session per user and conversation, ends that count once,
//! idle and latest sessions, repeats, summaries, and messages in order.

use std::sync::Arc;

use clara_core::llm::Role;
use clara_core::store::{SessionQuery, Stamp, Store, StoreError};

contract!(
    sessions_open_start_end_and_link,
    one_open_session_however_many_turns_start_it_at_once,
    idle_and_latest_sessions,
    a_repeat_is_the_users_text_again_within_the_window,
    session_summary_and_missing_sessions,
    messages_keep_order_limit_and_move_last_activity,
    find_sessions_narrows_by_each_field_and_keeps_the_newest,
    user_messages_are_counted_by_user_conversation_and_time,
);

async fn sessions_open_start_end_and_link(store: Arc<dyn Store>) {
    assert_eq!(store.open_session("ann", "dm-ann").await.unwrap(), None);
    let (first, created) = store
        .start_session("ann", "dm-ann", None, 1_000)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.id.len(), 32);
    assert_eq!((first.started_at, first.last_activity_at), (1_000, 1_000));
    assert_eq!(
        (first.ended_at, first.previous_session_id.clone()),
        (None, None)
    );
    assert_eq!(
        store.open_session("ann", "dm-ann").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.open_session("ann", "channel-x").await.unwrap(), None);
    assert_eq!(store.open_session("bob", "dm-ann").await.unwrap(), None);
    assert_eq!(
        store
            .start_session("ann", "dm-ann", None, 2_000)
            .await
            .unwrap(),
        (first.clone(), false),
        "a second start joins the open session"
    );

    assert!(store.end_session(&first.id, 5_000).await.unwrap());
    assert!(
        !store.end_session(&first.id, 5_500).await.unwrap(),
        "only the first end counts"
    );
    assert_eq!(store.open_session("ann", "dm-ann").await.unwrap(), None);
    let ended = store.session(&first.id).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(5_000));

    let (second, created) = store
        .start_session("ann", "dm-ann", Some(&first.id), 6_000)
        .await
        .unwrap();
    assert!(created);
    assert_ne!(second.id, first.id);
    assert_eq!(
        second.previous_session_id.as_deref(),
        Some(first.id.as_str())
    );
    assert_eq!(
        store.open_session("ann", "dm-ann").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.session(&second.id).await.unwrap(), Some(second));
}

async fn one_open_session_however_many_turns_start_it_at_once(store: Arc<dyn Store>) {
    let mut turns = Vec::new();
    for _ in 0..40 {
        let store = store.clone();
        turns.push(tokio::spawn(async move {
            match store.open_session("ann", "dm-ann").await.unwrap() {
                Some(open) => (open.id, false),
                None => {
                    let (session, created) = store
                        .start_session("ann", "dm-ann", None, 1_000)
                        .await
                        .unwrap();
                    (session.id, created)
                }
            }
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for turn in turns {
        let (id, made) = turn.await.unwrap();
        ids.insert(id);
        created += usize::from(made);
    }
    assert_eq!(ids.len(), 1, "every turn landed in one session");
    assert_eq!(created, 1);
}

async fn idle_and_latest_sessions(store: Arc<dyn Store>) {
    assert_eq!(store.latest_session("ann", "dm-ann").await.unwrap(), None);
    let (old, _) = store
        .start_session("ann", "dm-ann", None, 1_000)
        .await
        .unwrap();
    let (quiet, _) = store
        .start_session("bob", "dm-bob", None, 2_000)
        .await
        .unwrap();
    let (busy, _) = store
        .start_session("cat", "dm-cat", None, 3_000)
        .await
        .unwrap();
    store
        .add_message(&busy.id, Role::User, None, "still here", 9_000)
        .await
        .unwrap();
    let ids = |sessions: Vec<clara_core::store::Session>| -> Vec<String> {
        sessions.into_iter().map(|s| s.id).collect()
    };
    assert_eq!(
        ids(store.idle_sessions(5_000, 10).await.unwrap()),
        [old.id.clone(), quiet.id.clone()],
        "least recently active first, the busy one left out"
    );
    assert_eq!(ids(store.idle_sessions(5_000, 1).await.unwrap()).len(), 1);
    store.end_session(&old.id, 6_000).await.unwrap();
    assert_eq!(
        ids(store.idle_sessions(5_000, 10).await.unwrap()),
        std::slice::from_ref(&quiet.id),
        "an ended session is not idle"
    );
    let latest = store
        .latest_session("ann", "dm-ann")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (latest.id.as_str(), latest.ended_at),
        (old.id.as_str(), Some(6_000))
    );
    let (next, _) = store
        .start_session("ann", "dm-ann", Some(&old.id), 7_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .latest_session("ann", "dm-ann")
            .await
            .unwrap()
            .map(|s| s.id),
        Some(next.id)
    );
}

async fn a_repeat_is_the_users_text_again_within_the_window(store: Arc<dyn Store>) {
    let (session, _) = store
        .start_session("ann", "dm-ann", None, 1_000)
        .await
        .unwrap();
    store
        .add_message(&session.id, Role::User, Some("Ann"), "hello", 10_000)
        .await
        .unwrap();
    store
        .add_message(&session.id, Role::Assistant, None, "hi Ann", 11_000)
        .await
        .unwrap();
    let repeat = |content: &'static str, since: i64, lookback: u32| {
        let store = store.clone();
        let id = session.id.clone();
        async move {
            store
                .is_repeat(&id, content, since, lookback)
                .await
                .unwrap()
        }
    };
    assert!(
        repeat("hello", 5_000, 20).await,
        "behind clara's reply, still a repeat"
    );
    assert!(!repeat("hello", 10_001, 20).await, "outside the window");
    assert!(
        !repeat("hi Ann", 5_000, 20).await,
        "clara's own text is not the user's"
    );
    assert!(!repeat("hello there", 5_000, 20).await);
    assert!(!repeat("hello", 5_000, 1).await, "beyond the lookback");
    let (other, _) = store
        .start_session("bob", "dm-bob", None, 1_000)
        .await
        .unwrap();
    assert!(
        !store
            .is_repeat(&other.id, "hello", 5_000, 20)
            .await
            .unwrap()
    );
}

async fn session_summary_and_missing_sessions(store: Arc<dyn Store>) {
    let session = store
        .start_session("ann", "dm-ann", None, 1)
        .await
        .unwrap()
        .0;
    store
        .set_summary(&session.id, "talked about dogs")
        .await
        .unwrap();
    let read = store.session(&session.id).await.unwrap().unwrap();
    assert_eq!(read.summary.as_deref(), Some("talked about dogs"));

    assert_eq!(store.session("nope").await.unwrap(), None);
    assert!(matches!(
        store.end_session("nope", 2).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_summary("nope", "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.add_message("nope", Role::User, None, "hi", 2).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn messages_keep_order_limit_and_move_last_activity(store: Arc<dyn Store>) {
    let session = store
        .start_session("ann", "channel-1", None, 100)
        .await
        .unwrap()
        .0;
    let other = store
        .start_session("bob", "channel-1", None, 100)
        .await
        .unwrap()
        .0;
    let mut ids = Vec::new();
    for (i, role) in [Role::User, Role::Assistant, Role::User, Role::Assistant]
        .into_iter()
        .enumerate()
    {
        let author = (role == Role::User).then_some("Ann");
        let id = store
            .add_message(&session.id, role, author, &format!("m{i}"), 200 + i as i64)
            .await
            .unwrap();
        ids.push(id);
    }
    store
        .add_message(&other.id, Role::User, None, "elsewhere", 999)
        .await
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    let all = store.recent_messages(&session.id, 10).await.unwrap();
    let contents: Vec<&str> = all.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["m0", "m1", "m2", "m3"]);
    assert_eq!(all[0].role, Role::User);
    assert_eq!(all[0].author.as_deref(), Some("Ann"));
    assert_eq!(all[1].author, None);
    assert_eq!(all[3].created_at, 203);
    assert!(all.iter().all(|m| m.session_id == session.id));

    let last_two = store.recent_messages(&session.id, 2).await.unwrap();
    let contents: Vec<&str> = last_two.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["m2", "m3"], "the last messages, oldest first");
    assert!(
        store
            .recent_messages(&session.id, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let read = store.session(&session.id).await.unwrap().unwrap();
    assert_eq!((read.started_at, read.last_activity_at), (100, 203));
}

async fn find_sessions_narrows_by_each_field_and_keeps_the_newest(store: Arc<dyn Store>) {
    let (first, _) = store
        .start_session("ann", "dm-ann", None, 1_000)
        .await
        .unwrap();
    store
        .add_message(&first.id, Role::User, Some("Ann"), "hi", 1_500)
        .await
        .unwrap();
    store.end_session(&first.id, 3_000).await.unwrap();
    let (second, _) = store
        .start_session("ann", "dm-ann", Some(&first.id), 4_000)
        .await
        .unwrap();
    let (channel, _) = store
        .start_session("ann", "channel-x", None, 5_000)
        .await
        .unwrap();
    let (bob, _) = store
        .start_session("bob", "dm-bob", None, 6_000)
        .await
        .unwrap();
    let ids = |found: Vec<clara_core::store::Session>| -> Vec<String> {
        found.into_iter().map(|s| s.id).collect()
    };
    let (first, second, channel, bob) = (&*first.id, &*second.id, &*channel.id, &*bob.id);
    let all = SessionQuery {
        limit: 10,
        ..SessionQuery::default()
    };
    assert_eq!(
        ids(store.find_sessions(&all).await.unwrap()),
        [first, second, channel, bob],
        "every session, oldest first"
    );
    let newest = SessionQuery {
        limit: 2,
        ..all.clone()
    };
    assert_eq!(
        ids(store.find_sessions(&newest).await.unwrap()),
        [channel, bob],
        "the limit keeps the newest, still oldest first"
    );
    let anns = SessionQuery {
        user_id: Some("ann".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.find_sessions(&anns).await.unwrap()),
        [first, second, channel]
    );
    let dm = SessionQuery {
        conversation: Some("dm-ann".into()),
        ..anns.clone()
    };
    assert_eq!(
        ids(store.find_sessions(&dm).await.unwrap()),
        [first, second]
    );
    let one = SessionQuery {
        session_id: Some(second.to_owned()),
        ..all.clone()
    };
    assert_eq!(ids(store.find_sessions(&one).await.unwrap()), [second]);
    // `since` looks at the last activity, `until` at the start.
    let window = SessionQuery {
        since: Some(1_500),
        until: Some(5_000),
        ..anns.clone()
    };
    assert_eq!(
        ids(store.find_sessions(&window).await.unwrap()),
        [first, second]
    );
    let later = SessionQuery {
        since: Some(1_501),
        ..anns
    };
    assert_eq!(
        ids(store.find_sessions(&later).await.unwrap()),
        [second, channel]
    );
    let nobody = SessionQuery {
        user_id: Some("carol".into()),
        ..all
    };
    assert!(store.find_sessions(&nobody).await.unwrap().is_empty());
}

async fn user_messages_are_counted_by_user_conversation_and_time(store: Arc<dyn Store>) {
    let (ann_dm, _) = store.start_session("ann", "dm-ann", None, 0).await.unwrap();
    let (ann_here, _) = store
        .start_session("ann", "channel-x", None, 0)
        .await
        .unwrap();
    let (bob_here, _) = store
        .start_session("bob", "channel-x", None, 0)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (session, role, at) in [
        (&ann_dm, Role::User, 1_000),
        (&ann_dm, Role::Assistant, 1_001),
        (&ann_dm, Role::User, 5_000),
        (&ann_here, Role::User, 6_000),
        (&bob_here, Role::User, 7_000),
        (&bob_here, Role::User, 8_000),
    ] {
        let id = store
            .add_message(&session.id, role, None, "hi", at)
            .await
            .unwrap();
        ids.push(Stamp { at, id });
    }
    let count = |user: Option<&'static str>, conversation: Option<&'static str>, since| {
        let store = store.clone();
        async move {
            store
                .user_message_stamps(user, conversation, since, 100)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        count(Some("ann"), None, 0).await,
        3,
        "ann's, every conversation, replies not"
    );
    assert_eq!(
        count(Some("ann"), None, 5_000).await,
        2,
        "since is inclusive"
    );
    assert_eq!(
        count(None, Some("channel-x"), 0).await,
        3,
        "everyone in the channel"
    );
    assert_eq!(count(None, Some("channel-x"), 7_500).await, 1);
    assert_eq!(count(Some("bob"), Some("channel-x"), 0).await, 2);
    assert_eq!(count(Some("carol"), None, 0).await, 0);
    assert_eq!(count(Some("ann"), None, 9_000).await, 0);
    let capped = store.user_message_stamps(Some("ann"), None, 0, 2).await;
    assert_eq!(
        capped.unwrap(),
        [ids[3], ids[2]],
        "the newest first, no more than asked"
    );
}
