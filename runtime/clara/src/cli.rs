//! Command-line arguments (clap). Usage errors exit with 2, user-facing failures with 1.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// clara: a declarative agent runtime. Runs a personal assistant from a folder of plain files.
#[derive(Parser, Debug)]
#[command(
    name = "clara",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CLARA_GIT_REV"), ")"),
    about
)]
pub struct Cli {
    /// The root folder holding clara.toml, personas/, pipelines/, tools.d/ and hooks/.
    #[arg(long, global = true, env = "CLARA_ROOT", default_value = ".")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the shipped root (clara.toml, personas/, pipelines/, tools.d/, hooks/, tests/,
    /// schema/) to a folder, then say what to run next.
    Init(InitArgs),
    /// Load and check every file; print each problem as `path:line:col: message`.
    Validate(ValidateArgs),
    /// Write one JSON Schema per file kind (for editors), or check they are current.
    Schema(SchemaArgs),
    /// Run clara for good: the Discord adapter (needs DISCORD_BOT_TOKEN), hooks, scheduled
    /// tasks, background memory work, hot reload and the status endpoint (`/health`,
    /// `/metrics` on [status] bind, 127.0.0.1:8787), until Ctrl-C or SIGTERM.
    Run,
    /// Talk to clara in the terminal: one message with -m, or one per line of stdin.
    Chat(ChatArgs),
    /// Apply pending database migrations to every store (start-up applies them too).
    Migrate,
    /// Run the conversation fixtures in tests/ through the real pipelines with a scripted
    /// model; print one line per case and what differed; exit 1 when any fails.
    Test(TestArgs),
    /// Show what the files on disk would change in the configuration `clara run` last applied
    /// (or another copy of it): each file, whether it applies live, needs a restart or is
    /// rejected, and how prompts and pipeline steps change.
    Plan(PlanArgs),
    /// Re-run stored conversations (read-only) against the files on disk, with the model's
    /// recorded answers where the prompt is unchanged, and show per turn what changed: tier,
    /// tools, prompt, reply. `--record FILE` writes a conversation as a `clara test` fixture.
    Replay(ReplayArgs),
    /// Print what the model calls used and cost, summed by day, user, channel, model,
    /// pipeline or purpose (the store is only read).
    Usage(UsageArgs),
    /// Install and manage MCP servers. Installing one writes its manifest in tools.d/ (once
    /// the server started and listed its tools), which a running clara picks up.
    Mcp(McpArgs),
    /// Look into and clean long-term memory, in the store directly: list, search, show,
    /// forget, export and import as JSON Lines, clear.
    Memory(MemoryArgs),
    /// Back up a store (a consistent snapshot, packed, to [backup]'s bucket or folder), or
    /// list the backups.
    Backup(BackupArgs),
    /// Put a backup back as its store, once its archive checks out (a store that holds
    /// messages or memories needs --force).
    Restore(RestoreArgs),
    /// Bring another assistant's history and memories into the default store.
    Import(ImportArgs),
}

/// Arguments of `clara import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

/// Where `clara import` reads from.
#[derive(Subcommand, Debug)]
pub enum ImportFrom {
    /// A MyPalClara installation: its database (sessions, messages) and its memory store.
    /// Run twice, it adds nothing twice.
    Mypalclara {
        /// Its main database: a SQLite file, or a postgres:// URL (better: --db-env).
        #[arg(long, required_unless_present = "db_env")]
        db: Option<String>,
        /// The variable holding the database's URL (its DATABASE_URL).
        #[arg(long, conflicts_with = "db")]
        db_env: Option<String>,
        /// Its memories: the pgvector database (postgres:// URL), or a JSON export of the
        /// points (`[{id, payload, vector}]`, or one per line).
        #[arg(long)]
        memories: Option<String>,
        /// The variable holding the memory database's URL (its ROOK_DATABASE_URL).
        #[arg(long, conflicts_with = "memories")]
        memories_env: Option<String>,
        /// The memory table (ROOK_COLLECTION_NAME).
        #[arg(long, default_value = "clara_memories")]
        collection: String,
        /// Say what would be imported; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The name this installation's records are marked with (import two installations
        /// under two names).
        #[arg(long, default_value = "mypalclara")]
        source: String,
    },
}

/// Where backups go, instead of `[backup] to`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum BackupTo {
    /// S3-compatible storage (`[backup] bucket`).
    S3,
    /// The folder `[backup] dir`.
    Dir,
}

/// Arguments of `clara backup`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// The store to back up (default: [defaults] store).
    #[arg(long)]
    pub store: Option<String>,
    /// Where to put it, instead of [backup] to.
    #[arg(long, value_enum)]
    pub to: Option<BackupTo>,
    /// Back up even when the last backup is younger than [backup] min_interval_hours.
    #[arg(long)]
    pub force: bool,
    /// Do nothing (and succeed) when no bucket is set: what the scheduled task runs.
    #[arg(long)]
    pub if_configured: bool,
}

