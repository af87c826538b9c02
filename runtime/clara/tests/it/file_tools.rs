//! The built-in file tools: a folder per user, a size cap, and no way out of that folder
//! (`..`, absolute paths, separators, symlinks).

use std::path::Path;
use std::sync::Arc;

use clara::tools::files::FileStore;
use clara_config::model::store::StoreConfig;
use clara_core::engine::{ManualClock, SentFiles, Tool, ToolContext};
use clara_core::store::Store;
use serde_json::{Value, json};

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    tools: Vec<Arc<dyn Tool>>,
    store: Arc<dyn Store>,
}

async fn setup(max_bytes: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = clara::store::open(
        &StoreConfig::Sqlite {
            path: "clara.db".to_owned(),
            cache_mib: clara_config::model::store::DEFAULT_SQLITE_CACHE_MIB,
        },
        &root,
        &clara_config::Env::default(),
        clara::store::Access::ReadWrite,
    )
    .await
    .unwrap();
    let tools = FileStore::new(root.join("files"), max_bytes).tools();
    Setup {
        _dir: dir,
        root,
        tools,
        store,
    }
}

impl Setup {
    async fn call(&self, user: &str, tool: &str, arguments: Value) -> Result<String, String> {
        self.call_in(user, tool, arguments, None).await
    }

    /// A call in a turn whose reply carries the files sent into `files`.
    async fn call_in(
        &self,
        user: &str,
        tool: &str,
        arguments: Value,
        files: Option<&SentFiles>,
    ) -> Result<String, String> {
        let clock = ManualClock::new(0);
        let context = ToolContext {
            user_id: user,
            store: self.store.as_ref(),
            embedder: None,
            clock: &clock,
            search: (100, 60),
            files,
            place: None,
        };
        let tool = self
            .tools
            .iter()
            .find(|t| t.spec().name == tool)
            .unwrap_or_else(|| panic!("no tool {tool}"));
        tool.call(&arguments, &context).await.map_err(|e| e.0)
    }
}

#[tokio::test]
async fn save_list_read_and_delete_in_the_users_own_folder() {
    let s = setup(1 << 20).await;
    let saved = s
        .call(
            "ann",
            "save_to_local",
            json!({"filename": "notes.md", "content": "buy bread"}),
        )
        .await;
    assert_eq!(saved.unwrap(), "saved notes.md (9 bytes)");
    assert_eq!(
        std::fs::read_to_string(s.root.join("files/ann/notes.md")).unwrap(),
        "buy bread"
    );
    assert_eq!(
        s.call("ann", "list_local_files", json!({})).await.unwrap(),
        "notes.md (9 bytes)"
    );
    assert_eq!(
        s.call("ann", "read_local_file", json!({"filename": "notes.md"}))
            .await
            .unwrap(),
        "buy bread"
    );
    // Another user sees nothing of Ann's.
    assert_eq!(
        s.call("bob", "list_local_files", json!({})).await.unwrap(),
        "no files yet"
    );
    assert!(
        s.call("bob", "read_local_file", json!({"filename": "notes.md"}))
            .await
            .is_err()
    );
    assert_eq!(
        s.call("ann", "delete_local_file", json!({"filename": "notes.md"}))
            .await
            .unwrap(),
        "deleted notes.md"
    );
    assert_eq!(
        s.call("ann", "list_local_files", json!({})).await.unwrap(),
        "no files yet"
    );
}

