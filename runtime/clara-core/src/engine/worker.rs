//! The job worker: runs queued work (memory extraction, session summaries) after replies are
//! sent. A failed job waits and runs again; a job whose worker died is taken up again when its
//! lease runs out. Nothing queued is lost.

use super::EngineError;
use super::extract;
use super::generation::Generation;
use super::job::{ExtractMemories, Job, SummarizeSession};
use super::meter::Meter;
use super::metered_embedder::MeteredEmbedder;
use super::session;
use super::turn::{Conversation, Incoming, Turn};
use crate::llm::{Embedder, ProviderErrorKind};
use tracing::Instrument;

/// How long a claimed job is reserved for its worker.
const LEASE_MS: i64 = 5 * 60_000;

/// Whether the config is what fails (a key not set, a provider unknown): fixing it applies at
/// once, so such a job should follow within minutes, not an hour later.
fn is_config(error: &EngineError) -> bool {
    match error {
        EngineError::Config(_) => true,
        EngineError::Provider(e) => matches!(e.kind, ProviderErrorKind::Config(_)),
        _ => false,
    }
}

/// How long a failed job waits: 30 s, 1 min, 2 min, … up to an hour for an outage; 1, 2, 4, 8,
/// then every 10 minutes when the config fails.
fn retry_wait(error: &EngineError, attempts: u32) -> i64 {
    if is_config(error) {
        (60_000i64 << attempts.min(4)).min(600_000)
    } else {
        (30_000i64 << attempts.min(7)).min(3_600_000)
    }
}

/// What a round of job processing did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobReport {
    /// Jobs that finished.
    pub done: u32,
    /// Jobs that failed and will run again later.
    pub failed: u32,
}

