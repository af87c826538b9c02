//! `command` tools run real programs: arguments in, stdout out; timeouts stop the whole
//! process group; floods are capped; the environment holds only what the manifest names.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clara::tools::command::{CommandSpec, CommandTool};
use clara_config::Env;
use clara_config::model::tool::StdinMode;
use clara_core::llm::ToolSpec;
use serde_json::json;

struct Manifest {
    program: &'static str,
    args: Vec<String>,
    stdin: StdinMode,
    shell: bool,
    env: BTreeMap<String, String>,
    secrets_env: Vec<String>,
    timeout: Duration,
    max_output_bytes: usize,
}

fn manifest(program: &'static str, args: &[&str]) -> Manifest {
    Manifest {
        program,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        stdin: StdinMode::None,
        shell: false,
        env: BTreeMap::new(),
        secrets_env: Vec::new(),
        timeout: Duration::from_secs(10),
        max_output_bytes: 1 << 20,
    }
}

fn build(m: &Manifest, host: &Env) -> CommandTool {
    CommandTool::new(CommandSpec {
        spec: ToolSpec {
            name: "t".to_owned(),
            description: "test".to_owned(),
            parameters: json!({"type": "object"}),
        },
        policy: Default::default(),
        program: m.program,
        args: &m.args,
        stdin: m.stdin,
        shell: m.shell,
        working_dir: std::env::temp_dir(),
        env: &m.env,
        secrets_env: &m.secrets_env,
        host,
        timeout: m.timeout,
        max_output_bytes: m.max_output_bytes,
        user_files: None,
    })
    .expect("templates compile")
}

#[tokio::test]
async fn argv_templates_and_json_stdin_carry_the_arguments() {
    let echo = build(
        &manifest("echo", &["{{ args.word }}", "x{{ args.n + 1 }}"]),
        &Env::default(),
    );
    let out = echo
        .run(&json!({"word": "hello", "n": 41}), "ann")
        .await
        .unwrap();
    assert_eq!(out, "hello x42\n");

    let cat = build(
        &Manifest {
            stdin: StdinMode::Json,
            ..manifest("cat", &[])
        },
        &Env::default(),
    );
    let args = json!({"q": "a \"quoted\" value", "list": [1, 2]});
    let out = cat.run(&args, "ann").await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        args
    );
}

#[tokio::test]
async fn shell_metacharacters_in_arguments_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let echo = build(&manifest("echo", &["{{ args.text }}"]), &Env::default());
    let text = format!("$(touch {0}); `touch {0}` | touch {0}", marker.display());
    let out = echo.run(&json!({ "text": text }), "ann").await.unwrap();
    assert_eq!(out.trim_end(), text);
    assert!(!marker.exists(), "an argument was run by a shell");
}

#[tokio::test]
async fn a_hanging_tool_and_its_children_are_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
    let tool = build(
        &Manifest {
            timeout: Duration::from_millis(300),
            ..manifest("sh", &["-c", &script])
        },
        &Env::default(),
    );
    let started = Instant::now();
    let error = tool.run(&json!({}), "ann").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(error.0.contains("did not finish"), "{error}");
    let child: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The grandchild was in the tool's process group: it is gone (or a zombie awaiting init).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
        if status.is_empty() || status.contains("State:\tZ") {
            break;
        }
        assert!(Instant::now() < deadline, "the background child survived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_flood_of_output_is_capped_and_stopped() {
    let tool = build(
        &Manifest {
            max_output_bytes: 1000,
            ..manifest("yes", &["flood"])
        },
        &Env::default(),
    );
    let started = Instant::now();
    let out = tool.run(&json!({}), "ann").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let (kept, note) = out.split_at(1000);
    assert!(kept.starts_with("flood\nflood\n"));
    assert_eq!(note, "\n[output cut at 1000 bytes]");
}

#[tokio::test]
async fn non_utf8_output_arrives_with_replacement_characters() {
    let tool = build(
        &manifest("printf", &["ok \\377\\376 done"]),
        &Env::default(),
    );
    let out = tool.run(&json!({}), "ann").await.unwrap();
    assert_eq!(out, "ok \u{fffd}\u{fffd} done");
}

#[tokio::test]
async fn only_declared_variables_reach_the_program() {
    let host = Env::from_vars([
        ("DECLARED_TOKEN".to_owned(), "yes-1".to_owned()),
        ("UNDECLARED_TOKEN".to_owned(), "no-2".to_owned()),
    ]);
    let tool = build(
        &Manifest {
            env: BTreeMap::from([("MODE".to_owned(), "test".to_owned())]),
            secrets_env: vec!["DECLARED_TOKEN".to_owned()],
            ..manifest("env", &[])
        },
        &host,
    );
    let out = tool.run(&json!({}), "ann").await.unwrap();
    let names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(
        out.contains("DECLARED_TOKEN=yes-1\n") && out.contains("MODE=test\n"),
        "{out}"
    );
    assert!(!out.contains("no-2"), "{out}");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["CLARA_USER_ID", "DECLARED_TOKEN", "MODE", "PATH"],
        "{out}"
    );
    assert!(
        out.contains("CLARA_USER_ID=ann\n"),
        "whose call it is: {out}"
    );
}

