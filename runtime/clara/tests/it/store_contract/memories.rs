//! The memories contract: exact audit history, embeddings kept only for unchanged text, key
//! memories per user newest first, and re-embedding for a new model.

use std::sync::Arc;

use clara_core::store::{MemoryEvent, MemoryQuery, NewMemory, Store, StoreError};

use super::{embedded, memory, query, search, texts};

contract!(
    memory_changes_leave_exact_history,
    update_without_embedding_keeps_it_only_for_same_text,
    key_memories_are_per_user_newest_first,
    memories_to_embed_and_set_embedding,
    memories_of_a_user_are_the_live_ones_oldest_first,
);

async fn memory_changes_leave_exact_history(store: Arc<dyn Store>) {
    let added = store
        .add_memory(memory("ann", Some("garden"), "Ann grows tomatoes"), 10)
        .await
        .unwrap();
    assert_eq!(added.id.len(), 32);
    assert_eq!((added.created_at, added.updated_at), (10, 10));
    assert_eq!(store.memory(&added.id).await.unwrap(), Some(added.clone()));

    store
        .update_memory(&added.id, "Ann grows tomatoes and basil", true, None, 20)
        .await
        .unwrap();
    let updated = store.memory(&added.id).await.unwrap().unwrap();
    assert_eq!(updated.text, "Ann grows tomatoes and basil");
    assert!(updated.is_key);
    assert_eq!((updated.created_at, updated.updated_at), (10, 20));
    assert_eq!(updated.project.as_deref(), Some("garden"));

    store.delete_memory(&added.id, 30).await.unwrap();
    assert_eq!(store.memory(&added.id).await.unwrap(), None);

    let history = store.memory_history(&added.id).await.unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|c| {
            (
                c.event,
                c.old_text.as_deref(),
                c.new_text.as_deref(),
                c.created_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (MemoryEvent::Add, None, Some("Ann grows tomatoes"), 10),
            (
                MemoryEvent::Update,
                Some("Ann grows tomatoes"),
                Some("Ann grows tomatoes and basil"),
                20
            ),
            (
                MemoryEvent::Delete,
                Some("Ann grows tomatoes and basil"),
                None,
                30
            ),
        ]
    );
    assert!(history.iter().all(|c| c.memory_id == added.id));

    assert!(matches!(
        store.update_memory(&added.id, "x", false, None, 40).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_memory(&added.id, 40).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.memory_history(&added.id).await.unwrap().len(),
        3,
        "failures log nothing"
    );
}

async fn update_without_embedding_keeps_it_only_for_same_text(store: Arc<dyn Store>) {
    let kept = store
        .add_memory(embedded("ann", "likes tea", "m", &[1.0, 0.0]), 1)
        .await
        .unwrap();
    let changed = store
        .add_memory(embedded("ann", "likes jazz", "m", &[0.0, 1.0]), 1)
        .await
        .unwrap();
    let replaced = store
        .add_memory(embedded("ann", "likes rain", "m", &[1.0, 1.0]), 1)
        .await
        .unwrap();
    store
        .update_memory(&kept.id, "likes tea", true, None, 2)
        .await
        .unwrap();
    store
        .update_memory(&changed.id, "likes blues", false, None, 2)
        .await
        .unwrap();
    store
        .update_memory(
            &replaced.id,
            "likes snow",
            false,
            Some(("m", &[0.5, 0.5])),
            2,
        )
        .await
        .unwrap();
    let stale: Vec<String> = store
        .memories_to_embed("m", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        stale,
        [changed.id],
        "only the rewritten, unembedded memory needs a vector"
    );
}

async fn key_memories_are_per_user_newest_first(store: Arc<dyn Store>) {
    let key = |user: &str, text: &str| NewMemory {
        is_key: true,
        ..memory(user, None, text)
    };
    store
        .add_memory(key("ann", "Ann is a nurse"), 1)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "Ann had pasta"), 2)
        .await
        .unwrap();
    store
        .add_memory(key("ann", "Ann lives in Porto"), 3)
        .await
        .unwrap();
    store
        .add_memory(key("bob", "Bob is a pilot"), 4)
        .await
        .unwrap();
    let sister = store
        .add_memory(key("ann", "Ann has a sister"), 5)
        .await
        .unwrap();

    let texts_of = |memories: Vec<clara_core::store::Memory>| -> Vec<String> {
        memories.into_iter().map(|m| m.text).collect()
    };
    assert_eq!(
        texts_of(store.key_memories("ann", 10).await.unwrap()),
        ["Ann has a sister", "Ann lives in Porto", "Ann is a nurse"]
    );
    assert_eq!(
        texts_of(store.key_memories("ann", 2).await.unwrap()),
        ["Ann has a sister", "Ann lives in Porto"]
    );
    store
        .update_memory(&sister.id, "Ann has a sister", false, None, 6)
        .await
        .unwrap();
    assert_eq!(store.key_memories("ann", 10).await.unwrap().len(), 2);
    assert_eq!(
        texts_of(store.key_memories("bob", 10).await.unwrap()),
        ["Bob is a pilot"]
    );
}

