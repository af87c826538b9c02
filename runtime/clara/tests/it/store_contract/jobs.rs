//! The job queue contract: jobs wait for their time, a lease keeps a job from a second worker
//! until it runs out, and jobs complete or come back with their error.

use std::sync::Arc;

use clara_core::store::{Store, StoreError};
use serde_json::json;

contract!(
    jobs_wait_for_run_after,
    leased_jobs_are_not_claimed_twice,
    jobs_complete_and_retry,
);

async fn jobs_wait_for_run_after(store: Arc<dyn Store>) {
    assert_eq!(store.claim_job(0, 1_000).await.unwrap(), None);
    let later = store
        .enqueue_job("summarise", &json!({"session": "s"}), 5_000)
        .await
        .unwrap();
    let sooner = store
        .enqueue_job("extract_memories", &json!([1, "two"]), 2_000)
        .await
        .unwrap();
    assert_ne!(later, sooner);
    assert_eq!(
        store.claim_job(1_999, 1_000).await.unwrap(),
        None,
        "nothing due yet"
    );

    let job = store.claim_job(2_000, 10_000).await.unwrap().expect("due");
    assert_eq!(job.id, sooner);
    assert_eq!(job.kind, "extract_memories");
    assert_eq!(job.payload, json!([1, "two"]));
    assert_eq!((job.attempts, job.last_error), (0, None));
    assert_eq!(
        store.claim_job(4_999, 10_000).await.unwrap(),
        None,
        "the other is not due"
    );

    let job = store.claim_job(6_000, 1_000).await.unwrap().expect("due");
    assert_eq!((job.id, job.payload), (later, json!({"session": "s"})));
}

async fn leased_jobs_are_not_claimed_twice(store: Arc<dyn Store>) {
    let id = store.enqueue_job("k", &json!(null), 0).await.unwrap();
    let first = store.claim_job(100, 1_000).await.unwrap().expect("claimed");
    assert_eq!(first.id, id);
    assert_eq!(store.claim_job(100, 1_000).await.unwrap(), None);
    assert_eq!(
        store.claim_job(1_100, 1_000).await.unwrap(),
        None,
        "lease still held at its end"
    );

    // The worker died: once the lease runs out the job is due again, one failed attempt on.
    let again = store
        .claim_job(1_101, 1_000)
        .await
        .unwrap()
        .expect("lease expired");
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 1);
    assert_eq!(store.claim_job(2_000, 1_000).await.unwrap(), None);
}

async fn jobs_complete_and_retry(store: Arc<dyn Store>) {
    let done = store.enqueue_job("a", &json!({}), 0).await.unwrap();
    let flaky = store.enqueue_job("b", &json!({}), 1).await.unwrap();

    assert_eq!(
        store.claim_job(10, 100).await.unwrap().map(|j| j.id),
        Some(done)
    );
    store.complete_job(done).await.unwrap();
    assert!(matches!(
        store.complete_job(done).await,
        Err(StoreError::NotFound(_))
    ));

    assert_eq!(
        store.claim_job(10, 100).await.unwrap().map(|j| j.id),
        Some(flaky)
    );
    store
        .retry_job(flaky, "provider timed out", 500)
        .await
        .unwrap();
    assert_eq!(
        store.claim_job(499, 100).await.unwrap(),
        None,
        "retry waits for run_after"
    );
    let retried = store.claim_job(500, 100).await.unwrap().expect("due again");
    assert_eq!(retried.id, flaky);
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.last_error.as_deref(), Some("provider timed out"));

    store.retry_job(flaky, "still broken", 600).await.unwrap();
    let twice = store.claim_job(600, 100).await.unwrap().expect("due");
    assert_eq!(
        (twice.attempts, twice.last_error.as_deref()),
        (2, Some("still broken"))
    );
    store.complete_job(flaky).await.unwrap();
    assert_eq!(
        store.claim_job(i64::MAX / 2, 100).await.unwrap(),
        None,
        "queue empty"
    );
    assert!(matches!(
        store.retry_job(flaky, "x", 0).await,
        Err(StoreError::NotFound(_))
    ));
}