impl Generation {
    /// Runs due jobs until none is left (or `max` have run).
    pub async fn run_due_jobs(&self, max: u32) -> Result<JobReport, EngineError> {
        let mut report = JobReport::default();
        // A missing key fails every queued job alike: said once a round, not once a job.
        let mut config_said = false;
        while report.done + report.failed < max {
            let now = self.services.clock.now();
            let Some(job) = self.services.store.claim_job(now, LEASE_MS).await? else {
                break;
            };
            let span = super::trace::job(&job.kind, job.id);
            let outcome = match Job::read(&job.kind, &job.payload) {
                Ok(Job::ExtractMemories(work)) => self.extract(&work).instrument(span).await,
                Ok(Job::SummarizeSession(work)) => self.summarize(&work).instrument(span).await,
                // Nothing this version can do with it, now or later.
                Err(error) => {
                    tracing::error!(job = job.id, %error, "dropping a job this version cannot read");
                    Ok(())
                }
            };
            match outcome {
                Ok(()) => {
                    self.services.store.complete_job(job.id).await?;
                    report.done += 1;
                }
                // A spent budget holds the job until its window ends; a per-turn cap that one
                // job alone passes would refuse it every time, so it is dropped.
                Err(EngineError::Budget(refusal)) => match refusal.retry_at {
                    Some(at) => {
                        tracing::info!(job = job.id, kind = %job.kind, %refusal, "job waits for its budget's next window");
                        self.services
                            .store
                            .retry_job(job.id, &refusal.to_string(), at)
                            .await?;
                        report.failed += 1;
                    }
                    None => {
                        tracing::warn!(job = job.id, kind = %job.kind, %refusal, "dropping a job its budget refuses whole");
                        self.services.store.complete_job(job.id).await?;
                        report.done += 1;
                    }
                },
                Err(error) => {
                    let wait = retry_wait(&error, job.attempts);
                    if is_config(&error) && config_said {
                        tracing::debug!(job = job.id, kind = %job.kind, %error, "job failed on the config; it will run again");
                    } else {
                        config_said |= is_config(&error);
                        tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts + 1, %error, "job failed; it will run again");
                    }
                    self.services
                        .store
                        .retry_job(job.id, &error.to_string(), now + wait)
                        .await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Embeds memories that have no vector from the current embedding model (new ones stored
    /// while embeddings were off or failing, and every memory after the model changed), at
    /// most `max_batches` batches. Vectors of different models are never mixed: until a memory
    /// is re-embedded, only its text is searched.
    pub async fn reembed(&self, max_batches: u32) -> Result<u32, EngineError> {
        // Re-embedding is memory work for no one user.
        let meter = Meter {
            user_id: None,
            conversation: None,
            pipeline: None,
            purpose: "memory",
            turn: None,
            automated: true,
            budgets: &[],
            spent: None,
        };
        let Some(embedder) = MeteredEmbedder::new(&self.services, meter) else {
            return Ok(0);
        };
        let batch = self
            .config
            .clara
            .value
            .embeddings
            .as_ref()
            .map_or(64, |e| e.batch_size);
        let mut done = 0;
        for _ in 0..max_batches {
            let memories = self
                .services
                .store
                .memories_to_embed(embedder.model(), batch)
                .await?;
            if memories.is_empty() {
                break;
            }
            let texts: Vec<String> = memories.iter().map(|m| m.text.clone()).collect();
            let embedded = embedder.embed_counted(&texts).await?;
            for (memory, vector) in memories.iter().zip(&embedded.vectors) {
                self.services
                    .store
                    .set_embedding(&memory.id, embedder.model(), vector)
                    .await?;
            }
            done += memories.len() as u32;
        }
        Ok(done)
    }

    /// Ends (and queues summaries of) up to `max` sessions that have gone idle, so the first
    /// message of a user's next session already has the previous one's summary. Returns how
    /// many it ended.
    pub async fn end_idle_sessions(&self, max: u32) -> Result<u32, EngineError> {
        session::end_idle_sessions(&self.services, self.sessions(), max).await
    }

    /// Extracts memories with the settings of the `write_memory` step that queued the work.
    /// A step that is gone is an error, so the job waits for the config to be fixed instead
    /// of running on default options.
    async fn extract(&self, work: &ExtractMemories) -> Result<(), EngineError> {
        let step = self
            .pipeline(&work.pipeline)
            .and_then(|p| p.write_memory(work.step_id.as_deref(), work.step));
        let Some(step) = step else {
            let name = work
                .step_id
                .as_ref()
                .map_or_else(|| "(queued by position)".to_owned(), |id| format!("`{id}`"));
            return Err(EngineError::Config(format!(
                "the `write_memory` step {name} of pipeline `{}` that queued this memory work is gone; it runs again once the pipeline has it",
                work.pipeline
            )));
        };
        extract::run(&self.services, step, work).await
    }

    /// Runs the `session_end` pipelines over an ended session.
    async fn summarize(&self, work: &SummarizeSession) -> Result<(), EngineError> {
        let Some(session) = self.services.store.session(&work.session_id).await? else {
            return Ok(());
        };
        for (name, pipeline) in self.session_end_pipelines() {
            let conversation = Conversation {
                id: session.conversation.clone(),
                is_dm: session.conversation.starts_with("dm-"),
                channel_name: None,
                server_name: None,
            };
            let user = &session.user_id;
            let incoming = Incoming::text("session", user, user, conversation, String::new());
            let mut turn = Turn::new(incoming);
            turn.automated = true;
            turn.session = Some(session.clone());
            let run = self.start_run(name, pipeline, &|_| {});
            pipeline.run(&run, &mut turn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ProviderError;

    fn provider(kind: ProviderErrorKind) -> EngineError {
        EngineError::Provider(ProviderError {
            provider: "p".to_owned(),
            model: "m".to_owned(),
            kind,
            partial_output: false,
        })
    }

    #[test]
    fn an_outage_backs_off_to_an_hour_and_a_missing_key_to_ten_minutes() {
        let outage = || provider(ProviderErrorKind::Timeout("the whole reply"));
        assert_eq!(retry_wait(&outage(), 0), 30_000);
        assert_eq!(retry_wait(&outage(), 3), 240_000);
        assert_eq!(retry_wait(&outage(), 20), 3_600_000);
        let no_key = provider(ProviderErrorKind::Config("`KEY` is not set".to_owned()));
        assert_eq!(retry_wait(&no_key, 0), 60_000);
        assert_eq!(retry_wait(&no_key, 2), 240_000);
        assert_eq!(retry_wait(&no_key, 20), 600_000);
        let unknown = EngineError::Config("unknown provider".to_owned());
        assert_eq!(retry_wait(&unknown, 9), 600_000);
    }
}