async fn memories_to_embed_and_set_embedding(store: Arc<dyn Store>) {
    let bare = store
        .add_memory(memory("ann", None, "no vector yet"), 1)
        .await
        .unwrap();
    let old = store
        .add_memory(embedded("bob", "old model", "old", &[1.0]), 2)
        .await
        .unwrap();
    store
        .add_memory(embedded("ann", "current", "new", &[1.0]), 3)
        .await
        .unwrap();

    let ids = |memories: Vec<clara_core::store::Memory>| -> Vec<String> {
        memories.into_iter().map(|m| m.id).collect()
    };
    assert_eq!(
        ids(store.memories_to_embed("new", 10).await.unwrap()),
        [bare.id.as_str(), old.id.as_str()]
    );
    assert_eq!(
        ids(store.memories_to_embed("new", 1).await.unwrap()),
        [bare.id.as_str()]
    );

    store.set_embedding(&bare.id, "new", &[0.5]).await.unwrap();
    store.set_embedding(&old.id, "new", &[0.25]).await.unwrap();
    assert!(store.memories_to_embed("new", 10).await.unwrap().is_empty());
    assert_eq!(store.memories_to_embed("old", 10).await.unwrap().len(), 3);
    assert!(matches!(
        store.set_embedding("nope", "new", &[1.0]).await,
        Err(StoreError::NotFound(_))
    ));

    let q = MemoryQuery {
        embedding: Some(("new", &[1.0])),
        ..query("bob", "")
    };
    assert_eq!(
        texts(&search(&*store, &q).await),
        ["old model"],
        "the new vector is searchable"
    );
}

async fn memories_of_a_user_are_the_live_ones_oldest_first(store: Arc<dyn Store>) {
    let pasta = store
        .add_memory(memory("ann", None, "Ann had pasta"), 1)
        .await
        .unwrap();
    store
        .add_memory(memory("bob", None, "Bob is a pilot"), 2)
        .await
        .unwrap();
    let porto = store
        .add_memory(memory("ann", Some("home"), "Ann lives in Porto"), 3)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "Ann has a sister"), 4)
        .await
        .unwrap();
    // An update keeps a memory's place; a deleted memory is gone.
    store
        .update_memory(&pasta.id, "Ann loves pasta", false, None, 5)
        .await
        .unwrap();
    store.delete_memory(&porto.id, 6).await.unwrap();
    let anns = store.memories_of("ann").await.unwrap();
    let texts: Vec<&str> = anns.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["Ann loves pasta", "Ann has a sister"]);
    assert_eq!((anns[0].created_at, anns[0].updated_at), (1, 5));
    assert!(store.memories_of("carol").await.unwrap().is_empty());
    // Each user with live memories, counted without the deleted one.
    assert_eq!(
        store.memory_users().await.unwrap(),
        [("ann".to_owned(), 2), ("bob".to_owned(), 1)]
    );
}
