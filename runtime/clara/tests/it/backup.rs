//! `clara backup` and `clara restore` (the real binary) on a copy of the shipped root whose
//! SQLite store holds a conversation and memories: to a folder, and (encrypted) to an
//! S3-compatible bucket served by moto. Respawn protection, retention by count, the list, a
//! restore that refuses a store with data, one that puts the rows back (counts and a memory
//! search equal before and after), and a damaged or undecryptable archive that changes
//! nothing.

use std::path::Path;
use std::process::Output;

use clara::store::Access;
use clara_core::llm::Role;
use clara_core::store::NewMemory;
use sqlx::Connection;

use crate::store_contract::TestDatabase;
use crate::support::moto::Moto;
use crate::support::{self, free_port, ok, said, shipped_root};

fn clara(root: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = support::clara(root);
    command.env("OPENROUTER_API_KEY", "k").args(args);
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().expect("clara runs")
}

/// A conversation and three memories in the root's store.
async fn seed(root: &Path) {
    seed_with(root, &[]).await;
}

/// A conversation and three memories in the root's default store, with `vars` set.
async fn seed_with(root: &Path, vars: &[(&str, &str)]) {
    let vars = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]);
    let set = clara_config::load_with_env(root, clara_config::Env::from_vars(vars)).unwrap();
    let store = clara::store::open_default(&set, Access::ReadWrite)
        .await
        .unwrap();
    let (session, _) = store
        .start_session("ann", "dm-ann", None, 1_000)
        .await
        .unwrap();
    for (i, text) in [
        "Hi, I moved to Porto",
        "Welcome to Porto!",
        "My sister is Eve",
    ]
    .iter()
    .enumerate()
    {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        store
            .add_message(&session.id, role, Some("ann"), text, 1_000 + i as i64)
            .await
            .unwrap();
    }
    for text in ["Ann lives in Porto", "Ann's sister is Eve", "Ann likes tea"] {
        let memory = NewMemory {
            user_id: "ann".to_owned(),
            project: None,
            text: text.to_owned(),
            is_key: false,
            embedding: None,
        };
        store.add_memory(memory, 2_000).await.unwrap();
    }
}

/// The numbers of messages and memories in the root's database.
async fn counts(root: &Path) -> (i64, i64) {
    let db = root.join("data/clara.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let (messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let (memories,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM memories")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    (messages, memories)
}

fn remove_database(root: &Path) {
    for name in ["clara.db", "clara.db-wal", "clara.db-shm"] {
        let _ = std::fs::remove_file(root.join("data").join(name));
    }
}

