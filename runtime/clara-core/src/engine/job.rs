//! The work the engine queues to run after a reply: each kind with its payload, serialised the
//! one way the store keeps it, so a job written by one version is read by the next.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A queued job.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Job {
    /// Extract memories from an exchange.
    ExtractMemories(ExtractMemories),
    /// Run the `session_end` pipelines over a session that ended.
    SummarizeSession(SummarizeSession),
}

/// An exchange to learn from, and the `write_memory` step whose settings apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExtractMemories {
    pub pipeline: String,
    /// The step's id: a reload may move the step before the job runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The step's position, in jobs queued before steps had ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub user_id: String,
    pub user_name: String,
    /// Direct messages keep their memories out of the shared project.
    #[serde(default = "yes")]
    pub is_dm: bool,
    pub messages: Vec<Said>,
}

/// One message of the exchange, as the extraction prompt shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Said {
    pub role: String,
    pub content: String,
}

/// A session whose summary is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SummarizeSession {
    pub session_id: String,
}

fn yes() -> bool {
    true
}

/// Why a stored job cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadJob {
    #[error("unknown job kind `{0}`")]
    Kind(String),
    #[error("unreadable `{kind}` payload: {error}")]
    Payload {
        kind: &'static str,
        error: serde_json::Error,
    },
}

impl Job {
    const EXTRACT_MEMORIES: &'static str = "extract_memories";
    const SUMMARIZE_SESSION: &'static str = "summarize_session";

    /// The kind the store files it under.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Job::ExtractMemories(_) => Self::EXTRACT_MEMORIES,
            Job::SummarizeSession(_) => Self::SUMMARIZE_SESSION,
        }
    }

    /// The payload the store keeps.
    pub(crate) fn payload(&self) -> Value {
        let value = match self {
            Job::ExtractMemories(job) => serde_json::to_value(job),
            Job::SummarizeSession(job) => serde_json::to_value(job),
        };
        // Plain strings, numbers and booleans always serialise.
        value.unwrap_or_default()
    }

    /// Reads a stored job back.
    pub(crate) fn read(kind: &str, payload: &Value) -> Result<Job, BadJob> {
        fn parse<T: serde::de::DeserializeOwned>(
            kind: &'static str,
            payload: &Value,
        ) -> Result<T, BadJob> {
            T::deserialize(payload).map_err(|error| BadJob::Payload { kind, error })
        }
        match kind {
            Self::EXTRACT_MEMORIES => Ok(Job::ExtractMemories(parse(
                Self::EXTRACT_MEMORIES,
                payload,
            )?)),
            Self::SUMMARIZE_SESSION => Ok(Job::SummarizeSession(parse(
                Self::SUMMARIZE_SESSION,
                payload,
            )?)),
            other => Err(BadJob::Kind(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn jobs_round_trip_through_their_stored_form() {
        let job = Job::ExtractMemories(ExtractMemories {
            pipeline: "chat".into(),
            step_id: Some("remember".into()),
            step: None,
            user_id: "u".into(),
            user_name: "Ann".into(),
            is_dm: false,
            messages: vec![Said {
                role: "user".into(),
                content: "hi".into(),
            }],
        });
        assert_eq!(Job::read(job.kind(), &job.payload()).unwrap(), job);
        let summary = Job::SummarizeSession(SummarizeSession {
            session_id: "s1".into(),
        });
        assert_eq!(
            summary.payload(),
            json!({ "session_id": "s1" }),
            "the stored form is what earlier versions wrote"
        );
    }

    #[test]
    fn a_job_queued_by_step_position_is_still_read() {
        let old = json!({ "pipeline": "chat", "step": 4, "user_id": "u", "user_name": "Ann",
            "is_dm": true, "messages": [] });
        let Job::ExtractMemories(job) = Job::read("extract_memories", &old).unwrap() else {
            panic!("not an extraction job");
        };
        assert_eq!((job.step, job.step_id), (Some(4), None));
    }

    #[test]
    fn unknown_kinds_and_broken_payloads_are_errors_not_defaults() {
        assert!(matches!(
            Job::read("dance", &json!({})),
            Err(BadJob::Kind(_))
        ));
        assert!(matches!(
            Job::read("extract_memories", &json!({ "pipeline": 3 })),
            Err(BadJob::Payload { .. })
        ));
    }
}