/// What `clara backup` does besides backing up.
#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// List the backups, newest first.
    List {
        /// Where to look, instead of [backup] to.
        #[arg(long, value_enum)]
        to: Option<BackupTo>,
    },
}

/// Arguments of `clara restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup's id, as `clara backup list` shows it.
    pub id: String,
    /// Restore into this store instead of the one it was made of.
    #[arg(long)]
    pub store: Option<String>,
    /// Where the backup is, instead of [backup] to.
    #[arg(long, value_enum)]
    pub to: Option<BackupTo>,
    /// Replace a store that holds messages or memories (stop clara first).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `clara memory`.
#[derive(Args, Debug)]
pub struct MemoryArgs {
    #[command(subcommand)]
    pub command: MemoryCommand,
}

/// What `clara memory` does.
#[derive(Subcommand, Debug)]
pub enum MemoryCommand {
    /// Each user with how many memories; with --user, that user's memories, oldest first.
    List {
        /// Whose memories.
        #[arg(long)]
        user: Option<String>,
        /// Only key memories (the ones always in context).
        #[arg(long)]
        key: bool,
    },
    /// Search a user's memories as the engine does (full text, and vectors when embeddings
    /// are on).
    Search {
        /// Whose memories.
        #[arg(long)]
        user: String,
        /// Most results.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// What to look for.
        #[arg(required = true)]
        query: Vec<String>,
    },
    /// One memory with every change to it.
    Show {
        /// The memory's id.
        id: String,
    },
    /// Delete one memory (its history stays).
    Forget {
        /// The memory's id.
        id: String,
    },
    /// Write memories as JSON Lines, one user's or --all, to --out or stdout.
    Export {
        /// Whose memories.
        #[arg(long, conflicts_with = "all")]
        user: Option<String>,
        /// Every user's.
        #[arg(long)]
        all: bool,
        /// The file to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Read memories from JSON Lines (as export writes them); every line is checked before
    /// any is stored, and ones already there are skipped.
    Import {
        /// The file to read (`-` for stdin).
        file: PathBuf,
        /// Store them all for this user instead of the one each line names.
        #[arg(long)]
        user: Option<String>,
    },
    /// Forget every memory of a user, or of everyone with --all, once confirmed.
    Clear {
        /// Whose memories.
        #[arg(long, conflicts_with = "all")]
        user: Option<String>,
        /// Everyone's.
        #[arg(long)]
        all: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

/// Arguments of `clara mcp`.
#[derive(Args, Debug)]
pub struct McpArgs {
    #[command(subcommand)]
    pub command: McpCommand,
}

/// What `clara mcp` does.
#[derive(Subcommand, Debug)]
pub enum McpCommand {
    /// Install a server from npm:PACKAGE, pypi:PACKAGE, github.com/OWNER/REPO, docker:IMAGE,
    /// a local path or an https:// URL; arguments after `--` go to the server.
    Add {
        /// Where the server comes from.
        source: String,
        /// The manifest's name (its tools are NAME__TOOL); the source suggests one.
        #[arg(long)]
        name: Option<String>,
        /// A variable for the server, written into the manifest (not for secrets).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// A variable of clara's environment passed to the server by name (for secrets).
        #[arg(long = "secret-env", value_name = "NAME")]
        secret_env: Vec<String>,
        /// A header for an https:// server, a template over `env`:
        /// `Authorization=Bearer {{ env.KEY }}` with `--secret-env KEY`.
        #[arg(long = "header", value_name = "NAME=TEMPLATE")]
        header: Vec<String>,
        /// Arguments for the server.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Delete a server's manifest and what was built for it.
    Remove {
        /// The server's name.
        name: String,
    },
    /// List the MCP servers in tools.d/.
    List,
    /// Turn a server on (`enabled = true` in its manifest).
    Enable {
        /// The server's name.
        name: String,
    },
    /// Turn a server off, keeping its manifest.
    Disable {
        /// The server's name.
        name: String,
    },
    /// Start each enabled server (or the one named) once and say whether it lists its tools.
    Status {
        /// Only this server.
        name: Option<String>,
    },
    /// Give the link that authorizes a server with `oauth = true` (open it while `clara run`
    /// runs: its status endpoint takes the answer).
    Auth {
        /// The server's name.
        name: String,
    },
    /// Restart a server in the clara running on this machine (through its status endpoint).
    Restart {
        /// The server's name.
        name: String,
    },
    /// Search the MCP registry (and Smithery's, when SMITHERY_API_KEY is set).
    Search {
        /// What to look for.
        #[arg(required = true)]
        query: Vec<String>,
        /// Most results per registry.
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
}

/// Arguments of `clara init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The folder to write (default: the root, `.` unless --root or CLARA_ROOT say otherwise).
    /// It is created when missing; a folder that already has a clara.toml is left alone.
    pub dir: Option<PathBuf>,
    /// A MyPalClara `.env` whose settings (provider, models, base URLs, memory model, Discord,
    /// time zone, database) are written into the new files; it is copied to the root's `.env`.
    #[arg(long, value_name = "FILE")]
    pub from_env: Option<PathBuf>,
}

/// Arguments of `clara chat`.
#[derive(Args, Debug)]
pub struct ChatArgs {
    /// Send this one message, print the reply and exit.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Whose session and memories to use (default: adapters.chat.user).
    #[arg(long)]
    pub user: Option<String>,
    /// Talk in a channel with this id instead of a direct conversation.
    #[arg(long)]
    pub channel: Option<String>,
    /// Talk to a running clara through its WebSocket gateway (`ws://127.0.0.1:18789`)
    /// instead of answering here.
    #[arg(long, value_name = "URL")]
    pub connect: Option<String>,
    /// With --connect: the environment variable (or `.env` entry) holding the gateway's
    /// secret. Sent only when named, so a secret never goes to an address by accident.
    #[arg(long, value_name = "VAR", requires = "connect")]
    pub secret_env: Option<String>,
}

/// Arguments of `clara validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Skip checks that need the environment (secret variables being set).
    #[arg(long)]
    pub offline: bool,
    /// Exit 1 unless this command has everything it needs (default: unless at least one
    /// of them does).
    #[arg(long = "for", value_enum)]
    pub target: Option<Target>,
}

/// A command whose readiness `clara validate --for` checks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `clara chat`: the terminal.
    Chat,
    /// `clara run`: Discord, hooks, tasks and background work.
    Run,
}

impl Target {
    /// The command line it stands for.
    pub fn command(self) -> &'static str {
        match self {
            Target::Chat => "clara chat",
            Target::Run => "clara run",
        }
    }
}

/// Arguments of `clara schema`.
#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Folder to write the schemas to (default: ROOT/schema).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 when a schema on disk is missing or out of date.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `clara test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Run only the fixtures in these files or folders (default: all of ROOT/tests).
    pub paths: Vec<PathBuf>,
    /// Run only the cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Also write the results as JUnit XML to this file, for CI.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write each prompt snapshot that is missing or differs (tests/snapshots/) instead of
    /// failing on it.
    #[arg(long)]
    pub update: bool,
    /// Run the fixtures that name a `cassette` against the real providers (their keys must
    /// be set) and write what they answered to tests/cassettes/NAME.json, for later runs to
    /// play without a network.
    #[arg(long)]
    pub record_cassettes: bool,
}