/// The id in `backed up `main` as ID (…`.
fn id_in(said: &str) -> String {
    let (_, rest) = said.split_once(" as ").expect("a backup id");
    rest.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_backup_is_listed_kept_by_retention_and_restored_whole() {
    let root = shipped_root();
    seed(root.path()).await;
    let before = counts(root.path()).await;
    assert_eq!(before, (3, 3));
    let search = ["memory", "search", "--user", "ann", "sister"];
    let found_before = ok(clara(root.path(), &search, &[]));
    let bind = format!("127.0.0.1:{}", free_port());
    let vars = [
        ("CLARA_BACKUP__KEEP_COUNT", "2"),
        ("CLARA_STATUS__BIND", bind.as_str()),
    ];

    let first = ok(clara(root.path(), &["backup", "--to", "dir"], &vars));
    assert!(first.starts_with("backed up `main` as main-"), "{first}");
    // A second run soon after is a no-op (respawn protection) unless forced.
    let again = ok(clara(root.path(), &["backup", "--to", "dir"], &vars));
    assert!(
        again.starts_with("skipped: the last backup of `main`"),
        "{again}"
    );
    ok(clara(
        root.path(),
        &["backup", "--to", "dir", "--force"],
        &vars,
    ));
    let third = ok(clara(
        root.path(),
        &["backup", "--to", "dir", "--force"],
        &vars,
    ));
    let newest = id_in(&third);
    assert!(
        third.contains(&format!("deleted {} (retention)", id_in(&first))),
        "{third}"
    );
    let listed = ok(clara(
        root.path(),
        &["backup", "list", "--to", "dir"],
        &vars,
    ));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.starts_with(&newest), "newest first: {listed}");
    let files: Vec<String> = std::fs::read_dir(root.path().join("backups/clara"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files.len(),
        4,
        "an archive and a description each: {files:?}"
    );

    // A store with data is not replaced without --force.
    let refused = clara(root.path(), &["restore", &newest, "--to", "dir"], &vars);
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("holds messages or memories"),
        "{}",
        said(&refused)
    );

    // While a clara runs from the root (its status endpoint answers), nothing is restored.
    let running = std::net::TcpListener::bind(&bind).unwrap();
    let answering = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = running.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    let force = ["restore", newest.as_str(), "--to", "dir", "--force"];
    let busy = clara(root.path(), &force, &vars);
    answering.join().unwrap();
    assert!(
        said(&busy).contains("a clara is running from this root"),
        "{}",
        said(&busy)
    );

    // With --force the database it replaces is set aside, not deleted.
    let replaced = ok(clara(root.path(), &force, &vars));
    assert_eq!(replaced, format!("restored {newest} into `main`\n"));
    assert!(root.path().join("data/clara.db.pre-restore").is_file());
    assert_eq!(counts(root.path()).await, before);

    remove_database(root.path());
    let restored = ok(clara(
        root.path(),
        &["restore", &newest, "--to", "dir"],
        &vars,
    ));
    assert_eq!(restored, format!("restored {newest} into `main`\n"));
    assert_eq!(counts(root.path()).await, before);
    assert_eq!(ok(clara(root.path(), &search, &[])), found_before);

    // A damaged archive is refused before the store is touched.
    let archive = root.path().join(format!("backups/clara/{newest}.archive"));
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let damaged = clara(
        root.path(),
        &["restore", &newest, "--to", "dir", "--force"],
        &vars,
    );
    assert!(!damaged.status.success());
    assert!(
        said(&damaged).contains("the archive is damaged"),
        "{}",
        said(&damaged)
    );
    assert_eq!(counts(root.path()).await, before);
    let unknown = clara(root.path(), &["restore", "main-nope", "--to", "dir"], &vars);
    assert!(said(&unknown).contains("there is no backup `main-nope`"));

    // Retention by age: a backup older than keep_days goes when the next one is made.
    let description = root.path().join(format!("backups/clara/{newest}.json"));
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&description).unwrap()).unwrap();
    info["created_at"] = serde_json::json!(1_000);
    std::fs::write(&description, info.to_string()).unwrap();
    let aged = [
        ("CLARA_BACKUP__KEEP_DAYS", "7"),
        ("CLARA_BACKUP__KEEP_COUNT", "0"),
        ("CLARA_STATUS__BIND", bind.as_str()),
    ];
    let latest = ok(clara(
        root.path(),
        &["backup", "--to", "dir", "--force"],
        &aged,
    ));
    assert!(
        latest.contains(&format!("deleted {newest} (retention)")),
        "{latest}"
    );
    let listed = ok(clara(
        root.path(),
        &["backup", "list", "--to", "dir"],
        &aged,
    ));
    assert!(!listed.contains(&newest), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs moto's S3 server: pip install 'moto[server]' as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn an_encrypted_backup_goes_to_s3_and_comes_back() {
    let moto = Moto::start().await;
    moto.bucket("clara-backups").await;
    let root = shipped_root();
    seed(root.path()).await;
    let before = counts(root.path()).await;
    let vars = [
        ("CLARA_BACKUP__BUCKET", "clara-backups"),
        ("CLARA_BACKUP__ENDPOINT", moto.endpoint.as_str()),
        ("CLARA_BACKUP__ENCRYPT", "true"),
        ("S3_ACCESS_KEY", "test-access"),
        ("S3_SECRET_KEY", "test-secret"),
        ("CLARA_SECRET_KEY", "a backup key that is long enough"),
    ];

    // Without credentials it says which variable is missing.
    let bare: Vec<(&str, &str)> = vars
        .iter()
        .copied()
        .filter(|(k, _)| *k != "S3_SECRET_KEY")
        .collect();
    let missing = clara(root.path(), &["backup"], &bare);
    assert!(!missing.status.success());
    assert!(
        said(&missing).contains("`S3_SECRET_KEY` is not set"),
        "{}",
        said(&missing)
    );
    // A bucket that does not exist is named.
    let mut wrong = vars.to_vec();
    wrong[0] = ("CLARA_BACKUP__BUCKET", "no-such-bucket");
    let nowhere = clara(root.path(), &["backup"], &wrong);
    assert!(!nowhere.status.success());
    assert!(
        said(&nowhere).contains("the bucket `no-such-bucket`"),
        "{}",
        said(&nowhere)
    );

    let made = ok(clara(root.path(), &["backup"], &vars));
    assert!(
        made.contains(", encrypted) to the bucket `clara-backups`"),
        "{made}"
    );
    let id = id_in(&made);
    let mut objects = moto.objects("clara-backups").await;
    objects.sort();
    assert_eq!(
        objects,
        [format!("clara/{id}.archive"), format!("clara/{id}.json")]
    );
    let listed = ok(clara(root.path(), &["backup", "list"], &vars));
    assert!(
        listed.starts_with(&id) && listed.contains("encrypted"),
        "{listed}"
    );

    // The scheduled task's form does nothing where no bucket is set.
    let unset = ok(clara(root.path(), &["backup", "--if-configured"], &[]));
    assert!(unset.contains("nothing to do"), "{unset}");

    remove_database(root.path());
    // Without the key, the sealed archive is refused and nothing is written.
    let keyless: Vec<(&str, &str)> = vars
        .iter()
        .copied()
        .filter(|(k, _)| *k != "CLARA_SECRET_KEY")
        .collect();
    let sealed = clara(root.path(), &["restore", &id], &keyless);
    assert!(!sealed.status.success());
    assert!(
        said(&sealed).contains("CLARA_SECRET_KEY"),
        "{}",
        said(&sealed)
    );
    assert!(!root.path().join("data/clara.db").exists());

    let restored = ok(clara(root.path(), &["restore", &id], &vars));
    assert_eq!(restored, format!("restored {id} into `main`\n"));
    assert_eq!(counts(root.path()).await, before);
}

