//! The store contract: every check is an `async fn(Arc<dyn Store>)`, run against a fresh
//! SQLite file, and against Postgres when `CLARA_TEST_POSTGRES_URL` is set.

use std::path::Path;
use std::sync::Arc;

use clara::store::SqliteStore;
use clara_config::Env;
use clara_config::model::store::StoreConfig;
use clara_core::llm::Role;
use clara_core::store::{
    ChannelModeSetting, JobQueue, Memories, MemoryEvent, MemoryQuery, NewMemory, ScoredMemory,
    Sessions, Store, StoreError, TaskLeases, TaskRun,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Runs each named contract function against every backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = super::sqlite_store(dir.path()).await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(clara_test_postgres), ignore = "needs CLARA_TEST_POSTGRES_URL: eval \"$(bash .ci/postgres.sh start)\"")]
                async fn $name() {
                    let (store, db) = super::postgres_store().await;
                    super::$name(store).await;
                    db.drop().await;
                }
            )*
        }
    };
}

contract!(
    sessions_open_start_end_and_link,
    one_open_session_however_many_turns_start_it_at_once,
    idle_and_latest_sessions,
    a_repeat_is_the_users_text_again_within_the_window,
    session_summary_and_missing_sessions,
    messages_keep_order_limit_and_move_last_activity,
    memory_changes_leave_exact_history,
    update_without_embedding_keeps_it_only_for_same_text,
    key_memories_are_per_user_newest_first,
    search_matches_words_despite_punctuation,
    search_never_crosses_users,
    search_respects_project,
    search_follows_updates_and_deletes,
    vector_search_follows_every_write,
    hybrid_search_ranks_closest_meaning_first,
    search_ignores_vectors_of_another_model,
    scores_are_normalised,
    memories_to_embed_and_set_embedding,
    jobs_wait_for_run_after,
    leased_jobs_are_not_claimed_twice,
    jobs_complete_and_retry,
    task_runs_are_claimed_once_per_due_time,
    an_expired_task_lease_can_be_taken_over,
    only_the_lease_holder_finishes_a_task_run,
    task_run_reports_start_finish_and_outcome,
    racing_claims_of_one_due_run_have_one_winner,
    an_unset_channel_mode_is_none,
    a_channel_mode_is_set_read_and_overwritten,
    channel_modes_are_per_platform_and_channel,
    clearing_a_channel_mode_reports_whether_one_was_set,
);

/// A fresh SQLite store in `dir`, opened the way the runtime opens it.
async fn sqlite_store(dir: &Path) -> Arc<dyn Store> {
    let config = StoreConfig::Sqlite {
        path: "data/clara.db".to_owned(),
    };
    clara::store::open(&config, dir, &Env::default())
        .await
        .expect("open sqlite store")
}

/// The variable holding the test server's URL; the Postgres tests are ignored without it.
const POSTGRES_URL_VAR: &str = "CLARA_TEST_POSTGRES_URL";

/// A Postgres store on the server `CLARA_TEST_POSTGRES_URL` points at.
///
/// Each call gets its own empty database, created on the server the URL points at (the
/// checks assume no jobs or memories but their own) and opened the way the runtime opens a
/// store; the returned [`TestDatabase`] drops it once the check passed.
async fn postgres_store() -> (Arc<dyn Store>, TestDatabase) {
    let url = std::env::var(POSTGRES_URL_VAR).expect("the Postgres tests run with the URL set");
    let db = TestDatabase::create(&url).await;
    let config = StoreConfig::Postgres {
        url_env: POSTGRES_URL_VAR.to_owned(),
        max_connections: 4,
        hnsw_ef_search: 100,
    };
    let env = Env::from_vars([(POSTGRES_URL_VAR.to_owned(), db.url.clone())]);
    let root = std::env::temp_dir();
    let store = clara::store::open(&config, &root, &env)
        .await
        .expect("open postgres store");
    (store, db)
}

/// A throwaway database on the test server.
struct TestDatabase {
    /// The server URL it was created through.
    admin_url: String,
    /// Its name.
    name: String,
    /// The URL that opens it.
    url: String,
}

