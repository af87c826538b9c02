//! `command` tools: run a program with the call's arguments (JSON on stdin and/or templated
//! argv, never through a shell unless the manifest says `shell = true`); stdout is the
//! result. The program sees a clean environment: `PATH`, the manifest's `env`, and only the
//! host variables its `secrets_env` names. It runs in its own process group, so a timeout or
//! an output flood stops it and everything it started.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use clara_config::Env;
use clara_config::model::tool::StdinMode;
use clara_core::engine::{Tool, ToolContext, ToolError, ToolPolicy};
use clara_core::llm::{BoxFuture, ToolSpec};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::files::FileStore;
use super::program_env;
use crate::children::ProcessGroup;
use crate::errors::error_chain;

/// How much of stderr is quoted back when a program fails.
const STDERR_TAIL_BYTES: usize = 2_000;

/// A tool that runs a program.
pub struct CommandTool {
    spec: ToolSpec,
    policy: ToolPolicy,
    templates: tera::Tera,
    argv_count: usize,
    shell: bool,
    stdin: StdinMode,
    working_dir: PathBuf,
    env: BTreeMap<String, String>,
    timeout: Duration,
    max_output_bytes: usize,
    user_files: Option<FileStore>,
}

/// What a [`CommandTool`] is built from.
pub struct CommandSpec<'a> {
    /// Name, description and parameters for the model.
    pub spec: ToolSpec,
    /// Who may use it, and its label.
    pub policy: ToolPolicy,
    /// The program (a template over `args`), or with `shell` a shell command line (a template
    /// that does not see `args`: they reach the shell only as `$1`, `$2` …).
    pub program: &'a str,
    /// Argument templates.
    pub args: &'a [String],
    /// Whether the call's arguments go to stdin as JSON.
    pub stdin: StdinMode,
    /// Run `program` through `sh -c`.
    pub shell: bool,
    /// Where the program runs.
    pub working_dir: PathBuf,
    /// Variables set for the program.
    pub env: &'a BTreeMap<String, String>,
    /// Host variables passed through, by name.
    pub secrets_env: &'a [String],
    /// The host environment secrets come from.
    pub host: &'a Env,
    /// Longest a call may run.
    pub timeout: Duration,
    /// Most bytes of stdout kept.
    pub max_output_bytes: usize,
    /// The users' folders, when the program gets the caller's (`user_files = true`).
    pub user_files: Option<FileStore>,
}

impl CommandTool {
    /// Compiles the manifest's templates once; a template that does not parse is an error
    /// (validation reports it with its position first).
    pub fn new(from: CommandSpec<'_>) -> Result<CommandTool, String> {
        let mut templates = clara_config::template::engine();
        let mut sources = vec![("program".to_owned(), from.program.to_owned())];
        for (i, arg) in from.args.iter().enumerate() {
            sources.push((format!("arg{i}"), arg.clone()));
        }
        templates
            .add_raw_templates(sources)
            .map_err(|e| format!("tool `{}`: {e}", from.spec.name))?;
        let env = program_env(from.env, from.secrets_env, from.host);
        Ok(CommandTool {
            spec: from.spec,
            policy: from.policy,
            templates,
            argv_count: from.args.len(),
            shell: from.shell,
            stdin: from.stdin,
            working_dir: from.working_dir,
            env,
            timeout: from.timeout,
            max_output_bytes: from.max_output_bytes,
            user_files: from.user_files,
        })
    }

    fn render(&self, name: &str, vars: &tera::Context) -> Result<String, ToolError> {
        self.templates.render(name, vars).map_err(|e| {
            ToolError(format!(
                "cannot build the command line: {}",
                error_chain(&e)
            ))
        })
    }

