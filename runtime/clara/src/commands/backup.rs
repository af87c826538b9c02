//! `clara backup [list]` and `clara restore ID`: snapshots of the stores to `[backup]`'s bucket
//! or folder, the list of them, and putting one back.

use std::path::Path;
use std::process::ExitCode;

use clara::backup::{BackupError, Backups, Made};
use clara_config::ConfigSet;
use clara_config::model::backup::BackupTarget;

use super::progress::Progress;
use crate::cli::{BackupArgs, BackupCommand, BackupTo, RestoreArgs};

fn target(to: Option<BackupTo>) -> Option<BackupTarget> {
    to.map(|to| match to {
        BackupTo::S3 => BackupTarget::S3,
        BackupTo::Dir => BackupTarget::Dir,
    })
}

fn failed(error: &BackupError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

pub async fn run(root: &Path, args: &BackupArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    if let Some(BackupCommand::List { to }) = &args.command {
        return Ok(list(&set, target(*to)).await);
    }
    let config = &set.clara.value.backup;
    let to = target(args.to).unwrap_or(config.to);
    if args.if_configured && to == BackupTarget::S3 && config.bucket.is_none() {
        println!("backups are not set up ([backup] bucket is not set): nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    let backups = match Backups::open(&set, Some(to)) {
        Ok(backups) => backups,
        Err(error) => return Ok(failed(&error)),
    };
    let progress = Progress::bytes();
    let now = chrono::Utc::now().timestamp_millis();
    let made = backups
        .make(
            args.store.as_deref(),
            args.force,
            now,
            &|stage, done, total| {
                progress.update(stage, done, total);
            },
        )
        .await;
    progress.finish();
    Ok(match made {
        Ok(Made::Done(info, pruned)) => {
            println!(
                "backed up `{}` as {} ({} bytes{}) to {}",
                info.store,
                info.id,
                info.bytes,
                if info.encrypted { ", encrypted" } else { "" },
                backups.place()
            );
            for id in pruned {
                println!("deleted {id} (retention)");
            }
            ExitCode::SUCCESS
        }
        Ok(Made::Skipped(last)) => {
            let hours = (now - last.created_at) as f64 / 3_600_000.0;
            println!(
                "skipped: the last backup of `{}` ({}) is {hours:.1} h old, younger than [backup] min_interval_hours ({}); --force backs up anyway",
                last.store, last.id, config.min_interval_hours
            );
            ExitCode::SUCCESS
        }
        Err(error) => failed(&error),
    })
}

async fn list(set: &ConfigSet, to: Option<BackupTarget>) -> ExitCode {
    let backups = match Backups::open(set, to) {
        Ok(backups) => backups,
        Err(error) => return failed(&error),
    };
    match backups.list().await {
        Ok(found) if found.is_empty() => {
            println!("no backups in {}", backups.place());
            ExitCode::SUCCESS
        }
        Ok(found) => {
            for b in found {
                let when = super::when(b.created_at);
                let sealed = if b.encrypted { "  encrypted" } else { "" };
                println!("{}  {when}  {}  {} bytes{sealed}", b.id, b.store, b.bytes);
            }
            ExitCode::SUCCESS
        }
        Err(error) => failed(&error),
    }
}

pub async fn restore(root: &Path, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let backups = match Backups::open(&set, target(args.to)) {
        Ok(backups) => backups,
        Err(error) => return Ok(failed(&error)),
    };
    let progress = Progress::bytes();
    let restored = backups
        .restore(
            &args.id,
            args.store.as_deref(),
            args.force,
            &|stage, done, total| {
                progress.update(stage, done, total);
            },
        )
        .await;
    progress.finish();
    Ok(match restored {
        Ok(info) => {
            println!(
                "restored {} into `{}`",
                info.id,
                args.store.as_deref().unwrap_or(&info.store)
            );
            ExitCode::SUCCESS
        }
        Err(error) => failed(&error),
    })
}
