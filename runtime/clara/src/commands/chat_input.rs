//! Where `clara chat`'s messages come from: the one `-m` message, piped stdin a line at a time,
//! or a terminal with a prompt, line editing and history (rustyline). Only the terminal gets a
//! greeting, a prompt and notices; piped input and output stay plain.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clara_config::model::adapters::ChatConfig;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use tokio::io::AsyncBufReadExt;

/// The source of messages.
pub enum Messages {
    One(Option<String>),
    Piped(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
    Terminal(Box<Terminal>),
}

/// A person typing: the editor (lent to a blocking thread while it waits for a line).
pub struct Terminal {
    editor: Option<DefaultEditor>,
    /// A read given up on (an approval that timed out): its line is the next one read.
    pending: Option<tokio::task::JoinHandle<(DefaultEditor, rustyline::Result<String>)>>,
    prompt: String,
    history: Option<PathBuf>,
}

impl Messages {
    pub fn new(message: Option<String>, chat: &ChatConfig, root: &Path) -> Messages {
        if let Some(text) = message {
            return Messages::One(Some(text));
        }
        let piped = || Messages::Piped(tokio::io::BufReader::new(tokio::io::stdin()).lines());
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            return piped();
        }
        let Ok(mut editor) = DefaultEditor::new() else {
            return piped();
        };
        let history = (!chat.history_file.is_empty()).then(|| root.join(&chat.history_file));
        if let Some(path) = &history {
            // No history yet is the usual first run.
            let _ = editor.load_history(path);
        }
        Messages::Terminal(Box::new(Terminal {
            editor: Some(editor),
            pending: None,
            prompt: chat.prompt.clone(),
            history,
        }))
    }

    /// Whether a person is typing at a terminal.
    pub fn interactive(&self) -> bool {
        matches!(self, Messages::Terminal(_))
    }

    /// The next message, or `None` at the end of input (EOF, Ctrl-D).
    pub async fn next(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Messages::One(text) => Ok(text.take()),
            Messages::Piped(lines) => Ok(lines.next_line().await.context("cannot read stdin")?),
            Messages::Terminal(terminal) => terminal.read().await,
        }
    }

    /// Asks `prompt` (on stderr for piped input) and reads the answer line: `None` when no one
    /// can answer (a `-m` message, the end of input).
    pub async fn answer(&mut self, prompt: &str) -> anyhow::Result<Option<String>> {
        match self {
            Messages::One(_) => Ok(None),
            Messages::Piped(lines) => {
                eprint!("{prompt}");
                Ok(lines.next_line().await.context("cannot read stdin")?)
            }
            Messages::Terminal(terminal) => terminal.ask(prompt).await,
        }
    }
}

impl Terminal {
    async fn read(&mut self) -> anyhow::Result<Option<String>> {
        let prompt = self.prompt.clone();
        let line = self.readline(prompt).await?;
        if let Some(line) = &line {
            self.remember(line);
        }
        Ok(line)
    }

    /// A line typed after `prompt`, kept out of the history.
    async fn ask(&mut self, prompt: &str) -> anyhow::Result<Option<String>> {
        self.readline(prompt.to_owned()).await
    }

    /// Cancel-safe: a read dropped while the person types goes on, and its line comes back
    /// from the next call.
    async fn readline(&mut self, prompt: String) -> anyhow::Result<Option<String>> {
        let reading = match self.pending.take() {
            Some(reading) => reading,
            None => {
                let mut editor = self.editor.take().context("the line editor is in use")?;
                tokio::task::spawn_blocking(move || {
                    let line = editor.readline(&prompt);
                    (editor, line)
                })
            }
        };
        let reading = self.pending.insert(reading);
        let finished = reading.await;
        self.pending = None;
        let (editor, line) = finished.context("the line editor stopped")?;
        self.editor = Some(editor);
        match line {
            Ok(line) => Ok(Some(line)),
            // Ctrl-C drops the line being typed, as in a shell; the chat goes on.
            Err(ReadlineError::Interrupted) => Ok(Some(String::new())),
            Err(ReadlineError::Eof) => Ok(None),
            Err(error) => Err(error).context("cannot read the terminal"),
        }
    }

    fn remember(&mut self, line: &str) {
        let Some(editor) = self.editor.as_mut() else {
            return;
        };
        if line.trim().is_empty() || !editor.add_history_entry(line).unwrap_or(false) {
            return;
        }
        if let Some(path) = &self.history {
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Err(error) = editor.save_history(path) {
                tracing::warn!(path = %path.display(), %error, "cannot save the chat history");
            }
        }
    }
}
