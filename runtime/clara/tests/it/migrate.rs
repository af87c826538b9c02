//! `clara migrate`: creates or upgrades every store's schema, and says plainly when a store
//! cannot be reached.

use crate::support::{base_root, clara};

#[test]
fn migrate_creates_the_sqlite_store_and_is_repeatable() {
    let root = base_root();
    for _ in 0..2 {
        let out = clara(root.path()).arg("migrate").output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with("store `main` (sqlite ") && stdout.ends_with("schema up to date\n"),
            "{stdout}"
        );
    }
    assert!(root.path().join("data/clara.db").is_file());
}

#[test]
fn migrate_names_the_missing_postgres_variable() {
    let root = base_root();
    let out = clara(root.path())
        .arg("migrate")
        .env("CLARA_STORES__MAIN__TYPE", "postgres")
        .env("CLARA_STORES__MAIN__URL_ENV", "CLARA_TEST_NOT_SET_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CLARA_TEST_NOT_SET_URL"), "{stderr}");
}
