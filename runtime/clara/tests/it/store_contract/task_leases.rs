//! The task leases contract: each due run of a task is claimed once, a lease that ran out can be
//! taken over, only the holder finishes a run, and racing claims have one winner.

use std::sync::Arc;

use clara_core::store::{Store, StoreError, TaskRun};

contract!(
    task_runs_are_claimed_once_per_due_time,
    an_expired_task_lease_can_be_taken_over,
    only_the_lease_holder_finishes_a_task_run,
    task_run_reports_start_finish_and_outcome,
    racing_claims_of_one_due_run_have_one_winner,
);

async fn task_runs_are_claimed_once_per_due_time(store: Arc<dyn Store>) {
    assert_eq!(store.task_run("daily").await.unwrap(), None);
    assert!(
        store
            .claim_task_run("daily", 1_000, 1_000, 2_000, "a")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_task_run("daily", 1_000, 1_000, 2_000, "b")
            .await
            .unwrap(),
        "the same due run is claimed once"
    );
    assert!(
        !store
            .claim_task_run("daily", 1_000, 1_001, 2_001, "a")
            .await
            .unwrap(),
        "even by the node that holds it"
    );
    assert!(
        !store
            .claim_task_run("daily", 1_500, 1_500, 3_000, "b")
            .await
            .unwrap(),
        "a later run waits for the live lease"
    );
    assert!(
        !store
            .claim_task_run("daily", 2_000, 2_000, 3_000, "b")
            .await
            .unwrap(),
        "lease still held at its end"
    );
    assert!(
        store
            .claim_task_run("weekly", 1_000, 1_000, 2_000, "b")
            .await
            .unwrap(),
        "tasks lease independently"
    );

    store
        .finish_task_run("daily", "a", 1_800, None)
        .await
        .unwrap();
    for due in [500, 1_000] {
        assert!(
            !store
                .claim_task_run("daily", due, 1_900, 3_000, "b")
                .await
                .unwrap(),
            "a run due at or before the last claimed one never runs again ({due})"
        );
    }
    assert!(
        store
            .claim_task_run("daily", 2_000, 1_900, 3_000, "b")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .task_run("daily")
            .await
            .unwrap()
            .map(|r| r.last_due_at),
        Some(2_000)
    );
}

async fn an_expired_task_lease_can_be_taken_over(store: Arc<dyn Store>) {
    assert!(
        store
            .claim_task_run("t", 1_000, 1_000, 1_500, "a")
            .await
            .unwrap()
    );
    // Node `a` died mid-run and never finishes.
    assert!(
        !store
            .claim_task_run("t", 2_000, 1_500, 9_000, "b")
            .await
            .unwrap(),
        "lease still held at its end"
    );
    assert!(
        store
            .claim_task_run("t", 2_000, 1_501, 9_000, "b")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_task_run("t", 2_000, 1_502, 9_000, "a")
            .await
            .unwrap(),
        "the taken-over run is b's"
    );
    let run = store.task_run("t").await.unwrap().expect("stored");
    assert_eq!(
        (run.last_due_at, run.last_started_at),
        (2_000, 1_501),
        "{run:?}"
    );
    assert_eq!(
        (run.running_by.as_deref(), run.lease_until),
        (Some("b"), Some(9_000))
    );
    assert_eq!(run.last_finished_at, None, "the dead run never finished");
}