impl TestDatabase {
    /// Creates an empty database with a random name on the server `admin_url` points at.
    async fn create(admin_url: &str) -> TestDatabase {
        let name = format!("clara_test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("connect to the test server");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        TestDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    /// Drops the database (closing what is still connected to it).
    async fn drop(self) {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to the test server");
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
            .expect("drop the test database");
        let _ = admin.close().await;
    }
}

/// `url` (`postgres://user@host:port/db?params`) pointing at database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, params) = url
        .split_once('?')
        .map_or((url, None), |(b, p)| (b, Some(p)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(params) = params {
        out.push('?');
        out.push_str(params);
    }
    out
}

fn memory(user: &str, project: Option<&str>, text: &str) -> NewMemory {
    NewMemory {
        user_id: user.to_owned(),
        project: project.map(str::to_owned),
        text: text.to_owned(),
        is_key: false,
        embedding: None,
    }
}

fn embedded(user: &str, text: &str, model: &str, vector: &[f32]) -> NewMemory {
    NewMemory {
        embedding: Some((model.to_owned(), vector.to_vec())),
        ..memory(user, None, text)
    }
}

fn query<'a>(user: &'a str, text: &'a str) -> MemoryQuery<'a> {
    MemoryQuery {
        user_id: user,
        project: None,
        text,
        embedding: None,
        limit: 10,
        candidates: 50,
        rrf_k: 60,
    }
}

async fn search(store: &dyn Store, query: &MemoryQuery<'_>) -> Vec<ScoredMemory> {
    store.search_memories(query).await.expect("search")
}

fn texts(found: &[ScoredMemory]) -> Vec<&str> {
    found.iter().map(|m| m.memory.text.as_str()).collect()
}

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

async fn memory_changes_leave_exact_history(store: Arc<dyn Store>) {
    let added = store
        .add_memory(memory("ann", Some("garden"), "Ann grows tomatoes"), 10)
        .await
        .unwrap();
    assert_eq!(added.id.len(), 32);
    assert_eq!((added.created_at, added.updated_at), (10, 10));
    assert_eq!(store.memory(&added.id).await.unwrap(), Some(added.clone()));

    store
        .update_memory(&added.id, "Ann grows tomatoes and basil", true, None, 20)
        .await
        .unwrap();
    let updated = store.memory(&added.id).await.unwrap().unwrap();
    assert_eq!(updated.text, "Ann grows tomatoes and basil");
    assert!(updated.is_key);
    assert_eq!((updated.created_at, updated.updated_at), (10, 20));
    assert_eq!(updated.project.as_deref(), Some("garden"));

    store.delete_memory(&added.id, 30).await.unwrap();
    assert_eq!(store.memory(&added.id).await.unwrap(), None);

    let history = store.memory_history(&added.id).await.unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|c| {
            (
                c.event,
                c.old_text.as_deref(),
                c.new_text.as_deref(),
                c.created_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (MemoryEvent::Add, None, Some("Ann grows tomatoes"), 10),
            (
                MemoryEvent::Update,
                Some("Ann grows tomatoes"),
                Some("Ann grows tomatoes and basil"),
                20
            ),
            (
                MemoryEvent::Delete,
                Some("Ann grows tomatoes and basil"),
                None,
                30
            ),
        ]
    );
    assert!(history.iter().all(|c| c.memory_id == added.id));

    assert!(matches!(
        store.update_memory(&added.id, "x", false, None, 40).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_memory(&added.id, 40).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.memory_history(&added.id).await.unwrap().len(),
        3,
        "failures log nothing"
    );
}

async fn update_without_embedding_keeps_it_only_for_same_text(store: Arc<dyn Store>) {
    let kept = store
        .add_memory(embedded("ann", "likes tea", "m", &[1.0, 0.0]), 1)
        .await
        .unwrap();
    let changed = store
        .add_memory(embedded("ann", "likes jazz", "m", &[0.0, 1.0]), 1)
        .await
        .unwrap();
    let replaced = store
        .add_memory(embedded("ann", "likes rain", "m", &[1.0, 1.0]), 1)
        .await
        .unwrap();
    store
        .update_memory(&kept.id, "likes tea", true, None, 2)
        .await
        .unwrap();
    store
        .update_memory(&changed.id, "likes blues", false, None, 2)
        .await
        .unwrap();
    store
        .update_memory(
            &replaced.id,
            "likes snow",
            false,
            Some(("m", &[0.5, 0.5])),
            2,
        )
        .await
        .unwrap();
    let stale: Vec<String> = store
        .memories_to_embed("m", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        stale,
        [changed.id],
        "only the rewritten, unembedded memory needs a vector"
    );
}

async fn key_memories_are_per_user_newest_first(store: Arc<dyn Store>) {
    let key = |user: &str, text: &str| NewMemory {
        is_key: true,
        ..memory(user, None, text)
    };
    store
        .add_memory(key("ann", "Ann is a nurse"), 1)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "Ann had pasta"), 2)
        .await
        .unwrap();
    store
        .add_memory(key("ann", "Ann lives in Porto"), 3)
        .await
        .unwrap();
    store
        .add_memory(key("bob", "Bob is a pilot"), 4)
        .await
        .unwrap();
    let sister = store
        .add_memory(key("ann", "Ann has a sister"), 5)
        .await
        .unwrap();

    let texts_of = |memories: Vec<clara_core::store::Memory>| -> Vec<String> {
        memories.into_iter().map(|m| m.text).collect()
    };
    assert_eq!(
        texts_of(store.key_memories("ann", 10).await.unwrap()),
        ["Ann has a sister", "Ann lives in Porto", "Ann is a nurse"]
    );
    assert_eq!(
        texts_of(store.key_memories("ann", 2).await.unwrap()),
        ["Ann has a sister", "Ann lives in Porto"]
    );
    store
        .update_memory(&sister.id, "Ann has a sister", false, None, 6)
        .await
        .unwrap();
    assert_eq!(store.key_memories("ann", 10).await.unwrap().len(), 2);
    assert_eq!(
        texts_of(store.key_memories("bob", 10).await.unwrap()),
        ["Bob is a pilot"]
    );
}

async fn search_matches_words_despite_punctuation(store: Arc<dyn Store>) {
    store
        .add_memory(memory("ann", None, "Ann's dog is called Rex"), 1)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "Ann works night shifts"), 2)
        .await
        .unwrap();
    for typed in [
        "what's my dog's name???",
        "\"dog\" AND (rex) OR NOT -*",
        "REX!",
        "dogs", // the porter stemmer finds dog
    ] {
        let found = search(&*store, &query("ann", typed)).await;
        assert_eq!(
            texts(&found).first(),
            Some(&"Ann's dog is called Rex"),
            "query {typed:?}"
        );
    }
    let any_word = search(&*store, &query("ann", "shifts rex")).await;
    assert_eq!(any_word.len(), 2, "any word may match");
    assert!(search(&*store, &query("ann", "?!*\"'")).await.is_empty());
    assert!(search(&*store, &query("ann", "")).await.is_empty());
    assert!(search(&*store, &query("ann", "unicorns")).await.is_empty());
    let limited = MemoryQuery {
        limit: 1,
        ..query("ann", "shifts rex")
    };
    assert_eq!(search(&*store, &limited).await.len(), 1);
}

