//! What a hook or a scheduled task does: run a shell command (values arrive as environment
//! variables, never in the command text), POST JSON to a webhook, or run a pipeline and post
//! its reply through an adapter. Every action has a timeout; a command's whole process group
//! is stopped at it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use clara_config::model::hook::{Delivery, Hook, Task, Webhook};
use clara_core::engine::{Conversation, Incoming};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::children::ProcessGroup;
use crate::live::Live;

/// Most output kept from a command for the log.
const OUTPUT_LOG_BYTES: usize = 4_000;

/// One action, as a hook or task describes it.
pub enum Action {
    /// `sh -c COMMAND`.
    Command(String),
    /// POST to a URL.
    Webhook(Webhook),
    /// Run a pipeline and post its reply.
    Pipeline {
        /// The pipeline's name.
        name: String,
        /// Where its reply goes; `None`: back where the event happened.
        deliver: Option<Delivery>,
    },
}

impl Action {
    /// The action of a hook (validation guarantees exactly one is set).
    pub fn of_hook(hook: &Hook) -> Option<Action> {
        choose(&hook.command, &hook.webhook, &hook.pipeline, &hook.deliver)
    }

    /// The action of a task.
    pub fn of_task(task: &Task) -> Option<Action> {
        choose(&task.command, &task.webhook, &task.pipeline, &task.deliver)
    }
}

fn choose(
    command: &Option<String>,
    webhook: &Option<Webhook>,
    pipeline: &Option<String>,
    deliver: &Option<Delivery>,
) -> Option<Action> {
    if let Some(command) = command {
        Some(Action::Command(command.clone()))
    } else if let Some(webhook) = webhook {
        Some(Action::Webhook(webhook.clone()))
    } else {
        pipeline.as_ref().map(|name| Action::Pipeline {
            name: name.clone(),
            deliver: deliver.clone(),
        })
    }
}

/// Everything an action runs with.
pub struct Context {
    /// The running configuration (pipelines, outlets, the root).
    pub live: Arc<Live>,
    /// For webhooks.
    pub client: reqwest::Client,
}

/// One run of an action: who it is for and what it carries.
pub struct Run<'a> {
    /// The hook's or task's name, for logs.
    pub name: &'a str,
    /// Extra environment of a command (`CLARA_*`).
    pub env: BTreeMap<String, String>,
    /// What a webhook receives.
    pub payload: &'a Value,
    /// Working directory of a command, relative to the root (default `hooks/`).
    pub working_dir: Option<&'a str>,
    /// Where the action came from: a pipeline's user and conversation when it has no
    /// `deliver`.
    pub origin: Option<Delivery>,
    /// The action's time limit.
    pub timeout: Duration,
}

impl Context {
    /// Runs `action`; `Err` says why it failed (logged and reported by the caller).
    pub async fn run(&self, action: &Action, run: Run<'_>) -> Result<String, String> {
        let limited = async {
            match action {
                Action::Command(command) => self.command(command, &run).await,
                Action::Webhook(webhook) => self.webhook(webhook, &run).await,
                Action::Pipeline { name, deliver } => {
                    let to = deliver
                        .clone()
                        .or_else(|| run.origin.clone())
                        .ok_or_else(|| {
                            "the pipeline has nowhere to post: set `deliver`".to_owned()
                        })?;
                    self.pipeline(name, &to).await
                }
            }
        };
        tokio::time::timeout(run.timeout, limited)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {:?}", run.timeout)))
    }