async fn only_the_lease_holder_finishes_a_task_run(store: Arc<dyn Store>) {
    assert!(matches!(
        store.finish_task_run("never", "a", 1, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .claim_task_run("t", 1_000, 1_000, 5_000, "a")
            .await
            .unwrap()
    );
    assert!(matches!(
        store
            .finish_task_run("t", "b", 1_200, Some("not mine"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let run = store.task_run("t").await.unwrap().expect("stored");
    assert_eq!(
        (run.running_by.as_deref(), run.lease_until),
        (Some("a"), Some(5_000)),
        "another node's finish leaves the lease"
    );
    assert_eq!((run.last_finished_at, run.last_ok), (None, None));
    assert!(
        !store
            .claim_task_run("t", 2_000, 2_000, 6_000, "b")
            .await
            .unwrap()
    );

    // `a` outlived its lease and `b` took over: `a`'s late finish must not end `b`'s run.
    assert!(
        store
            .claim_task_run("t", 6_000, 6_000, 9_000, "b")
            .await
            .unwrap()
    );
    assert!(matches!(
        store.finish_task_run("t", "a", 6_100, None).await,
        Err(StoreError::NotFound(_))
    ));
    let run = store.task_run("t").await.unwrap().expect("stored");
    assert_eq!(
        (run.running_by.as_deref(), run.last_finished_at),
        (Some("b"), None)
    );
    store.finish_task_run("t", "b", 6_500, None).await.unwrap();
    assert!(matches!(
        store.finish_task_run("t", "b", 6_600, None).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn task_run_reports_start_finish_and_outcome(store: Arc<dyn Store>) {
    assert!(
        store
            .claim_task_run("digest", 1_000, 1_010, 61_010, "a")
            .await
            .unwrap()
    );
    let running = TaskRun {
        name: "digest".to_owned(),
        last_due_at: 1_000,
        last_started_at: 1_010,
        last_finished_at: None,
        last_ok: None,
        last_error: None,
        running_by: Some("a".to_owned()),
        lease_until: Some(61_010),
    };
    assert_eq!(store.task_run("digest").await.unwrap(), Some(running));

    store
        .finish_task_run("digest", "a", 1_200, Some("provider timed out"))
        .await
        .unwrap();
    let failed = TaskRun {
        name: "digest".to_owned(),
        last_due_at: 1_000,
        last_started_at: 1_010,
        last_finished_at: Some(1_200),
        last_ok: Some(false),
        last_error: Some("provider timed out".to_owned()),
        running_by: None,
        lease_until: None,
    };
    assert_eq!(
        store.task_run("digest").await.unwrap(),
        Some(failed.clone())
    );

    // While the next run is going, the last finished one's outcome stays readable.
    assert!(
        store
            .claim_task_run("digest", 2_000, 2_005, 62_005, "b")
            .await
            .unwrap()
    );
    let next = TaskRun {
        last_due_at: 2_000,
        last_started_at: 2_005,
        running_by: Some("b".to_owned()),
        lease_until: Some(62_005),
        ..failed
    };
    assert_eq!(store.task_run("digest").await.unwrap(), Some(next.clone()));

    store
        .finish_task_run("digest", "b", 2_300, None)
        .await
        .unwrap();
    let ok = TaskRun {
        last_finished_at: Some(2_300),
        last_ok: Some(true),
        last_error: None,
        running_by: None,
        lease_until: None,
        ..next
    };
    assert_eq!(store.task_run("digest").await.unwrap(), Some(ok));
    assert_eq!(store.task_run("other").await.unwrap(), None);
}

/// Claimants racing for one due run per round.
const RACERS: usize = 8;

/// Races [`RACERS`] claims of `name`'s run due at `due`, spread over `stores`, and returns the
/// nodes that won.
async fn race_for_run(stores: &[Arc<dyn Store>], name: &str, due: i64) -> Vec<String> {
    let claims: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let name = name.to_owned();
            let node = format!("node-{i}");
            tokio::spawn(async move {
                let won = store
                    .claim_task_run(&name, due, due, due + 60_000, &node)
                    .await
                    .expect("claim");
                won.then_some(node)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for claim in claims {
        winners.extend(claim.await.expect("claim task"));
    }
    winners
}

/// Races several due runs of one task, finishing each winner's run before the next due time,
/// and checks each run had exactly one winner.
pub(super) async fn race_rounds(stores: &[Arc<dyn Store>]) {
    for round in 1..=5 {
        let due = round * 1_000;
        let winners = race_for_run(stores, "race", due).await;
        assert_eq!(winners.len(), 1, "run due at {due}: winners {winners:?}");
        assert!(
            race_for_run(stores, "race", due).await.is_empty(),
            "run due at {due} claimed again"
        );
        stores[0]
            .finish_task_run("race", &winners[0], due + 500, None)
            .await
            .unwrap();
    }
}

async fn racing_claims_of_one_due_run_have_one_winner(store: Arc<dyn Store>) {
    race_rounds(&[store]).await;
}
