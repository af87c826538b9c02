//! `clara run`: start everything the configuration enables (hooks, the scheduler, the job
//! worker, hot reload) and run until Ctrl-C or SIGTERM, then shut down cleanly.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clara::app::{App, Features};
use clara::live::Loader;
use clara_config::LoadOptions;
use clara_core::engine::SystemClock;

pub async fn run(root: &Path) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    if let Some(message) = super::missing_provider_key(&set, "clara run") {
        eprintln!("{message}");
        return Ok(ExitCode::FAILURE);
    }
    let hooks: usize = set.hook_files.values().map(|f| f.value.hooks.len()).sum();
    let tasks: usize = set.hook_files.values().map(|f| f.value.tasks.len()).sum();
    drop(set);
    let dir = root.to_owned();
    let loader: Loader = Box::new(move || clara_config::load(&dir, LoadOptions { offline: true }));
    let features = Features {
        scheduler: true,
        jobs: true,
    };
    let app = App::start(loader, Arc::new(SystemClock), features).await?;
    eprintln!(
        "clara is running from {} ({hooks} hooks, {tasks} tasks); edits apply live; Ctrl-C stops",
        root.display()
    );
    let reason = stopped().await;
    eprintln!("clara is stopping ({reason})");
    app.shutdown(reason).await;
    Ok(ExitCode::SUCCESS)
}

/// Waits for Ctrl-C or SIGTERM and says which.
async fn stopped() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupt",
                _ = term.recv() => "terminate",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupt"
}
