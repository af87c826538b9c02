//! What the benches share: a copy of the shipped root and the fake model on its own thread.

#[allow(dead_code)]
#[path = "../../tests/support/fake_llm/mod.rs"]
pub mod fake_llm;

use std::path::Path;

/// A temporary copy of the shipped root's config files.
pub fn shipped_root() -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(repo.join("clara.toml"), root.path().join("clara.toml")).unwrap();
    for dir in ["personas", "pipelines", "tools.d", "hooks"] {
        copy_dir(&repo.join(dir), &root.path().join(dir));
    }
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Starts the fake model on a thread of its own, as a model server lives outside clara: its
/// work (reading requests, writing streams) is not clara's overhead, only the round trip is.
pub fn start_fake_model() -> fake_llm::FakeLlm {
    let (started, fake) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let fake = fake_llm::FakeLlm::start().await;
            fake.keep_alive();
            started.send(fake).unwrap();
            std::future::pending::<()>().await;
        });
    });
    fake.recv().unwrap()
}
