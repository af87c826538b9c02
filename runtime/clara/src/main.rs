//! The `clara` command line: parses arguments and hands each command its own module.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Validate(args) => commands::validate::run(&cli.root, args),
        Command::Schema(args) => commands::schema::run(&cli.root, args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