async fn search_never_crosses_users(store: Arc<dyn Store>) {
    store
        .add_memory(memory("ann", None, "secret recipe uses saffron"), 1)
        .await
        .unwrap();
    let bob = store
        .add_memory(embedded("bob", "saffron allergy", "m", &[1.0, 0.0]), 2)
        .await
        .unwrap();
    let found = search(&*store, &query("bob", "secret saffron recipe")).await;
    assert_eq!(texts(&found), ["saffron allergy"]);
    let hybrid = MemoryQuery {
        embedding: Some(("m", &[1.0, 0.0])),
        ..query("ann", "allergy")
    };
    assert!(
        search(&*store, &hybrid)
            .await
            .iter()
            .all(|m| m.memory.id != bob.id)
    );
    assert!(search(&*store, &query("carol", "saffron")).await.is_empty());
}

async fn search_respects_project(store: Arc<dyn Store>) {
    store
        .add_memory(memory("ann", Some("house"), "paint the fence green"), 1)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", Some("garden"), "fence needs new posts"), 2)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "fence company phone number"), 3)
        .await
        .unwrap();
    let in_garden = MemoryQuery {
        project: Some("garden"),
        ..query("ann", "fence")
    };
    assert_eq!(
        texts(&search(&*store, &in_garden).await),
        ["fence needs new posts"]
    );
    assert_eq!(search(&*store, &query("ann", "fence")).await.len(), 3);
}

async fn search_follows_updates_and_deletes(store: Arc<dyn Store>) {
    let m = store
        .add_memory(memory("ann", None, "drives a red bicycle"), 1)
        .await
        .unwrap();
    store
        .update_memory(&m.id, "drives a blue scooter", false, None, 2)
        .await
        .unwrap();
    assert!(search(&*store, &query("ann", "bicycle")).await.is_empty());
    assert_eq!(search(&*store, &query("ann", "scooter")).await.len(), 1);
    store.delete_memory(&m.id, 3).await.unwrap();
    assert!(search(&*store, &query("ann", "scooter")).await.is_empty());
}

/// The ids a vector-only search (no words) finds for `vector`, best first.
async fn nearest(store: &dyn Store, user: &str, vector: &[f32]) -> Vec<String> {
    let q = MemoryQuery {
        embedding: Some(("m", vector)),
        ..query(user, "")
    };
    search(store, &q)
        .await
        .into_iter()
        .map(|found| found.memory.id)
        .collect()
}

async fn vector_search_follows_every_write(store: Arc<dyn Store>) {
    let (north, east, west) = ([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]);
    let a = store
        .add_memory(embedded("ann", "a", "m", &north), 1)
        .await
        .unwrap();
    assert_eq!(nearest(&*store, "ann", &north).await, [a.id.as_str()]);
    let b = store
        .add_memory(embedded("ann", "b", "m", &east), 2)
        .await
        .unwrap();
    assert_eq!(
        nearest(&*store, "ann", &east).await,
        [b.id.as_str(), a.id.as_str()]
    );
    store
        .update_memory(&a.id, "a moved", false, Some(("m", &east)), 3)
        .await
        .unwrap();
    store.set_embedding(&b.id, "m", &west).await.unwrap();
    assert_eq!(nearest(&*store, "ann", &west).await[0], b.id);
    assert_eq!(nearest(&*store, "ann", &east).await[0], a.id);
    // A new text without a new vector drops the old vector: `a` waits to be re-embedded.
    store
        .update_memory(&a.id, "a again", false, None, 4)
        .await
        .unwrap();
    assert_eq!(nearest(&*store, "ann", &east).await, [b.id.as_str()]);
    store.set_embedding(&b.id, "other", &west).await.unwrap();
    assert!(nearest(&*store, "ann", &west).await.is_empty());
    store.set_embedding(&b.id, "m", &west).await.unwrap();
    store.delete_memory(&b.id, 5).await.unwrap();
    assert!(nearest(&*store, "ann", &west).await.is_empty());
    assert!(nearest(&*store, "bob", &west).await.is_empty());
}

