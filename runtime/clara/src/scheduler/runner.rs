//! Runs the tasks of the current configuration when they fall due. Each due run is claimed in
//! the store first, so a restart neither repeats nor forgets it, and instances sharing one
//! database run it once; a task still running (here or, by its lease, elsewhere) is not
//! started again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clara_config::model::hook::{Task, TaskKind};
use clara_core::engine::event_data::{EventData, TaskFailed, TaskStarted};
use clara_core::engine::{Event, EventSink};
use clara_core::store::Millis;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::schedule::Schedule;
use crate::hooks::actions::{Action, Context, Run};
use crate::live::Live;

/// The longest the scheduler sleeps, so it notices a reload that adds or changes a task.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// A lease outlives the task's timeout by this much, so a slow finish is not taken over.
const LEASE_SLACK_MS: Millis = 60_000;

/// One task as planned from the current configuration.
struct Planned {
    task: Task,
    schedule: Schedule,
    /// When this process started watching the task (the anchor of a first interval).
    started: Millis,
    next: Option<Millis>,
}

/// What the scheduler runs tasks with.
pub struct Scheduler {
    /// The running configuration.
    pub live: Arc<Live>,
    /// What actions run with.
    pub context: Arc<Context>,
    /// Where task events go.
    pub events: Arc<dyn EventSink>,
    /// This process in leases (unique per process).
    pub holder: String,
    /// Where each run is tracked, so shutdown waits for it.
    pub work: TaskTracker,
}

/// Runs tasks as they fall due until clara stops admitting work; runs under way finish.
pub async fn run(scheduler: Scheduler, admitting: CancellationToken) {
    let Scheduler {
        live,
        context,
        events,
        holder,
        work,
    } = scheduler;
    let mut planned: HashMap<String, Planned> = HashMap::new();
    let mut running: HashMap<String, Arc<AtomicBool>> = HashMap::new();
    while !admitting.is_cancelled() {
        let generation = live.current();
        let now = generation.services.clock.now();
        replan(&live, &mut planned, now).await;
        for (name, plan) in &mut planned {
            let Some(due) = plan.next.filter(|due| *due <= now) else {
                continue;
            };
            let busy = running
                .entry(name.clone())
                .or_insert_with(|| Arc::new(AtomicBool::new(false)))
                .clone();
            plan.next = plan
                .schedule
                .next_due(Some(due), plan.started, now, plan.task.missed);
            if busy.load(Ordering::SeqCst) {
                tracing::warn!(task = %name, "still running; this run is skipped");
                continue;
            }
            let timeout_ms = (plan.task.timeout * 1000.0) as Millis;
            let lease_until = now + timeout_ms + LEASE_SLACK_MS;
            match generation
                .services
                .store
                .claim_task_run(name, due, now, lease_until, &holder)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    tracing::warn!(task = %name, %error, "cannot claim the run; trying again");
                    plan.next = Some(due);
                    continue;
                }
            }
            busy.store(true, Ordering::SeqCst);
            let run = TaskRun {
                task: plan.task.clone(),
                due,
                live: live.clone(),
                context: context.clone(),
                events: events.clone(),
                holder: holder.clone(),
            };
            work.spawn(async move {
                run.run().await;
                busy.store(false, Ordering::SeqCst);
            });
        }
        let wait = planned
            .values()
            .filter_map(|p| p.next)
            .min()
            .map_or(MAX_SLEEP, |next| {
                Duration::from_millis(u64::try_from(next - now).unwrap_or(0)).min(MAX_SLEEP)
            });
        tokio::select! {
            () = admitting.cancelled() => {}
            () = tokio::time::sleep(wait.max(Duration::from_millis(1))) => {}
        }
    }
}