    async fn command(&self, command: &str, run: &Run<'_>) -> Result<String, String> {
        let root = self.live.current().config.root.clone();
        let dir: PathBuf = root.join(run.working_dir.unwrap_or("hooks"));
        let mut child = Command::new("sh");
        child
            .arg("-c")
            .arg(command)
            .envs(clara_itself(&root))
            .envs(&run.env)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        child.process_group(0);
        let mut child = child
            .spawn()
            .map_err(|e| format!("cannot start `sh` in {}: {e}", dir.display()))?;
        let pid = child.id();
        // Stops the group however this future ends (finished, failed, or dropped at the
        // timeout), so nothing the command started outlives it.
        let _group = ProcessGroup::of(pid);
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (_, _, status) = tokio::join!(
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err),
            child.wait()
        );
        let status = status.map_err(|e| format!("cannot wait for the command: {e}"))?;
        let out = tail(&out);
        let err = tail(&err);
        if status.success() {
            if !err.is_empty() {
                tracing::info!(hook = run.name, "stderr: {err}");
            }
            Ok(out)
        } else {
            let code = status
                .code()
                .map_or_else(|| "a signal".to_owned(), |c| c.to_string());
            Err(if err.is_empty() {
                format!("exit code {code}")
            } else {
                format!("exit code {code}: {err}")
            })
        }
    }

    async fn webhook(&self, webhook: &Webhook, run: &Run<'_>) -> Result<String, String> {
        let generation = self.live.current();
        let env = &generation.config.env;
        let secrets: BTreeMap<&str, &str> = webhook
            .secrets_env
            .iter()
            .filter_map(|n| Some((n.as_str(), env.get(n)?)))
            .collect();
        let mut vars = tera::Context::new();
        vars.insert("env", &secrets);
        let mut request = self.client.post(&webhook.url).json(run.payload);
        for (name, template) in &webhook.headers {
            let value = clara_config::template::render_once(template, &vars)
                .map_err(|e| format!("header `{name}`: {e}"))?;
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| {
            format!(
                "POST to {} failed: {}",
                webhook_host(&webhook.url),
                e.without_url()
            )
        })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(tail(body.as_bytes()))
        } else {
            Err(format!(
                "POST to {} answered {status}: {}",
                webhook_host(&webhook.url),
                tail(body.as_bytes())
            ))
        }
    }

    async fn pipeline(&self, name: &str, to: &Delivery) -> Result<String, String> {
        let generation = self.live.current();
        let outcome = generation
            .run_pipeline(name, incoming_for(to))
            .await
            .map_err(|e| format!("pipeline `{name}` failed: {e}"))?;
        let Some(reply) = outcome.reply().filter(|r| !r.trim().is_empty()) else {
            return Ok(String::new());
        };
        self.live.outlets().post(to, reply, None).await?;
        Ok(reply.to_owned())
    }
}

/// The user and conversation a pipeline runs for when it posts to `to`: the user's DM, or
/// the channel.
fn incoming_for(to: &Delivery) -> Incoming {
    let (user, conversation) = match (&to.user, &to.channel) {
        (Some(user), _) => (
            user.clone(),
            Conversation {
                id: format!("dm-{user}"),
                is_dm: true,
                channel_name: None,
                server_name: None,
            },
        ),
        (None, channel) => {
            let channel = channel.clone().unwrap_or_default();
            (
                format!("channel-{channel}"),
                Conversation {
                    id: format!("channel-{channel}"),
                    is_dm: false,
                    channel_name: Some(channel),
                    server_name: None,
                },
            )
        }
    };
    Incoming::text(&to.adapter, &user, &user, conversation, String::new())
}

/// The end of some output, as text, for logs.
/// How a webhook is named in logs and on the console: by its host alone, since its URL may
/// hold a token (a Discord webhook's does).
pub fn webhook_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "a webhook".to_owned())
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text.len().saturating_sub(OUTPUT_LOG_BYTES);
    let start = (start..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// `CLARA_BIN` (this clara's program) and `CLARA_ROOT` (the root it runs from), so a task runs
/// clara's own commands (`"$CLARA_BIN" --root "$CLARA_ROOT" backup`) whatever `PATH` holds.
fn clara_itself(root: &std::path::Path) -> Vec<(&'static str, std::ffi::OsString)> {
    let mut vars = vec![("CLARA_ROOT", root.as_os_str().to_owned())];
    if let Ok(program) = std::env::current_exe() {
        vars.push(("CLARA_BIN", program.into_os_string()));
    }
    vars
}