#[tokio::test]
async fn names_that_could_leave_the_folder_are_refused() {
    let s = setup(1 << 20).await;
    let outside = s.root.join("outside.txt");
    std::fs::write(&outside, "keep me").unwrap();
    for name in [
        "../outside.txt",
        "../../etc/passwd",
        "/etc/passwd",
        outside.to_str().unwrap(),
        "a/b.txt",
        "a\\b.txt",
        "..",
        ".",
        ".hidden",
        "",
    ] {
        for tool in ["save_to_local", "read_local_file", "delete_local_file"] {
            let result = s
                .call("ann", tool, json!({"filename": name, "content": "x"}))
                .await;
            assert!(result.is_err(), "{tool} accepted {name:?}: {result:?}");
        }
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    // A user id cannot climb out either.
    s.call(
        "../..",
        "save_to_local",
        json!({"filename": "x.txt", "content": "x"}),
    )
    .await
    .unwrap();
    assert!(s.root.join("files/_2E._2F../x.txt").is_file());
    assert!(!s.root.join("x.txt").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_are_neither_followed_nor_replaced() {
    let s = setup(1 << 20).await;
    let outside = s.root.join("secret.txt");
    std::fs::write(&outside, "private").unwrap();
    let folder = s.root.join("files/ann");
    std::fs::create_dir_all(&folder).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("link.txt")).unwrap();
    for (tool, args) in [
        ("read_local_file", json!({"filename": "link.txt"})),
        (
            "save_to_local",
            json!({"filename": "link.txt", "content": "overwritten"}),
        ),
        ("delete_local_file", json!({"filename": "link.txt"})),
    ] {
        let result = s.call("ann", tool, args).await;
        assert_eq!(
            result.unwrap_err(),
            "`link.txt` is not a regular file",
            "{tool}"
        );
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "private");
    assert!(
        folder.join("link.txt").symlink_metadata().is_ok(),
        "the link stays"
    );
    assert_eq!(
        s.call("ann", "list_local_files", json!({})).await.unwrap(),
        "no files yet",
        "links are not listed"
    );
    // A user folder that is itself a symlink is refused too.
    std::os::unix::fs::symlink(&s.root, s.root.join("files/bob")).unwrap();
    let result = s
        .call("bob", "read_local_file", json!({"filename": "secret.txt"}))
        .await;
    assert_eq!(
        result.unwrap_err(),
        "the user's folder is not a plain folder"
    );
}

#[tokio::test]
async fn files_over_the_size_cap_are_refused() {
    let s = setup(10).await;
    let result = s
        .call(
            "ann",
            "save_to_local",
            json!({"filename": "big.txt", "content": "0123456789A"}),
        )
        .await;
    assert_eq!(result.unwrap_err(), "the file is 11 bytes; the limit is 10");
    assert!(!Path::new(&s.root.join("files/ann/big.txt")).exists());
}

#[tokio::test]
async fn users_whose_ids_differ_only_in_odd_characters_keep_separate_folders() {
    let s = setup(1 << 20).await;
    let users = ["a/b", "a_b", "a:b"];
    for user in users {
        s.call(
            user,
            "save_to_local",
            json!({ "filename": "notes.txt", "content": format!("{user}'s notes") }),
        )
        .await
        .unwrap();
    }
    for user in users {
        let read = s
            .call(user, "read_local_file", json!({ "filename": "notes.txt" }))
            .await
            .unwrap();
        assert!(read.contains(&format!("{user}'s notes")), "{user}: {read}");
    }
    let folders = std::fs::read_dir(s.root.join("files")).unwrap().count();
    assert_eq!(folders, 3);
}

#[tokio::test]
async fn a_sent_file_goes_out_with_the_reply_and_only_from_the_users_own_folder() {
    let s = setup(1 << 20).await;
    s.call(
        "ann",
        "save_to_local",
        json!({"filename": "plan.csv", "content": "a,b\n1,2\n"}),
    )
    .await
    .unwrap();
    let files = SentFiles::default();
    let sent = s
        .call_in(
            "ann",
            "send_local_file",
            json!({"filename": "plan.csv"}),
            Some(&files),
        )
        .await
        .unwrap();
    assert_eq!(
        sent,
        "plan.csv (8 bytes) will be sent to the conversation with your reply"
    );
    let [file] = files.take().try_into().unwrap();
    assert_eq!(
        (
            file.name.as_str(),
            file.media_type.as_str(),
            file.bytes.as_slice()
        ),
        ("plan.csv", "text/csv", b"a,b\n1,2\n".as_slice())
    );
    assert_eq!(file.path.unwrap(), s.root.join("files/ann/plan.csv"));

    // Another user's file, a path, a missing file: nothing is queued.
    for (user, name, why) in [
        ("bob", "plan.csv", "there is no file `plan.csv`"),
        ("ann", "../bob/x", "use a plain file name"),
        ("ann", "gone.txt", "there is no file `gone.txt`"),
    ] {
        let refused = s
            .call_in(
                user,
                "send_local_file",
                json!({"filename": name}),
                Some(&files),
            )
            .await
            .unwrap_err();
        assert!(refused.contains(why), "{refused}");
    }
    assert!(files.take().is_empty());

    // A run that answers no one's message (a task, a hook) has nowhere to send it.
    let nowhere = s
        .call("ann", "send_local_file", json!({"filename": "plan.csv"}))
        .await
        .unwrap_err();
    assert_eq!(
        nowhere,
        "files can only be sent in reply to someone's message"
    );
}

#[tokio::test]
async fn a_file_over_the_cap_is_refused_rather_than_cut() {
    let s = setup(8).await;
    let folder = s.root.join("files/ann");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("big.txt"), "0123456789").unwrap();
    for tool in ["read_local_file", "send_local_file"] {
        let files = SentFiles::default();
        let refused = s
            .call_in("ann", tool, json!({"filename": "big.txt"}), Some(&files))
            .await
            .unwrap_err();
        assert_eq!(refused, "`big.txt` is 10 bytes; the limit is 8", "{tool}");
        assert!(files.take().is_empty());
    }
}