#[tokio::test]
async fn a_failing_program_reports_its_exit_code_and_stderr() {
    let tool = build(
        &manifest("sh", &["-c", "echo 'no such issue' >&2; exit 3"]),
        &Env::default(),
    );
    let error = tool.run(&json!({}), "ann").await.unwrap_err();
    assert_eq!(error.0, "the program exited with 3: no such issue");
    let missing = build(&manifest("clara-no-such-program", &[]), &Env::default());
    let error = missing.run(&json!({}), "ann").await.unwrap_err();
    assert!(error.0.starts_with("cannot start the program"), "{error}");
}

#[tokio::test]
async fn shell_mode_runs_the_line_through_sh_with_arguments_as_positional_values() {
    let tool = build(
        &Manifest {
            shell: true,
            ..manifest(
                "printf '%s|' \"$1\" \"$2\"",
                &["{{ args.a }}", "$(echo no)"],
            )
        },
        &Env::default(),
    );
    let out = tool.run(&json!({"a": "one two"}), "ann").await.unwrap();
    assert_eq!(out, "one two|$(echo no)|");
}

#[tokio::test]
async fn the_shipped_python_tool_runs_code_in_a_temporary_folder() {
    let root = support::shipped_root();
    support::edit(
        &root.path().join("tools.d/run_python.toml"),
        "enabled = false",
        "enabled = true",
    );
    let set = clara_config::load_with_env(root.path(), Env::default()).unwrap();
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let python = tools
        .manifest_tool("run_python")
        .expect("offered once enabled");
    assert!(python.policy().admin_only);
    assert!(python.spec().description.contains("not a security sandbox"));
    let store = clara::store::open_default(&set, clara::store::Access::ReadWrite)
        .await
        .unwrap();
    let clock = clara_core::engine::ManualClock::new(0);
    let context = clara_core::engine::ToolContext {
        user_id: "ann",
        store: store.as_ref(),
        embedder: None,
        clock: &clock,
        search: (100, 60),
        files: None,
        place: None,
    };
    let code =
        "import os\nopen('left.txt', 'w').write('x')\nprint(sum(range(10)), os.listdir('.'))";
    let out = python
        .call(&json!({ "code": code }), &context)
        .await
        .unwrap();
    assert_eq!(out, "45 ['main.py', 'left.txt']\n");
    assert!(!root.path().join("tools.d/left.txt").exists());
    let error = python
        .call(&json!({"code": "raise SystemExit('bad input')"}), &context)
        .await
        .unwrap_err();
    assert_eq!(error.0, "the program exited with 1: bad input");

    // Files go in from the user's folder and come back out when asked for.
    let folder = root.path().join("clara_files/ann");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("data.csv"), "3\n4\n").unwrap();
    let code = "total = sum(int(l) for l in open('data.csv'))\n\
                open('total.txt', 'w').write(str(total))\n\
                print('total', total)";
    let call = json!({"code": code, "files": ["data.csv"], "keep": ["total.txt", "chart.png"]});
    let out = python.call(&call, &context).await.unwrap();
    assert_eq!(
        out,
        "total 7\n\n[files] total.txt (1 bytes): kept in the user's files\n\
         [files] chart.png: not kept, the program did not write it\n"
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("total.txt")).unwrap(),
        "7"
    );

    // Nothing outside the folders: no paths, no missing inputs, no symlinks either way.
    std::os::unix::fs::symlink("/etc/hostname", folder.join("link.txt")).unwrap();
    for (call, why) in [
        (
            json!({"code": "", "files": ["../bob/x"]}),
            "use a plain file name",
        ),
        (
            json!({"code": "", "files": ["gone.csv"]}),
            "the user has no file `gone.csv`",
        ),
        (
            json!({"code": "", "files": ["link.txt"]}),
            "`link.txt` is not a regular file",
        ),
        (
            json!({"code": "import os; os.symlink('/etc/hostname', 'out.txt')", "keep": ["out.txt"]}),
            "`out.txt` is not a regular file",
        ),
    ] {
        let error = python.call(&call, &context).await.unwrap_err();
        assert!(error.0.contains(why), "{call}: {error}");
    }
    assert!(!folder.join("out.txt").exists());
}
