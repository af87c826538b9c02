//! `clara memory` (the real binary) on a copy of the shipped root whose SQLite store holds
//! two users' memories: listing who has memories and a user's own, searching as the engine
//! does, one memory with its history, export to JSON Lines, clearing (refused without a yes),
//! importing back (twice: nothing doubles; times kept), a bad line that stores nothing, and
//! forgetting one memory.

use std::path::Path;
use std::process::Output;

use clara::store::Access;
use clara_core::store::NewMemory;

use crate::support::{self, ok, said, shipped_root};

fn memory(root: &Path, args: &[&str]) -> Output {
    support::clara(root)
        .env("OPENROUTER_API_KEY", "k")
        .arg("memory")
        .args(args)
        .output()
        .expect("clara runs")
}

fn new(user: &str, text: &str, is_key: bool) -> NewMemory {
    NewMemory {
        user_id: user.to_owned(),
        project: None,
        text: text.to_owned(),
        is_key,
        embedding: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_lists_searches_shows_exports_clears_imports_and_forgets_memories() {
    let root = shipped_root();
    let set = clara_config::load_with_env(
        root.path(),
        clara_config::Env::from_vars([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]),
    )
    .unwrap();
    let store = clara::store::open_default(&set, Access::ReadWrite)
        .await
        .unwrap();
    let porto = store
        .add_memory(new("ann", "Ann lives in Porto", true), 1_000)
        .await
        .unwrap();
    store
        .update_memory(&porto.id, "Ann lives in Porto, Portugal", true, None, 2_000)
        .await
        .unwrap();
    store
        .add_memory(new("ann", "Ann has a sister named Eve", false), 3_000)
        .await
        .unwrap();
    let pilot = store
        .add_memory(new("bob", "Bob is a pilot", false), 4_000)
        .await
        .unwrap();
    drop(store);

    let users = ok(memory(root.path(), &["list"]));
    assert_eq!(users, "ann  2 memories\nbob  1 memories\n");
    let keys = ok(memory(root.path(), &["list", "--user", "ann", "--key"]));
    assert_eq!(keys.lines().count(), 1, "{keys}");
    assert!(
        keys.starts_with(&format!(
            "{}  key 1970-01-01  Ann lives in Porto, Portugal",
            porto.id
        )),
        "{keys}"
    );
    let found = ok(memory(root.path(), &["search", "--user", "ann", "sister"]));
    assert!(
        found
            .lines()
            .next()
            .unwrap()
            .ends_with("Ann has a sister named Eve"),
        "{found}"
    );
    let shown = ok(memory(root.path(), &["show", &porto.id]));
    assert!(
        shown.contains("user: ann") && shown.contains("key: yes"),
        "{shown}"
    );
    assert!(
        shown.contains("added: Ann lives in Porto\n")
            && shown
                .contains("changed from: Ann lives in Porto / to: Ann lives in Porto, Portugal"),
        "{shown}"
    );

    let export = root.path().join("memories.jsonl");
    let out = export.to_str().unwrap();
    ok(memory(root.path(), &["export", "--all", "--out", out]));
    let exported = std::fs::read_to_string(&export).unwrap();
    assert_eq!(exported.lines().count(), 3, "{exported}");

    // Clearing asks first; without a terminal to ask on, it needs --yes.
    let unconfirmed = memory(root.path(), &["clear", "--user", "ann"]);
    assert!(!unconfirmed.status.success());
    assert!(
        said(&unconfirmed).contains("Add --yes"),
        "{}",
        said(&unconfirmed)
    );
    assert_eq!(
        ok(memory(root.path(), &["list"])),
        "ann  2 memories\nbob  1 memories\n"
    );
    let cleared = ok(memory(root.path(), &["clear", "--user", "ann", "--yes"]));
    assert_eq!(cleared, "forgot 2 memories of ann\n");
    assert_eq!(ok(memory(root.path(), &["list"])), "bob  1 memories\n");

    // Importing brings them back with their times; importing again adds nothing.
    let imported = ok(memory(root.path(), &["import", out]));
    assert_eq!(imported, "imported 2 memories (1 already there)\n");
    let again = ok(memory(root.path(), &["import", out]));
    assert_eq!(again, "imported 0 memories (3 already there)\n");
    let anns = ok(memory(root.path(), &["export", "--user", "ann"]));
    assert!(anns.contains(r#""created_at":1000"#), "{anns}");

    // A bad line stores nothing and says which line.
    let bad = root.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"user_id\":\"carol\",\"text\":\"Carol sings\"}\n{\"user_id\":\"carol\"}\n",
    )
    .unwrap();
    let refused = memory(root.path(), &["import", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("bad.jsonl: line 2: "),
        "{}",
        said(&refused)
    );
    assert_eq!(
        ok(memory(root.path(), &["list"])),
        "ann  2 memories\nbob  1 memories\n"
    );

    let forgot = ok(memory(root.path(), &["forget", &pilot.id]));
    assert_eq!(
        forgot,
        format!("forgot {} of bob: Bob is a pilot\n", pilot.id)
    );
    let gone = ok(memory(root.path(), &["show", &pilot.id]));
    assert!(
        gone.contains("was forgotten") && gone.contains("forgotten: Bob is a pilot"),
        "{gone}"
    );
    let unknown = memory(root.path(), &["show", "no-such-id"]);
    assert!(said(&unknown).contains("there is no memory `no-such-id`"));
}