/// The numbers of messages and memories in the Postgres database at `url`.
async fn pg_counts(url: &str) -> (i64, i64) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let (messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let (memories,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM memories")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    (messages, memories)
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_postgres),
    ignore = "needs CLARA_TEST_POSTGRES_URL (and CLARA_TEST_PG_BIN): eval \"$(bash .ci/postgres.sh start)\""
)]
async fn a_postgres_store_is_dumped_and_restored_into_an_empty_database() {
    let server = std::env::var("CLARA_TEST_POSTGRES_URL").unwrap();
    let source = TestDatabase::create(&server).await;
    let target = TestDatabase::create(&server).await;
    let root = shipped_root();
    let toml = root.path().join("clara.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[stores.pg]\ntype = \"postgres\"\nurl_env = \"CLARA_DATABASE_URL\"\n");
    std::fs::write(&toml, text).unwrap();
    // pg_dump must be as new as the server: the test server's own tools come first.
    let path = format!(
        "{}:{}",
        std::env::var("CLARA_TEST_PG_BIN").unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    );
    let on = |url: &str| -> Vec<(&'static str, String)> {
        vec![
            ("CLARA_DEFAULTS__STORE", "pg".to_owned()),
            ("CLARA_DATABASE_URL", url.to_owned()),
            ("PATH", path.clone()),
        ]
    };
    let vars = on(&source.url);
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    seed_with(root.path(), &borrowed).await;
    let before = pg_counts(&source.url).await;
    assert_eq!(before, (3, 3));

    let made = ok(clara(root.path(), &["backup", "--to", "dir"], &borrowed));
    assert!(made.starts_with("backed up `pg` as pg-"), "{made}");
    let id = id_in(&made);
    let refused = clara(root.path(), &["restore", &id, "--to", "dir"], &borrowed);
    assert!(
        said(&refused).contains("holds messages or memories"),
        "{}",
        said(&refused)
    );

    let vars = on(&target.url);
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let restored = ok(clara(
        root.path(),
        &["restore", &id, "--to", "dir"],
        &borrowed,
    ));
    assert_eq!(restored, format!("restored {id} into `pg`\n"));
    assert_eq!(pg_counts(&target.url).await, before);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_daily_task_backs_up_once_a_destination_is_set() {
    use clara::hooks::actions::{Action, Context, Run};

    let root = shipped_root();
    seed(root.path()).await;
    let schedule: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.path().join("hooks/schedule.toml")).unwrap())
            .unwrap();
    let task = schedule["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str() == Some("backup"))
        .expect("the shipped backup task");
    assert_eq!(task["cron"].as_str(), Some("0 3 * * *"));
    assert_eq!(task["timezone"].as_str(), Some("UTC"));
    assert!(task.get("enabled").is_none(), "on by default");
    let command = Action::Command(task["command"].as_str().unwrap().to_owned());

    let app = clara::app::App::start(
        support::loader(root.path(), &[("OPENROUTER_API_KEY", "k")]),
        std::sync::Arc::new(clara_core::engine::SystemClock),
        clara::app::Features::default(),
    )
    .await
    .unwrap();
    let context = Context {
        live: app.live.clone(),
        client: clara::tools::http_client(),
    };
    let payload = serde_json::json!({});
    let run = |to: Option<&str>| {
        // In a test, this process is the test runner: the task's clara is the real binary.
        let mut env: std::collections::BTreeMap<String, String> = [
            ("CLARA_BIN", env!("CARGO_BIN_EXE_clara")),
            ("OPENROUTER_API_KEY", "k"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(to) = to {
            env.insert("CLARA_BACKUP__TO".to_owned(), to.to_owned());
        }
        env
    };
    let unset = run(None);
    let quiet = Run {
        name: "backup",
        env: unset,
        payload: &payload,
        working_dir: None,
        origin: None,
        timeout: std::time::Duration::from_secs(60),
    };
    let said = context.run(&command, quiet).await.unwrap();
    assert!(said.contains("nothing to do"), "{said}");
    let set = run(Some("dir"));
    let done = Run {
        name: "backup",
        env: set,
        payload: &payload,
        working_dir: None,
        origin: None,
        timeout: std::time::Duration::from_secs(60),
    };
    let said = context.run(&command, done).await.unwrap();
    assert!(said.starts_with("backed up `main` as main-"), "{said}");
    app.shutdown("test over").await;
}