async fn hybrid_search_ranks_closest_meaning_first(store: Arc<dyn Store>) {
    let pet = [1.0, 0.1, 0.0, 0.0];
    store
        .add_memory(embedded("ann", "Ann has a dog named Rex", "m", &pet), 1)
        .await
        .unwrap();
    store
        .add_memory(
            embedded("ann", "Ann is a nurse", "m", &[0.0, 1.0, 0.0, 0.0]),
            2,
        )
        .await
        .unwrap();
    store
        .add_memory(
            embedded("ann", "Ann lives in Porto", "m", &[0.0, 0.0, 1.0, 0.2]),
            3,
        )
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "Ann's favourite animal show"), 4)
        .await
        .unwrap();

    // No word matches anything; only the vectors know a puppy is a pet.
    let semantic = MemoryQuery {
        embedding: Some(("m", &[0.9, 0.2, 0.1, 0.0])),
        ..query("ann", "which puppy?")
    };
    let found = search(&*store, &semantic).await;
    assert_eq!(
        texts(&found),
        [
            "Ann has a dog named Rex",
            "Ann is a nurse",
            "Ann lives in Porto"
        ]
    );

    // Both sides agreeing (second by meaning, first by words) beats one side alone.
    let both = MemoryQuery {
        embedding: Some(("m", &[0.1, 1.0, 0.0, 0.0])),
        ..query("ann", "rex")
    };
    let found = search(&*store, &both).await;
    assert_eq!(
        texts(&found)[..2],
        ["Ann has a dog named Rex", "Ann is a nurse"]
    );

    let vectors_only = MemoryQuery {
        embedding: Some(("m", &[0.0, 0.1, 1.0, 0.1])),
        ..query("ann", "")
    };
    let found = search(&*store, &vectors_only).await;
    assert_eq!(found[0].memory.text, "Ann lives in Porto");
    assert_eq!(found[0].score, 1.0);
    assert_eq!(found.len(), 3, "only embedded memories on the vector side");
}

async fn search_ignores_vectors_of_another_model(store: Arc<dyn Store>) {
    let old = store
        .add_memory(embedded("ann", "likes hiking", "old", &[1.0, 0.0]), 1)
        .await
        .unwrap();
    store
        .add_memory(embedded("ann", "likes sailing", "new", &[0.0, 1.0]), 2)
        .await
        .unwrap();
    let q = MemoryQuery {
        embedding: Some(("new", &[1.0, 0.0])),
        ..query("ann", "")
    };
    let found = search(&*store, &q).await;
    assert_eq!(texts(&found), ["likes sailing"]);
    assert!(found.iter().all(|m| m.memory.id != old.id));
    let unknown_model = MemoryQuery {
        embedding: Some(("other", &[1.0, 0.0])),
        ..query("ann", "")
    };
    assert!(search(&*store, &unknown_model).await.is_empty());
}

async fn scores_are_normalised(store: Arc<dyn Store>) {
    for (i, (text, vector)) in [
        ("cats purr loudly", [1.0, 0.0, 0.0]),
        ("cats and dogs", [0.6, 0.8, 0.0]),
        ("dogs bark", [0.0, 1.0, 0.0]),
        ("fish swim", [0.0, 0.0, 1.0]),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .add_memory(embedded("ann", text, "m", &vector), i as i64)
            .await
            .unwrap();
    }
    let hybrid = MemoryQuery {
        embedding: Some(("m", &[1.0, 0.05, 0.0])),
        ..query("ann", "purr")
    };
    let found = search(&*store, &hybrid).await;
    assert_eq!(found[0].memory.text, "cats purr loudly");
    assert_eq!(found[0].score, 1.0, "rank 1 on every side scores 1");
    assert!(found.iter().all(|m| (0.0..=1.0).contains(&m.score)));
    assert!(
        found.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
    assert!(found[1].score < 1.0);

    let text_only = search(&*store, &query("ann", "dogs")).await;
    assert_eq!(text_only[0].score, 1.0);
    assert!(text_only.iter().all(|m| (0.0..=1.0).contains(&m.score)));

    // Equal scores: the more recent memory first.
    store
        .add_memory(memory("ann", None, "owl hoots"), 100)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "owl hoots"), 200)
        .await
        .unwrap();
    let tied = search(&*store, &query("ann", "owl")).await;
    assert_eq!(tied.len(), 2);
    assert_eq!(tied[0].memory.created_at, 200);
}

