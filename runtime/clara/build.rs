//! Embeds the shipped root (the repository's `clara.toml`, personas, pipelines, tools, hooks,
//! email presets, fixtures and schemas) in the binary for `clara init`, so an installed clara can write it
//! anywhere; and tells the tests which optional test servers and tools were asked for.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const FILES: &[&str] = &["clara.toml"];
const FOLDERS: &[&str] = &[
    "personas",
    "pipelines",
    "tools.d",
    "hooks",
    "email",
    "tests",
    "schema",
];

/// Tests that need something beyond cargo run when the variable is set, and are listed as
/// ignored with how to enable them otherwise: never `ok` having done nothing.
const TEST_EXTRAS: &[(&str, &str)] = &[
    ("clara_test_postgres", "CLARA_TEST_POSTGRES_URL"),
    ("clara_test_tools", "CLARA_TEST_TOOLS"),
];

fn main() {
    for (cfg, var) in TEST_EXTRAS {
        println!("cargo:rustc-check-cfg=cfg({cfg})");
        println!("cargo:rerun-if-env-changed={var}");
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    git_revision(&root);
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for file in FILES {
        found.push(((*file).to_owned(), root.join(file)));
    }
    for folder in FOLDERS {
        walk(&root, &root.join(folder), &mut found);
    }
    found.sort();
    // The shipped root is also the folder `cargo run -- chat` runs on, and people edit it:
    // a release build must not rebuild (minutes of whole-program optimisation) for that. So
    // the files are copied here and embedded from the copies, which change only when this
    // script runs again: in a release build, when the build script itself changes; in a dev
    // or test build (where a rebuild is cheap and the tests compare the copies with the
    // files), whenever a shipped file changes.
    let tracked = std::env::var("PROFILE").as_deref() != Ok("release");
    println!("cargo:rerun-if-changed=build.rs");
    let copies = out.join("shipped");
    let _ = std::fs::remove_dir_all(&copies);
    let mut code =
        String::from("/// The shipped root: (path relative to the root, contents, executable).\n");
    code.push_str("pub static SHIPPED: &[(&str, &[u8], bool)] = &[\n");
    for (i, (rel, path)) in found.iter().enumerate() {
        if tracked {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let copy = copies.join(i.to_string());
        std::fs::create_dir_all(&copies).expect("the copies folder can be made");
        std::fs::copy(path, &copy).expect("a shipped file can be copied");
        let executable = is_executable(path);
        writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?}), {executable}),",
            copy.display()
        )
        .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");
    if tracked {
        for folder in FOLDERS {
            println!("cargo:rerun-if-changed={}", root.join(folder).display());
        }
    }
    std::fs::write(out.join("shipped.rs"), code).expect("shipped.rs can be written");
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden files and editor leftovers are not part of the shipped root.
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, found);
        } else if path.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("walked from inside the root")
                .to_string_lossy()
                .replace('\\', "/");
            found.push((rel, path));
        }
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

/// `CLARA_GIT_REV`, the commit this clara is built from (`unknown` outside a git checkout), for
/// `clara --version`; rebuilt when the checked-out commit moves.
fn git_revision(root: &Path) {
    let git = root.join(".git");
    println!("cargo:rerun-if-changed={}", git.join("HEAD").display());
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD"))
        && let Some(reference) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed={}", git.join(reference).display());
        println!(
            "cargo:rerun-if-changed={}",
            git.join("packed-refs").display()
        );
    }
    let revision = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|rev| !rev.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CLARA_GIT_REV={revision}");
}
