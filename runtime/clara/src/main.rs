//! The `clara` command line: parses arguments and hands each command its own module.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Chat(_) | Command::Run | Command::Mcp(_)
    ) {
        // Before any thread exists (see `children`): whatever clara starts dies with it.
        clara::children::start_watchdog();
        raise_open_files_limit();
    }
    logging(&cli.root);
    let outcome = match &cli.command {
        Command::Init(args) => commands::init::run(&cli.root, args),
        Command::Validate(args) => commands::validate::run(&cli.root, args),
        Command::Schema(args) => commands::schema::run(&cli.root, args),
        Command::Chat(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::chat::run(&cli.root, args)))
        }
        Command::Run => async_runtime().and_then(|rt| rt.block_on(commands::run::run(&cli.root))),
        Command::Migrate => {
            async_runtime().and_then(|rt| rt.block_on(commands::migrate::run(&cli.root)))
        }
        Command::Plan(args) => commands::plan::run(&cli.root, args),
        Command::Test(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::test::run(&cli.root, args)))
        }
        Command::Replay(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::replay::run(&cli.root, args)))
        }
        Command::Usage(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::usage::run(&cli.root, args)))
        }
        Command::Mcp(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::mcp::run(&cli.root, args)))
        }
        Command::Memory(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::memory::run(&cli.root, args)))
        }
        Command::Backup(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::backup::run(&cli.root, args)))
        }
        Command::Restore(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::backup::restore(&cli.root, args)))
        }
        Command::Import(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::import::run(&cli.root, args)))
        }
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Lifts the soft limit on open files to the hard one, where the system allows: a busy clara
/// holds database connections, sockets and children's pipes at once, and the usual soft
/// default (1024) is low for that.
// A marked unsafe site: getrlimit/setrlimit on this process.
#[allow(unsafe_code)]
fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write the struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logs go to stderr, so they never mix with replies on stdout, filtered and formatted as
/// the root's `[runtime] log_level` and `log_format` say (warnings only, readable lines, by
/// default); `RUST_LOG` wins over the filter. Beside them, clara's spans (`clara::trace`)
/// always reach the turn recorder, whatever the log level.
fn logging(root: &std::path::Path) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (level, json) = log_settings(root);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let lines = if json {
        lines.json().with_filter(filter).boxed()
    } else {
        // Colours only for a terminal; redirected logs stay plain text.
        lines
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed()
    };
    let (_, recorder) = clara::telemetry::Telemetry::install();
    tracing_subscriber::registry()
        .with(lines)
        .with(recorder.clara_spans())
        .init();
}

/// `[runtime] log_level` and whether `log_format = "json"`, read from `clara.toml` (with its
/// `CLARA_RUNTIME__…` overrides) before anything else starts, so start-up is already logged
/// as asked. A file that cannot be read yet gives the defaults; validation says why later.
fn log_settings(root: &std::path::Path) -> (String, bool) {
    use clara_config::doc::{Value, apply_env_overrides, parse_toml};
    let mut level = "warn".to_owned();
    let mut json = false;
    let Ok(text) = clara_config::read::read_text(&root.join(clara_config::set::CLARA_FILE)) else {
        return (level, json);
    };
    let Ok(mut doc) = parse_toml(&text) else {
        return (level, json);
    };
    let (env, _) = clara_config::Env::load(root);
    apply_env_overrides(&mut doc, env.iter());
    if let Some(Value::Str(value)) = doc
        .get(&clara_config::path!["runtime", "log_level"])
        .map(|n| &n.value)
    {
        level = value.clone();
    }
    if let Some(Value::Str(value)) = doc
        .get(&clara_config::path!["runtime", "log_format"])
        .map(|n| &n.value)
    {
        json = value == "json";
    }
    (level, json)
}
