//! Files that used to crash or hang clara: deep nesting, alias bombs, FIFOs and devices,
//! out-of-range durations, templates that recurse or pull in other files, unreadable
//! folders. Each runs the real binary and asserts a clean exit code and a message with the
//! file's position — and, dropped into a running `clara chat`, that the chat keeps answering.

#![cfg(unix)]

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{base_root, clara, shipped_root};

/// Runs `command` to the end, failing the test if it takes longer than `limit` (a hang).
fn finish(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("clara hung for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `clara validate --offline` on `root`: its exit code and stdout.
fn validate(root: &Path) -> (i32, String) {
    let mut command = clara(root);
    command.args(["validate", "--offline"]);
    let output = finish(command, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("overflow"), "{stderr}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn deep_yaml(levels: usize) -> String {
    format!("x:\n  {}1\n", "- ".repeat(levels))
}

#[test]
fn deep_nesting_is_an_error_with_a_position_not_a_crash() {
    for (name, text) in [
        ("deep.yaml", deep_yaml(10_000)),
        ("deep.yaml", deep_yaml(3_000)),
        (
            "deep.toml",
            format!("x = {}1{}", "[".repeat(60), "]".repeat(60)),
        ),
    ] {
        let root = base_root();
        std::fs::write(root.path().join("tools.d").join(name), text).unwrap();
        let (code, out) = validate(root.path());
        assert_eq!(code, 1, "{out}");
        assert!(
            out.starts_with(&format!("tools.d/{name}:"))
                && out.contains("nested more than 32 levels deep"),
            "{out}"
        );
    }
}

#[test]
fn yaml_aliases_cannot_expand_a_file_without_bound() {
    let root = base_root();
    let big = "x".repeat(500_000);
    let aliases = vec!["*a"; 2_000].join(", ");
    std::fs::write(
        root.path().join("tools.d/bomb.yaml"),
        format!("description: &a \"{big}\"\nparameters:\n  list: [{aliases}]\n"),
    )
    .unwrap();
    let (code, out) = validate(root.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("tools.d/bomb.yaml:3:") && out.contains("YAML aliases expand this file"),
        "{out}"
    );
}

#[allow(unsafe_code)] // the SAFETY comments below say why
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn fifos_devices_folders_and_dangling_links_are_named_and_never_waited_on() {
    let root = base_root();
    let at = |rel: &str| root.path().join(rel);
    mkfifo(&at(".env"));
    std::fs::remove_file(at("personas/clara.toml")).unwrap();
    std::fs::write(at("personas/clara.toml"), "display_name = \"Clara\"\n").unwrap();
    std::os::unix::fs::symlink("/dev/zero", at("personas/clara.md")).unwrap();
    mkfifo(&at("tools.d/pipe.toml"));
    std::fs::create_dir(at("pipelines/folder.toml")).unwrap();
    std::os::unix::fs::symlink(at("nowhere.yaml"), at("hooks/gone.yaml")).unwrap();
    // A symlink to a regular file is read like the file itself.
    std::fs::rename(at("tools.d/echo.toml"), at("echo.toml")).unwrap();
    std::os::unix::fs::symlink(at("echo.toml"), at("tools.d/echo.toml")).unwrap();
    let (code, out) = validate(root.path());
    assert_eq!(code, 1, "{out}");
    let not_regular = "not a regular file: clara reads only regular files (or symlinks to them)";
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            format!(".env: is a FIFO, {not_regular}").as_str(),
            "hooks/gone.yaml: is a symlink to a file that does not exist",
            &format!("personas/clara.md: is a device, {not_regular}"),
            &format!("pipelines/folder.toml: is a folder, {not_regular}"),
            &format!("tools.d/pipe.toml: is a FIFO, {not_regular}"),
        ]
    );
}

#[test]
fn a_folder_clara_cannot_read_is_reported() {
    let root = base_root();
    let tools = root.path().join("tools.d");
    set_mode(&tools, 0o000);
    // Root reads any folder; without the override capabilities it is held to the mode.
    let mut command = if euid() == 0 && Path::new("/usr/bin/setpriv").exists() {
        let mut command = Command::new("/usr/bin/setpriv");
        command
            .arg("--bounding-set=-dac_override,-dac_read_search")
            .arg(env!("CARGO_BIN_EXE_clara"))
            .arg("--root")
            .arg(root.path());
        command
    } else {
        clara(root.path())
    };
    command.args(["validate", "--offline"]);
    let output = finish(command, Duration::from_secs(20));
    set_mode(&tools, 0o755);
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with("tools.d/: the folder cannot be read: Permission denied"),
        "{out}"
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[allow(unsafe_code)] // the SAFETY comments below say why
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// A `clara chat` reading lines from a pipe, against the fake model.
struct Chat {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    stderr: tempfile::NamedTempFile,
}

impl Chat {
    fn start(root: &Path, fake: &FakeLlm) -> Chat {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut command = clara(root);
        command
            .args(["chat", "--user", "ann"])
            .env("OPENROUTER_API_KEY", "k")
            .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
            .env("CLARA_MEMORY__ENABLED", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A file, not a pipe: nobody reads it until the end.
            .stderr(stderr.reopen().unwrap());
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Chat {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    fn say(&mut self, text: &str) -> String {
        writeln!(self.stdin, "{text}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
    }

    /// Ends the input; the exit code and what clara logged.
    fn end(mut self) -> (i32, String) {
        drop(self.stdin);
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        (code, std::fs::read_to_string(self.stderr.path()).unwrap())
    }
}

/// Long enough for the watcher to settle (150 ms) and reload.
const SETTLE: Duration = Duration::from_millis(900);

#[tokio::test(flavor = "multi_thread")]
async fn a_running_chat_survives_every_hostile_edit_and_takes_the_next_good_one() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    for answer in ["One.", "Two.", "Three."] {
        fake.push(fake_llm::openai_stream(&[answer]));
    }
    let path = root.path().to_owned();
    let lines = tokio::task::spawn_blocking(move || {
        let mut chat = Chat::start(&path, &fake);
        let first = chat.say("first");
        let at = |rel: &str| path.join(rel);
        // Each of these took a running clara down or hung its reloads.
        std::fs::write(at("tools.d/deep.yaml"), deep_yaml(3_000)).unwrap();
        std::thread::sleep(SETTLE);
        mkfifo(&at("tools.d/pipe.toml"));
        std::thread::sleep(SETTLE);
        support::edit(
            &at("tools.d/roll_dice.toml"),
            "timeout = ",
            "timeout = 1e20 # ",
        );
        std::thread::sleep(SETTLE);
        let second = chat.say("second");
        for hostile in ["tools.d/deep.yaml", "tools.d/pipe.toml"] {
            std::fs::remove_file(at(hostile)).unwrap();
        }
        support::edit(
            &at("tools.d/roll_dice.toml"),
            "timeout = 1e20 # ",
            "timeout = ",
        );
        support::edit(
            &at("personas/clara.md"),
            "You are Clara",
            "You are Clara, edited after the storm",
        );
        std::thread::sleep(SETTLE);
        let third = chat.say("third");
        (first, second, third, chat.end(), fake)
    })
    .await
    .unwrap();
    let (first, second, third, (code, logged), fake) = lines;
    assert!(
        logged.contains("ERROR") && logged.contains("the running configuration stays"),
        "{logged}"
    );
    let fixed = logged
        .lines()
        .find(|l| l.contains("is valid again"))
        .unwrap_or_else(|| panic!("the fix is said at the default level:\n{logged}"));
    assert!(fixed.contains("WARN"), "{fixed}");
    assert_eq!(
        (first.as_str(), second.as_str(), third.as_str(), code),
        ("One.\n", "Two.\n", "Three.\n", 0)
    );
    let requests = fake.requests();
    let system = |i: usize| requests[i].body["messages"].to_string();
    assert!(!system(1).contains("after the storm"));
    assert!(
        system(2).contains("after the storm"),
        "the watcher still works after the hostile edits"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_fails_to_render_is_an_honest_turn_error() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    support::edit(
        &root.path().join("personas/clara.md"),
        "You are Clara",
        "You are Clara {{ no_such_variable.field }}",
    );
    let mut command = clara(root.path());
    command
        .args(["chat", "-m", "hello there"])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url());
    let output = tokio::task::spawn_blocking(move || finish(command, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Sorry"),
        "the persona's error reply: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no_such_variable"), "{stderr}");
    assert_eq!(
        fake.request_count(),
        0,
        "no model call with a broken prompt"
    );
}
