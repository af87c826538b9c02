//! The connection tokens contract: sealed tokens saved, replaced and deleted per user and
//! connection, never crossing between them; an OAuth state claimed once, and forgotten once
//! expired.

use std::sync::Arc;

use clara_core::store::{Store, StoredToken};

contract!(
    tokens_are_kept_per_user_and_connection,
    oauth_states_are_claimed_once
);

async fn tokens_are_kept_per_user_and_connection(store: Arc<dyn Store>) {
    assert_eq!(store.token("ann", "google").await.unwrap(), None);
    store
        .save_token("ann", "google", b"\x00sealed-1\xff", Some(5_000), 1_000)
        .await
        .unwrap();
    assert_eq!(
        store.token("ann", "google").await.unwrap(),
        Some(StoredToken {
            sealed: b"\x00sealed-1\xff".to_vec(),
            expires_at: Some(5_000),
            updated_at: 1_000,
        }),
        "the bytes, the expiry and when it was saved come back"
    );

    store
        .save_token("ann", "google", b"sealed-2", None, 2_000)
        .await
        .unwrap();
    let replaced = StoredToken {
        sealed: b"sealed-2".to_vec(),
        expires_at: None,
        updated_at: 2_000,
    };
    assert_eq!(
        store.token("ann", "google").await.unwrap(),
        Some(replaced.clone()),
        "a second save replaces the first"
    );

    store
        .save_token("bob", "google", b"bob-google", Some(9_000), 3_000)
        .await
        .unwrap();
    store
        .save_token("ann", "github", b"ann-github", None, 4_000)
        .await
        .unwrap();
    assert_eq!(
        store.token("ann", "google").await.unwrap(),
        Some(replaced.clone()),
        "another user's or connection's save leaves ann's google token alone"
    );
    assert_eq!(
        store
            .token("bob", "google")
            .await
            .unwrap()
            .map(|t| t.sealed),
        Some(b"bob-google".to_vec())
    );
    assert_eq!(
        store
            .token("ann", "github")
            .await
            .unwrap()
            .map(|t| t.sealed),
        Some(b"ann-github".to_vec())
    );
    assert_eq!(store.token("bob", "github").await.unwrap(), None);

    assert!(store.delete_token("ann", "google").await.unwrap());
    assert!(
        !store.delete_token("ann", "google").await.unwrap(),
        "nothing left to delete"
    );
    assert_eq!(store.token("ann", "google").await.unwrap(), None);
    assert!(
        store.token("bob", "google").await.unwrap().is_some(),
        "deleting ann's leaves bob's"
    );
    assert!(
        store.token("ann", "github").await.unwrap().is_some(),
        "deleting one connection leaves the other"
    );
}

async fn oauth_states_are_claimed_once(store: Arc<dyn Store>) {
    assert!(store.claim_oauth_state("n-1", 10_000, 1_000).await.unwrap());
    assert!(
        !store.claim_oauth_state("n-1", 10_000, 1_500).await.unwrap(),
        "a replay is refused"
    );
    assert!(
        store.claim_oauth_state("n-2", 10_000, 1_500).await.unwrap(),
        "another nonce is its own"
    );
    assert!(
        !store.claim_oauth_state("n-2", 10_000, 2_000).await.unwrap(),
        "and is refused the second time too"
    );

    assert!(store.claim_oauth_state("old", 100, 50).await.unwrap());
    assert!(
        store.claim_oauth_state("old", 300, 200).await.unwrap(),
        "a nonce past its expiry was forgotten"
    );
    assert!(
        !store.claim_oauth_state("old", 300, 250).await.unwrap(),
        "claimed again, it is used again until it expires"
    );
}
