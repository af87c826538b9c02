//! `clara run`: start everything the configuration enables (the Discord adapter, hooks, the
//! scheduler, the job worker, hot reload, the status endpoint) and run until Ctrl-C or
//! SIGTERM, then drain turns and shut down cleanly.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clara::app::{App, Features};
use clara::live::Loader;
use clara_core::engine::SystemClock;

pub async fn run(root: &Path) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    if let Err(message) = super::check_secrets(&set, "clara run") {
        eprintln!("{message}");
        return Ok(ExitCode::FAILURE);
    }
    // What will actually fire: disabled hooks and tasks are not counted.
    let files = || set.hook_files.values().map(|f| &f.value);
    let hooks = files().flat_map(|f| &f.hooks).filter(|h| h.enabled).count();
    let tasks = files().flat_map(|f| &f.tasks).filter(|t| t.enabled).count();
    drop(set);
    let dir = root.to_owned();
    let loader: Loader = Box::new(move || clara_config::load(&dir));
    let features = Features {
        scheduler: true,
        jobs: true,
        adapters: true,
        connections: true,
    };
    let stops = Stops::listen();
    let app = match App::start(loader, Arc::new(SystemClock), features).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("clara cannot start: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let discord = if app
        .live
        .current()
        .config
        .clara
        .value
        .adapters
        .discord
        .enabled
    {
        "Discord"
    } else {
        "no adapters"
    };
    let status = app
        .status
        .as_ref()
        .map(|s| format!("; status on http://{}/health", s.addr()))
        .unwrap_or_default();
    eprintln!(
        "clara is running from {} ({discord}, {}, {}{status}); edits apply live; Ctrl-C stops",
        root.display(),
        super::count(hooks, "hook"),
        super::count(tasks, "task")
    );
    let reason = stops.wait().await;
    eprintln!("clara is stopping ({reason})");
    app.shutdown(reason).await;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C and SIGTERM, listened for from the start: a signal that arrives while clara is still
/// starting stops it cleanly instead of killing it.
struct Stops {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Stops {
    fn listen() -> Stops {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
                .ok();
            Stops { signals }
        }
        #[cfg(not(unix))]
        Stops {}
    }

    /// Waits for Ctrl-C or SIGTERM and says which.
    async fn wait(self) -> &'static str {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.signals {
            return tokio::select! {
                _ = interrupt.recv() => "interrupt",
                _ = terminate.recv() => "terminate",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}
