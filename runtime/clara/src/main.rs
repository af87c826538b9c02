//! The `clara` command line: parses arguments and hands each command its own module.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Chat(_) | Command::Run) {
        // Before any thread exists (see `children`): whatever clara starts dies with it.
        clara::children::start_watchdog();
        raise_open_files_limit();
    }
    logging();
    let outcome = match &cli.command {
        Command::Validate(args) => commands::validate::run(&cli.root, args),
        Command::Schema(args) => commands::schema::run(&cli.root, args),
        Command::Chat(args) => {
            async_runtime().and_then(|rt| rt.block_on(commands::chat::run(&cli.root, args)))
        }
        Command::Run => async_runtime().and_then(|rt| rt.block_on(commands::run::run(&cli.root))),
        Command::Migrate => {
            async_runtime().and_then(|rt| rt.block_on(commands::migrate::run(&cli.root)))
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

/// Logs go to stderr, so they never mix with replies on stdout. `RUST_LOG` overrides the
/// default, which keeps the terminal quiet apart from warnings.
fn logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a terminal; redirected logs stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