async fn memories_to_embed_and_set_embedding(store: Arc<dyn Store>) {
    let bare = store
        .add_memory(memory("ann", None, "no vector yet"), 1)
        .await
        .unwrap();
    let old = store
        .add_memory(embedded("bob", "old model", "old", &[1.0]), 2)
        .await
        .unwrap();
    store
        .add_memory(embedded("ann", "current", "new", &[1.0]), 3)
        .await
        .unwrap();

    let ids = |memories: Vec<clara_core::store::Memory>| -> Vec<String> {
        memories.into_iter().map(|m| m.id).collect()
    };
    assert_eq!(
        ids(store.memories_to_embed("new", 10).await.unwrap()),
        [bare.id.as_str(), old.id.as_str()]
    );
    assert_eq!(
        ids(store.memories_to_embed("new", 1).await.unwrap()),
        [bare.id.as_str()]
    );

    store.set_embedding(&bare.id, "new", &[0.5]).await.unwrap();
    store.set_embedding(&old.id, "new", &[0.25]).await.unwrap();
    assert!(store.memories_to_embed("new", 10).await.unwrap().is_empty());
    assert_eq!(store.memories_to_embed("old", 10).await.unwrap().len(), 3);
    assert!(matches!(
        store.set_embedding("nope", "new", &[1.0]).await,
        Err(StoreError::NotFound(_))
    ));

    let q = MemoryQuery {
        embedding: Some(("new", &[1.0])),
        ..query("bob", "")
    };
    assert_eq!(
        texts(&search(&*store, &q).await),
        ["old model"],
        "the new vector is searchable"
    );
}

async fn jobs_wait_for_run_after(store: Arc<dyn Store>) {
    assert_eq!(store.claim_job(0, 1_000).await.unwrap(), None);
    let later = store
        .enqueue_job("summarise", &json!({"session": "s"}), 5_000)
        .await
        .unwrap();
    let sooner = store
        .enqueue_job("extract_memories", &json!([1, "two"]), 2_000)
        .await
        .unwrap();
    assert_ne!(later, sooner);
    assert_eq!(
        store.claim_job(1_999, 1_000).await.unwrap(),
        None,
        "nothing due yet"
    );

    let job = store.claim_job(2_000, 10_000).await.unwrap().expect("due");
    assert_eq!(job.id, sooner);
    assert_eq!(job.kind, "extract_memories");
    assert_eq!(job.payload, json!([1, "two"]));
    assert_eq!((job.attempts, job.last_error), (0, None));
    assert_eq!(
        store.claim_job(4_999, 10_000).await.unwrap(),
        None,
        "the other is not due"
    );

    let job = store.claim_job(6_000, 1_000).await.unwrap().expect("due");
    assert_eq!((job.id, job.payload), (later, json!({"session": "s"})));
}

async fn leased_jobs_are_not_claimed_twice(store: Arc<dyn Store>) {
    let id = store.enqueue_job("k", &json!(null), 0).await.unwrap();
    let first = store.claim_job(100, 1_000).await.unwrap().expect("claimed");
    assert_eq!(first.id, id);
    assert_eq!(store.claim_job(100, 1_000).await.unwrap(), None);
    assert_eq!(
        store.claim_job(1_100, 1_000).await.unwrap(),
        None,
        "lease still held at its end"
    );

    // The worker died: once the lease runs out the job is due again, one failed attempt on.
    let again = store
        .claim_job(1_101, 1_000)
        .await
        .unwrap()
        .expect("lease expired");
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 1);
    assert_eq!(store.claim_job(2_000, 1_000).await.unwrap(), None);
}