/// Brings the plan in line with the current configuration: new or changed tasks are planned
/// from what the store says ran last; removed or disabled ones are dropped.
async fn replan(live: &Live, planned: &mut HashMap<String, Planned>, now: Millis) {
    let generation = live.current();
    let timezone = &generation.config.clara.value.defaults.timezone;
    let tasks: HashMap<&str, &Task> = generation
        .config
        .hook_files
        .values()
        .flat_map(|file| &file.value.tasks)
        .filter(|task| task.enabled)
        .map(|task| (task.name.as_str(), task))
        .collect();
    planned.retain(|name, plan| tasks.get(name.as_str()).is_some_and(|t| **t == plan.task));
    for (name, task) in tasks {
        if planned.contains_key(name) {
            continue;
        }
        let schedule = match Schedule::new(task, timezone) {
            Ok(schedule) => schedule,
            Err(error) => {
                tracing::error!(task = name, %error, "task left out");
                continue;
            }
        };
        let last_due = match generation.services.store.task_run(name).await {
            Ok(state) => state.map(|s| s.last_due_at),
            Err(error) => {
                tracing::warn!(task = name, %error, "cannot read the task's last run; planning later");
                continue;
            }
        };
        let next = schedule.next_due(last_due, now, now, task.missed);
        let next_text = next.map_or_else(|| "never".to_owned(), rfc3339);
        tracing::info!(task = name, schedule = %schedule.describe(), next = %next_text, "task planned");
        planned.insert(
            name.to_owned(),
            Planned {
                task: task.clone(),
                schedule,
                started: now,
                next,
            },
        );
    }
}

/// One claimed run of a task.
struct TaskRun {
    task: Task,
    due: Millis,
    live: Arc<Live>,
    context: Arc<Context>,
    events: Arc<dyn EventSink>,
    holder: String,
}

impl TaskRun {
    async fn run(self) {
        let name = &self.task.name;
        let kind = match self.task.kind {
            TaskKind::OneShot => "one_shot",
            TaskKind::Interval => "interval",
            TaskKind::Cron => "cron",
        };
        self.events
            .emit(Event::global(EventData::SchedulerTaskRun(TaskStarted {
                task_name: name.to_owned(),
                task_type: kind.to_owned(),
                due_at: self.due,
            })));
        let started = Instant::now();
        let outcome = match Action::of_task(&self.task) {
            Some(action) => {
                let payload = json!({ "task": name, "task_type": kind, "due_at": self.due });
                let run = Run {
                    name,
                    env: [
                        ("CLARA_TASK_NAME".to_owned(), name.clone()),
                        ("CLARA_DUE_AT".to_owned(), rfc3339(self.due)),
                    ]
                    .into(),
                    payload: &payload,
                    working_dir: self.task.working_dir.as_deref(),
                    origin: None,
                    timeout: clara_config::model::common::seconds(self.task.timeout),
                };
                let span = tracing::info_span!(
                    target: clara_core::engine::trace::TARGET,
                    "task",
                    clara.task.name = name.as_str(),
                    clara.task.type = kind,
                    error.type = tracing::field::Empty,
                );
                let ran = self.context.run(&action, run);
                let outcome = tracing::Instrument::instrument(ran, span.clone()).await;
                if outcome.is_err() {
                    span.record("error.type", "failed");
                }
                outcome
            }
            None => Err("the task has nothing to do".to_owned()),
        };
        let ms = started.elapsed().as_millis() as u64;
        let error = match &outcome {
            Ok(output) => {
                tracing::info!(task = %name, ms, "task ran{}{output}", if output.is_empty() { "" } else { ": " });
                None
            }
            Err(why) => {
                tracing::warn!(task = %name, ms, "task failed: {why}");
                self.events
                    .emit(Event::global(EventData::SchedulerTaskError(TaskFailed {
                        task_name: name.to_owned(),
                        task_type: kind.to_owned(),
                        error: why.clone(),
                    })));
                Some(why.as_str())
            }
        };
        let store = self.live.current().services.store.clone();
        let finished = self.live.current().services.clock.now();
        if let Err(e) = store
            .finish_task_run(name, &self.holder, finished, error)
            .await
        {
            tracing::warn!(task = %name, "could not record the run's end: {e}");
        }
    }
}

fn rfc3339(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