/// Arguments of `clara plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The root to compare with (a checkout of the last deploy, say) instead of the
    /// configuration `clara run` last applied from this root (kept in ROOT/.clara/applied).
    #[arg(long)]
    pub against: Option<PathBuf>,
}

/// Arguments of `clara replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Only this user's conversations.
    #[arg(long)]
    pub user: Option<String>,
    /// Only the conversation in this channel (its id); without it, direct ones too.
    #[arg(long)]
    pub channel: Option<String>,
    /// Only this session (an id from the store).
    #[arg(long)]
    pub session: Option<String>,
    /// Only sessions active at or after this time (RFC 3339, or a date: 2026-11-30).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only sessions started before this time (RFC 3339, or a date).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    /// At most this many sessions, the most recent.
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
    /// The root the conversations were had with (a checkout of the last deploy, say): its
    /// prompts are compared with the root's, and a call whose request is unchanged gets the
    /// recorded answer.
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
    /// Ask the root's real model where the request changed (or, without --against, for every
    /// call) instead of reusing the recorded answer.
    #[arg(long, conflicts_with = "record")]
    pub live: bool,
    /// The platform the messages came from, which picks the pipeline and persona.
    #[arg(long, default_value = "chat")]
    pub platform: String,
    /// Read the conversations from the store this root's clara.toml names (default: the root).
    #[arg(long, value_name = "DIR")]
    pub store_root: Option<PathBuf>,
    /// Write the one chosen session as a `clara test` fixture to this file (the recorded
    /// answers become its script, the recorded replies its expectations).
    #[arg(long, value_name = "FILE", conflicts_with = "against")]
    pub record: Option<PathBuf>,
}

/// A time from the command line, in milliseconds since the epoch: RFC 3339, or a date
/// (midnight UTC).
fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| {
            date.and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_millis()
        })
        .map_err(|_| format!("`{text}` is neither an RFC 3339 time nor a date like 2026-11-30"))
}

/// Arguments of `clara usage`.
#[derive(Args, Debug)]
pub struct UsageArgs {
    /// What to sum by.
    #[arg(long, value_enum, default_value = "day")]
    pub by: UsageGrouping,
    /// From this time (RFC 3339, or a date: 2026-11-30); default: the last 30 days.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Before this time (RFC 3339, or a date).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
}

/// What `clara usage` sums by.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageGrouping {
    /// Each UTC day.
    Day,
    /// Each user.
    User,
    /// Each conversation (a DM or a channel).
    Channel,
    /// Each provider's model.
    Model,
    /// Each pipeline.
    Pipeline,
    /// Each purpose: the turn's calls, tier classification, memory work.
    Purpose,
}