async fn jobs_complete_and_retry(store: Arc<dyn Store>) {
    let done = store.enqueue_job("a", &json!({}), 0).await.unwrap();
    let flaky = store.enqueue_job("b", &json!({}), 1).await.unwrap();

    assert_eq!(
        store.claim_job(10, 100).await.unwrap().map(|j| j.id),
        Some(done)
    );
    store.complete_job(done).await.unwrap();
    assert!(matches!(
        store.complete_job(done).await,
        Err(StoreError::NotFound(_))
    ));

    assert_eq!(
        store.claim_job(10, 100).await.unwrap().map(|j| j.id),
        Some(flaky)
    );
    store
        .retry_job(flaky, "provider timed out", 500)
        .await
        .unwrap();
    assert_eq!(
        store.claim_job(499, 100).await.unwrap(),
        None,
        "retry waits for run_after"
    );
    let retried = store.claim_job(500, 100).await.unwrap().expect("due again");
    assert_eq!(retried.id, flaky);
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.last_error.as_deref(), Some("provider timed out"));

    store.retry_job(flaky, "still broken", 600).await.unwrap();
    let twice = store.claim_job(600, 100).await.unwrap().expect("due");
    assert_eq!(
        (twice.attempts, twice.last_error.as_deref()),
        (2, Some("still broken"))
    );
    store.complete_job(flaky).await.unwrap();
    assert_eq!(
        store.claim_job(i64::MAX / 2, 100).await.unwrap(),
        None,
        "queue empty"
    );
    assert!(matches!(
        store.retry_job(flaky, "x", 0).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn task_runs_are_claimed_once_per_due_time(store: Arc<dyn Store>) {
    assert_eq!(store.task_run("daily").await.unwrap(), None);
    assert!(
        store
            .claim_task_run("daily", 1_000, 1_000, 2_000, "a")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_task_run("daily", 1_000, 1_000, 2_000, "b")
            .await
            .unwrap(),
        "the same due run is claimed once"
    );
    assert!(
        !store
            .claim_task_run("daily", 1_000, 1_001, 2_001, "a")
            .await
            .unwrap(),
        "even by the node that holds it"
    );
    assert!(
        !store
            .claim_task_run("daily", 1_500, 1_500, 3_000, "b")
            .await
            .unwrap(),
        "a later run waits for the live lease"
    );
    assert!(
        !store
            .claim_task_run("daily", 2_000, 2_000, 3_000, "b")
            .await
            .unwrap(),
        "lease still held at its end"
    );
    assert!(
        store
            .claim_task_run("weekly", 1_000, 1_000, 2_000, "b")
            .await
            .unwrap(),
        "tasks lease independently"
    );

    store
        .finish_task_run("daily", "a", 1_800, None)
        .await
        .unwrap();
    for due in [500, 1_000] {
        assert!(
            !store
                .claim_task_run("daily", due, 1_900, 3_000, "b")
                .await
                .unwrap(),
            "a run due at or before the last claimed one never runs again ({due})"
        );
    }
    assert!(
        store
            .claim_task_run("daily", 2_000, 1_900, 3_000, "b")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .task_run("daily")
            .await
            .unwrap()
            .map(|r| r.last_due_at),
        Some(2_000)
    );
}

async fn an_expired_task_lease_can_be_taken_over(store: Arc<dyn Store>) {
    assert!(
        store
            .claim_task_run("t", 1_000, 1_000, 1_500, "a")
            .await
            .unwrap()
    );
    // Node `a` died mid-run and never finishes.
    assert!(
        !store
            .claim_task_run("t", 2_000, 1_500, 9_000, "b")
            .await
            .unwrap(),
        "lease still held at its end"
    );
    assert!(
        store
            .claim_task_run("t", 2_000, 1_501, 9_000, "b")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_task_run("t", 2_000, 1_502, 9_000, "a")
            .await
            .unwrap(),
        "the taken-over run is b's"
    );
    let run = store.task_run("t").await.unwrap().expect("stored");
    assert_eq!(
        (run.last_due_at, run.last_started_at),
        (2_000, 1_501),
        "{run:?}"
    );
    assert_eq!(
        (run.running_by.as_deref(), run.lease_until),
        (Some("b"), Some(9_000))
    );
    assert_eq!(run.last_finished_at, None, "the dead run never finished");
}

async fn only_the_lease_holder_finishes_a_task_run(store: Arc<dyn Store>) {
    assert!(matches!(
        store.finish_task_run("never", "a", 1, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .claim_task_run("t", 1_000, 1_000, 5_000, "a")
            .await
            .unwrap()
    );
    assert!(matches!(
        store
            .finish_task_run("t", "b", 1_200, Some("not mine"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let run = store.task_run("t").await.unwrap().expect("stored");
    assert_eq!(
        (run.running_by.as_deref(), run.lease_until),
        (Some("a"), Some(5_000)),
        "another node's finish leaves the lease"
    );
    assert_eq!((run.last_finished_at, run.last_ok), (None, None));
    assert!(
        !store
            .claim_task_run("t", 2_000, 2_000, 6_000, "b")
            .await
            .unwrap()
    );

    // `a` outlived its lease and `b` took over: `a`'s late finish must not end `b`'s run.
    assert!(
        store
            .claim_task_run("t", 6_000, 6_000, 9_000, "b")
            .await
            .unwrap()
    );
    assert!(matches!(
        store.finish_task_run("t", "a", 6_100, None).await,
        Err(StoreError::NotFound(_))
    ));
    let run = store.task_run("t").await.unwrap().expect("stored");
    assert_eq!(
        (run.running_by.as_deref(), run.last_finished_at),
        (Some("b"), None)
    );
    store.finish_task_run("t", "b", 6_500, None).await.unwrap();
    assert!(matches!(
        store.finish_task_run("t", "b", 6_600, None).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn task_run_reports_start_finish_and_outcome(store: Arc<dyn Store>) {
    assert!(
        store
            .claim_task_run("digest", 1_000, 1_010, 61_010, "a")
            .await
            .unwrap()
    );
    let running = TaskRun {
        name: "digest".to_owned(),
        last_due_at: 1_000,
        last_started_at: 1_010,
        last_finished_at: None,
        last_ok: None,
        last_error: None,
        running_by: Some("a".to_owned()),
        lease_until: Some(61_010),
    };
    assert_eq!(store.task_run("digest").await.unwrap(), Some(running));

    store
        .finish_task_run("digest", "a", 1_200, Some("provider timed out"))
        .await
        .unwrap();
    let failed = TaskRun {
        name: "digest".to_owned(),
        last_due_at: 1_000,
        last_started_at: 1_010,
        last_finished_at: Some(1_200),
        last_ok: Some(false),
        last_error: Some("provider timed out".to_owned()),
        running_by: None,
        lease_until: None,
    };
    assert_eq!(
        store.task_run("digest").await.unwrap(),
        Some(failed.clone())
    );

    // While the next run is going, the last finished one's outcome stays readable.
    assert!(
        store
            .claim_task_run("digest", 2_000, 2_005, 62_005, "b")
            .await
            .unwrap()
    );
    let next = TaskRun {
        last_due_at: 2_000,
        last_started_at: 2_005,
        running_by: Some("b".to_owned()),
        lease_until: Some(62_005),
        ..failed
    };
    assert_eq!(store.task_run("digest").await.unwrap(), Some(next.clone()));

    store
        .finish_task_run("digest", "b", 2_300, None)
        .await
        .unwrap();
    let ok = TaskRun {
        last_finished_at: Some(2_300),
        last_ok: Some(true),
        last_error: None,
        running_by: None,
        lease_until: None,
        ..next
    };
    assert_eq!(store.task_run("digest").await.unwrap(), Some(ok));
    assert_eq!(store.task_run("other").await.unwrap(), None);
}

/// Claimants racing for one due run per round.
const RACERS: usize = 8;

/// Races [`RACERS`] claims of `name`'s run due at `due`, spread over `stores`, and returns the
/// nodes that won.
async fn race_for_run(stores: &[Arc<dyn Store>], name: &str, due: i64) -> Vec<String> {
    let claims: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let name = name.to_owned();
            let node = format!("node-{i}");
            tokio::spawn(async move {
                let won = store
                    .claim_task_run(&name, due, due, due + 60_000, &node)
                    .await
                    .expect("claim");
                won.then_some(node)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for claim in claims {
        winners.extend(claim.await.expect("claim task"));
    }
    winners
}

/// Races several due runs of one task, finishing each winner's run before the next due time,
/// and checks each run had exactly one winner.
async fn race_rounds(stores: &[Arc<dyn Store>]) {
    for round in 1..=5 {
        let due = round * 1_000;
        let winners = race_for_run(stores, "race", due).await;
        assert_eq!(winners.len(), 1, "run due at {due}: winners {winners:?}");
        assert!(
            race_for_run(stores, "race", due).await.is_empty(),
            "run due at {due} claimed again"
        );
        stores[0]
            .finish_task_run("race", &winners[0], due + 500, None)
            .await
            .unwrap();
    }
}

async fn racing_claims_of_one_due_run_have_one_winner(store: Arc<dyn Store>) {
    race_rounds(&[store]).await;
}

fn channel_mode(platform: &str, channel: &str, mode: &str, at: i64) -> ChannelModeSetting {
    ChannelModeSetting {
        platform: platform.to_owned(),
        channel_id: channel.to_owned(),
        guild_id: Some("g1".to_owned()),
        mode: mode.to_owned(),
        set_by: "admin".to_owned(),
        updated_at: at,
    }
}

async fn an_unset_channel_mode_is_none(store: Arc<dyn Store>) {
    assert_eq!(store.channel_mode("discord", "c1").await.unwrap(), None);
}

async fn a_channel_mode_is_set_read_and_overwritten(store: Arc<dyn Store>) {
    let mention = channel_mode("discord", "c1", "mention", 1_000);
    store.set_channel_mode(&mention).await.unwrap();
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(mention)
    );

    // Every field is replaced, the guild too (a thread moved, or a DM without one).
    let off = ChannelModeSetting {
        guild_id: None,
        set_by: "other-admin".to_owned(),
        ..channel_mode("discord", "c1", "off", 2_000)
    };
    store.set_channel_mode(&off).await.unwrap();
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(off)
    );
}

async fn channel_modes_are_per_platform_and_channel(store: Arc<dyn Store>) {
    let discord = channel_mode("discord", "c1", "active", 1_000);
    let slack = channel_mode("slack", "c1", "off", 1_100);
    let other_channel = channel_mode("discord", "c2", "mention", 1_200);
    for setting in [&discord, &slack, &other_channel] {
        store.set_channel_mode(setting).await.unwrap();
    }
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(discord.clone())
    );
    assert_eq!(
        store.channel_mode("slack", "c1").await.unwrap(),
        Some(slack)
    );
    assert_eq!(
        store.channel_mode("discord", "c2").await.unwrap(),
        Some(other_channel)
    );
    assert_eq!(store.channel_mode("slack", "c2").await.unwrap(), None);

    assert!(store.clear_channel_mode("slack", "c1").await.unwrap());
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(discord)
    );
}

async fn clearing_a_channel_mode_reports_whether_one_was_set(store: Arc<dyn Store>) {
    assert!(!store.clear_channel_mode("discord", "c1").await.unwrap());
    store
        .set_channel_mode(&channel_mode("discord", "c1", "off", 1_000))
        .await
        .unwrap();
    assert!(store.clear_channel_mode("discord", "c1").await.unwrap());
    assert_eq!(store.channel_mode("discord", "c1").await.unwrap(), None);
    assert!(!store.clear_channel_mode("discord", "c1").await.unwrap());

    // A cleared channel can be set again.
    let active = channel_mode("discord", "c1", "active", 2_000);
    store.set_channel_mode(&active).await.unwrap();
    assert_eq!(
        store.channel_mode("discord", "c1").await.unwrap(),
        Some(active)
    );
}

// SQLite only: the file itself.

#[tokio::test]
async fn sqlite_data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/folders/clara.db");
    let (session, memory_id, job) = {
        let store = SqliteStore::open(&path).await.expect("create");
        let session = store
            .start_session("ann", "dm-ann", None, 1)
            .await
            .unwrap()
            .0;
        store
            .add_message(&session.id, Role::User, None, "remember me", 2)
            .await
            .unwrap();
        let memory = store
            .add_memory(embedded("ann", "Ann keeps bees", "m", &[0.0, 1.0]), 3)
            .await
            .unwrap();
        let job = store
            .enqueue_job("extract", &json!({"n": 1}), 4)
            .await
            .unwrap();
        store.close().await;
        (session, memory.id, job)
    };
    assert!(path.is_file());

    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(
        store
            .open_session("ann", "dm-ann")
            .await
            .unwrap()
            .map(|s| s.id),
        Some(session.id.clone())
    );
    let messages = store.recent_messages(&session.id, 10).await.unwrap();
    assert_eq!(messages[0].content, "remember me");
    assert_eq!(store.memory_history(&memory_id).await.unwrap().len(), 1);
    let q = MemoryQuery {
        embedding: Some(("m", &[0.0, 1.0])),
        ..query("ann", "bees")
    };
    let found = search(&store, &q).await;
    assert_eq!(
        found
            .iter()
            .map(|m| (m.memory.id.as_str(), m.score))
            .collect::<Vec<_>>(),
        [(memory_id.as_str(), 1.0)]
    );
    assert_eq!(
        store.claim_job(10, 10).await.unwrap().map(|j| j.id),
        Some(job)
    );
}

#[tokio::test]
async fn sqlite_search_sees_what_another_process_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let here = SqliteStore::open(&path).await.expect("open");
    let elsewhere = SqliteStore::open(&path).await.expect("open again");
    let first = here
        .add_memory(embedded("ann", "one", "m", &[1.0, 0.0]), 1)
        .await
        .unwrap();
    assert_eq!(
        nearest(&here, "ann", &[1.0, 0.0]).await,
        [first.id.as_str()]
    );
    let second = elsewhere
        .add_memory(embedded("ann", "two", "m", &[0.0, 1.0]), 2)
        .await
        .unwrap();
    assert_eq!(nearest(&here, "ann", &[0.0, 1.0]).await[0], second.id);
    let third = elsewhere
        .add_memory(embedded("ann", "three", "m", &[0.0, 1.0]), 3)
        .await
        .unwrap();
    elsewhere.delete_memory(&second.id, 4).await.unwrap();
    // This process's own write after another's must not hide the other's changes.
    here.set_embedding(&first.id, "m", &[0.6, 0.8])
        .await
        .unwrap();
    assert_eq!(
        nearest(&here, "ann", &[0.0, 1.0]).await,
        [third.id.as_str(), first.id.as_str()]
    );
}

#[tokio::test]
async fn sqlite_task_run_claims_race_across_stores_on_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let here = SqliteStore::open(&path).await.expect("open");
    let elsewhere = SqliteStore::open(&path).await.expect("open again");
    let stores: [Arc<dyn Store>; 2] = [Arc::new(here.clone()), Arc::new(elsewhere.clone())];
    race_rounds(&stores).await;
    here.close().await;
    elsewhere.close().await;
    drop(stores);

    // A restart sees the last claimed run, so it neither repeats it nor forgets it.
    let reopened = SqliteStore::open(&path).await.expect("reopen");
    let run = reopened.task_run("race").await.unwrap().expect("stored");
    assert_eq!(
        (run.last_due_at, run.last_finished_at, run.last_ok),
        (5_000, Some(5_500), Some(true))
    );
    assert!(
        !reopened
            .claim_task_run("race", 5_000, 9_000, 10_000, "restarted")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn postgres_without_its_url_variable_says_which_is_missing() {
    let config = StoreConfig::Postgres {
        url_env: "CLARA_TEST_UNSET_URL".to_owned(),
        max_connections: 1,
        hnsw_ef_search: 10,
    };
    let Err(StoreError::Database(message)) =
        clara::store::open(&config, Path::new("."), &Env::default()).await
    else {
        panic!("a missing URL variable must be an error");
    };
    assert!(message.contains("`CLARA_TEST_UNSET_URL`"), "{message}");
    assert!(message.contains("not set"), "{message}");
}