    fn command(&self, arguments: &Value, user_id: &str) -> Result<Command, ToolError> {
        let mut vars = tera::Context::new();
        vars.insert("args", arguments);
        // A shell reads its command line as code, so the call's arguments never reach it
        // there (validation refuses such a manifest; this holds even if one slipped past).
        let program = if self.shell {
            self.render("program", &tera::Context::new())?
        } else {
            self.render("program", &vars)?
        };
        let mut argv = Vec::with_capacity(self.argv_count);
        for i in 0..self.argv_count {
            argv.push(self.render(&format!("arg{i}"), &vars)?);
        }
        let mut command = if self.shell {
            let mut command = Command::new("sh");
            command.arg("-c").arg(program).arg("sh").args(argv);
            command
        } else {
            let mut command = Command::new(program);
            command.args(argv);
            command
        };
        // Whose call it is, so a program can keep each user's state apart.
        command
            .env_clear()
            .envs(&self.env)
            .env("CLARA_USER_ID", user_id)
            .current_dir(&self.working_dir)
            .stdin(match self.stdin {
                StdinMode::Json => Stdio::piped(),
                StdinMode::None => Stdio::null(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(files) = &self.user_files {
            let folder = files.user_folder(user_id)?;
            let folder = std::path::absolute(&folder)
                .map_err(|e| ToolError(format!("the user's folder: {e}")))?;
            command
                .env("CLARA_USER_FILES", folder)
                .env("CLARA_MAX_FILE_BYTES", files.max_bytes().to_string());
        }
        #[cfg(unix)]
        command.process_group(0);
        Ok(command)
    }

    /// Runs one call with these arguments, for `user_id`.
    pub async fn run(&self, arguments: &Value, user_id: &str) -> Result<String, ToolError> {
        let mut child = self
            .command(arguments, user_id)?
            .spawn()
            .map_err(|e| ToolError(format!("cannot start the program: {e}")))?;
        // However this call ends, whatever the program left running in its group goes with
        // it (dropping the group kills it).
        let group = ProcessGroup::of(child.id());
        if let Some(mut stdin) = child.stdin.take() {
            // A program that never reads its stdin must not block the call.
            let input = arguments.to_string();
            tokio::spawn(async move {
                let _ = stdin.write_all(input.as_bytes()).await;
            });
        }
        let outcome = tokio::time::timeout(self.timeout, self.collect(&mut child, &group)).await;
        match outcome {
            Err(_) => {
                group.kill();
                let _ = child.wait().await;
                Err(ToolError(format!(
                    "the program did not finish within {:?} and was stopped",
                    self.timeout
                )))
            }
            Ok(outcome) => outcome,
        }
    }

    /// Reads stdout (up to the cap) and stderr, then waits for the exit status.
    async fn collect(&self, child: &mut Child, group: &ProcessGroup) -> Result<String, ToolError> {
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let stdout = async {
            let (out, cut) = read_capped(stdout, self.max_output_bytes).await;
            if cut {
                // Stop a flood at once; stderr then closes too.
                group.kill();
            }
            (out, cut)
        };
        let ((out, cut), (err, _)) =
            tokio::join!(stdout, read_capped(stderr, STDERR_TAIL_BYTES * 8));
        let mut text = String::from_utf8_lossy(&out).into_owned();
        if cut {
            let _ = child.wait().await;
            text.push_str(&format!(
                "\n[output cut at {} bytes]",
                self.max_output_bytes
            ));
            return Ok(text);
        }
        let status = child
            .wait()
            .await
            .map_err(|e| ToolError(format!("the program could not be waited for: {e}")))?;
        if status.success() {
            return Ok(text);
        }
        let err = String::from_utf8_lossy(&err);
        let tail: String = {
            let chars: Vec<char> = err.trim().chars().collect();
            chars[chars.len().saturating_sub(STDERR_TAIL_BYTES)..]
                .iter()
                .collect()
        };
        let how = status.code().map_or_else(
            || "was killed by a signal".to_owned(),
            |c| format!("exited with {c}"),
        );
        Err(ToolError(if tail.is_empty() {
            format!("the program {how}")
        } else {
            format!("the program {how}: {tail}")
        }))
    }
}

/// Reads up to `cap` bytes; `true` when there was more.
async fn read_capped(mut from: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return (kept, false),
            Ok(n) => {
                let room = cap - kept.len();
                kept.extend_from_slice(&buf[..n.min(room)]);
                if n > room {
                    return (kept, true);
                }
            }
        }
    }
}

impl Tool for CommandTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn policy(&self) -> &ToolPolicy {
        &self.policy
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(arguments, context.user_id))
    }
}
