//! The memory search contract: words despite punctuation, never another user's or project's
//! memories, vectors of the query's model only, fused scores in 0..=1 best first, and a rare
//! word found however common the query's other words are.

use std::sync::Arc;

use clara_core::store::{MemoryQuery, NewMemory, Store};

use super::{embedded, memory, query, search, texts};

contract!(
    search_matches_words_despite_punctuation,
    search_never_crosses_users,
    search_respects_project,
    search_follows_updates_and_deletes,
    vector_search_follows_every_write,
    hybrid_search_ranks_closest_meaning_first,
    search_ignores_vectors_of_another_model,
    scores_are_normalised,
    a_rare_word_is_found_among_very_common_ones,
    searches_together_answer_as_each_alone,
    many_searches_at_once_all_finish,
);

async fn search_matches_words_despite_punctuation(store: Arc<dyn Store>) {
    store
        .add_memory(memory("ann", None, "Ann's dog is called Rex"), 1)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "Ann works night shifts"), 2)
        .await
        .unwrap();
    for typed in [
        "what's my dog's name???",
        "\"dog\" AND (rex) OR NOT -*",
        "REX!",
        "dogs", // the porter stemmer finds dog
    ] {
        let found = search(&*store, &query("ann", typed)).await;
        assert_eq!(
            texts(&found).first(),
            Some(&"Ann's dog is called Rex"),
            "query {typed:?}"
        );
    }
    let any_word = search(&*store, &query("ann", "shifts rex")).await;
    assert_eq!(any_word.len(), 2, "any word may match");
    assert!(search(&*store, &query("ann", "?!*\"'")).await.is_empty());
    assert!(search(&*store, &query("ann", "")).await.is_empty());
    assert!(search(&*store, &query("ann", "unicorns")).await.is_empty());
    let limited = MemoryQuery {
        limit: 1,
        ..query("ann", "shifts rex")
    };
    assert_eq!(search(&*store, &limited).await.len(), 1);
}

async fn search_never_crosses_users(store: Arc<dyn Store>) {
    store
        .add_memory(memory("ann", None, "secret recipe uses saffron"), 1)
        .await
        .unwrap();
    let bob = store
        .add_memory(embedded("bob", "saffron allergy", "m", &[1.0, 0.0]), 2)
        .await
        .unwrap();
    let found = search(&*store, &query("bob", "secret saffron recipe")).await;
    assert_eq!(texts(&found), ["saffron allergy"]);
    let hybrid = MemoryQuery {
        embedding: Some(("m", &[1.0, 0.0])),
        ..query("ann", "allergy")
    };
    assert!(
        search(&*store, &hybrid)
            .await
            .iter()
            .all(|m| m.memory.id != bob.id)
    );
    assert!(search(&*store, &query("carol", "saffron")).await.is_empty());
}

async fn search_respects_project(store: Arc<dyn Store>) {
    store
        .add_memory(memory("ann", Some("house"), "paint the fence green"), 1)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", Some("garden"), "fence needs new posts"), 2)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "fence company phone number"), 3)
        .await
        .unwrap();
    let in_garden = MemoryQuery {
        project: Some("garden"),
        ..query("ann", "fence")
    };
    assert_eq!(
        texts(&search(&*store, &in_garden).await),
        ["fence needs new posts"]
    );
    assert_eq!(search(&*store, &query("ann", "fence")).await.len(), 3);
}

async fn search_follows_updates_and_deletes(store: Arc<dyn Store>) {
    let m = store
        .add_memory(memory("ann", None, "drives a red bicycle"), 1)
        .await
        .unwrap();
    store
        .update_memory(&m.id, "drives a blue scooter", false, None, 2)
        .await
        .unwrap();
    assert!(search(&*store, &query("ann", "bicycle")).await.is_empty());
    assert_eq!(search(&*store, &query("ann", "scooter")).await.len(), 1);
    store.delete_memory(&m.id, 3).await.unwrap();
    assert!(search(&*store, &query("ann", "scooter")).await.is_empty());
}

/// The ids a vector-only search (no words) finds for `vector`, best first.
pub(super) async fn nearest(store: &dyn Store, user: &str, vector: &[f32]) -> Vec<String> {
    let q = MemoryQuery {
        embedding: Some(("m", vector)),
        ..query(user, "")
    };
    search(store, &q)
        .await
        .into_iter()
        .map(|found| found.memory.id)
        .collect()
}

async fn vector_search_follows_every_write(store: Arc<dyn Store>) {
    let (north, east, west) = ([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]);
    let a = store
        .add_memory(embedded("ann", "a", "m", &north), 1)
        .await
        .unwrap();
    assert_eq!(nearest(&*store, "ann", &north).await, [a.id.as_str()]);
    let b = store
        .add_memory(embedded("ann", "b", "m", &east), 2)
        .await
        .unwrap();
    assert_eq!(
        nearest(&*store, "ann", &east).await,
        [b.id.as_str(), a.id.as_str()]
    );
    store
        .update_memory(&a.id, "a moved", false, Some(("m", &east)), 3)
        .await
        .unwrap();
    store.set_embedding(&b.id, "m", &west).await.unwrap();
    assert_eq!(nearest(&*store, "ann", &west).await[0], b.id);
    assert_eq!(nearest(&*store, "ann", &east).await[0], a.id);
    // A new text without a new vector drops the old vector: `a` waits to be re-embedded.
    store
        .update_memory(&a.id, "a again", false, None, 4)
        .await
        .unwrap();
    assert_eq!(nearest(&*store, "ann", &east).await, [b.id.as_str()]);
    store.set_embedding(&b.id, "other", &west).await.unwrap();
    assert!(nearest(&*store, "ann", &west).await.is_empty());
    store.set_embedding(&b.id, "m", &west).await.unwrap();
    store.delete_memory(&b.id, 5).await.unwrap();
    assert!(nearest(&*store, "ann", &west).await.is_empty());
    assert!(nearest(&*store, "bob", &west).await.is_empty());
}

async fn hybrid_search_ranks_closest_meaning_first(store: Arc<dyn Store>) {
    let pet = [1.0, 0.1, 0.0, 0.0];
    store
        .add_memory(embedded("ann", "Ann has a dog named Rex", "m", &pet), 1)
        .await
        .unwrap();
    store
        .add_memory(
            embedded("ann", "Ann is a nurse", "m", &[0.0, 1.0, 0.0, 0.0]),
            2,
        )
        .await
        .unwrap();
    store
        .add_memory(
            embedded("ann", "Ann lives in Porto", "m", &[0.0, 0.0, 1.0, 0.2]),
            3,
        )
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "Ann's favourite animal show"), 4)
        .await
        .unwrap();

    // No word matches anything; only the vectors know a puppy is a pet.
    let semantic = MemoryQuery {
        embedding: Some(("m", &[0.9, 0.2, 0.1, 0.0])),
        ..query("ann", "which puppy?")
    };
    let found = search(&*store, &semantic).await;
    assert_eq!(
        texts(&found),
        [
            "Ann has a dog named Rex",
            "Ann is a nurse",
            "Ann lives in Porto"
        ]
    );

    // Both sides agreeing (second by meaning, first by words) beats one side alone.
    let both = MemoryQuery {
        embedding: Some(("m", &[0.1, 1.0, 0.0, 0.0])),
        ..query("ann", "rex")
    };
    let found = search(&*store, &both).await;
    assert_eq!(
        texts(&found)[..2],
        ["Ann has a dog named Rex", "Ann is a nurse"]
    );

    let vectors_only = MemoryQuery {
        embedding: Some(("m", &[0.0, 0.1, 1.0, 0.1])),
        ..query("ann", "")
    };
    let found = search(&*store, &vectors_only).await;
    assert_eq!(found[0].memory.text, "Ann lives in Porto");
    assert_eq!(found[0].score, 1.0);
    assert_eq!(found.len(), 3, "only embedded memories on the vector side");
}

async fn search_ignores_vectors_of_another_model(store: Arc<dyn Store>) {
    let old = store
        .add_memory(embedded("ann", "likes hiking", "old", &[1.0, 0.0]), 1)
        .await
        .unwrap();
    store
        .add_memory(embedded("ann", "likes sailing", "new", &[0.0, 1.0]), 2)
        .await
        .unwrap();
    let q = MemoryQuery {
        embedding: Some(("new", &[1.0, 0.0])),
        ..query("ann", "")
    };
    let found = search(&*store, &q).await;
    assert_eq!(texts(&found), ["likes sailing"]);
    assert!(found.iter().all(|m| m.memory.id != old.id));
    let unknown_model = MemoryQuery {
        embedding: Some(("other", &[1.0, 0.0])),
        ..query("ann", "")
    };
    assert!(search(&*store, &unknown_model).await.is_empty());
}

async fn scores_are_normalised(store: Arc<dyn Store>) {
    for (i, (text, vector)) in [
        ("cats purr loudly", [1.0, 0.0, 0.0]),
        ("cats and dogs", [0.6, 0.8, 0.0]),
        ("dogs bark", [0.0, 1.0, 0.0]),
        ("fish swim", [0.0, 0.0, 1.0]),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .add_memory(embedded("ann", text, "m", &vector), i as i64)
            .await
            .unwrap();
    }
    let hybrid = MemoryQuery {
        embedding: Some(("m", &[1.0, 0.05, 0.0])),
        ..query("ann", "purr")
    };
    let found = search(&*store, &hybrid).await;
    assert_eq!(found[0].memory.text, "cats purr loudly");
    assert_eq!(found[0].score, 1.0, "rank 1 on every side scores 1");
    assert!(found.iter().all(|m| (0.0..=1.0).contains(&m.score)));
    assert!(
        found.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
    assert!(found[1].score < 1.0);

    let text_only = search(&*store, &query("ann", "dogs")).await;
    assert_eq!(text_only[0].score, 1.0);
    assert!(text_only.iter().all(|m| (0.0..=1.0).contains(&m.score)));

    // Equal scores: the more recent memory first.
    store
        .add_memory(memory("ann", None, "owl hoots"), 100)
        .await
        .unwrap();
    store
        .add_memory(memory("ann", None, "owl hoots"), 200)
        .await
        .unwrap();
    let tied = search(&*store, &query("ann", "owl")).await;
    assert_eq!(tied.len(), 2);
    assert_eq!(tied[0].memory.created_at, 200);
}

/// Full text ranks a bounded number of memories (`TEXT_RANK_BUDGET`): a word in more memories
/// than that gives way to the query's rarer words, and alone it ranks the newest matches (a
/// project's search the project's among those, alone or with others).
async fn a_rare_word_is_found_among_very_common_ones(store: Arc<dyn Store>) {
    let common = clara_core::store::fusion::TEXT_RANK_BUDGET as i64 + 100;
    store
        .add_memory(
            memory("ann", None, "my dog Biscuit hates baths, as usual"),
            1,
        )
        .await
        .unwrap();
    // The oldest ten are a project's.
    for at in 2..=common {
        let text = format!("note {at}: coffee at nine, as usual");
        let project = (at <= 11).then_some("work");
        store
            .add_memory(memory("ann", project, &text), at)
            .await
            .unwrap();
    }
    let newest = MemoryQuery {
        limit: 3,
        ..query("ann", "the usual")
    };
    let expected = [
        format!("note {common}: coffee at nine, as usual"),
        format!("note {}: coffee at nine, as usual", common - 1),
        format!("note {}: coffee at nine, as usual", common - 2),
    ];
    assert_eq!(texts(&search(&*store, &newest).await), expected);
    // A project's search takes its own among what the user's ranks, alone or beside it:
    // the project's matches are all older than the newest budget's worth.
    let at_work = MemoryQuery {
        project: Some("work"),
        ..newest.clone()
    };
    let work = search(&*store, &at_work).await;
    assert!(work.len() <= 3);
    assert!(
        work.iter()
            .all(|m| m.memory.project.as_deref() == Some("work"))
    );
    let together = store
        .search_memories_together(&[newest.clone(), at_work])
        .await
        .unwrap();
    assert_eq!(together, [search(&*store, &newest).await, work]);
    // Newer than all of ann's and with her words: her newest matches stay hers.
    store
        .add_memory(
            memory("bob", None, "Biscuit is my cat, as usual"),
            common + 1,
        )
        .await
        .unwrap();
    assert_eq!(texts(&search(&*store, &newest).await), expected);
    let found = search(&*store, &query("ann", "is Biscuit usual at baths?")).await;
    assert_eq!(
        texts(&found).first(),
        Some(&"my dog Biscuit hates baths, as usual")
    );
}

/// A turn searches the user's memories and a project's at once: answered together, each
/// search finds what it finds alone, with the same scores; a search of another user or text
/// among them is answered on its own terms.
async fn searches_together_answer_as_each_alone(store: Arc<dyn Store>) {
    let model = "embed-3";
    let topics = ["fence", "garden", "paint", "posts", "green", "phone"];
    for i in 0..60usize {
        let project = [None, Some("house"), Some("garden")][i % 3];
        let text = format!(
            "{} and {} note {i}",
            topics[i % topics.len()],
            topics[(i / 2) % topics.len()]
        );
        let mut vector = vec![0.1; 8];
        vector[i % 8] = 1.0;
        vector[(i / 8) % 8] += 0.5;
        let memory = NewMemory {
            project: project.map(str::to_owned),
            ..embedded("ann", &text, model, &vector)
        };
        store.add_memory(memory, i as i64 + 1).await.unwrap();
    }
    store
        .add_memory(memory("bob", Some("house"), "fence of bob"), 100)
        .await
        .unwrap();
    let vector = [0.1, 1.0, 0.1, 0.6, 0.1, 0.1, 0.1, 0.1];
    let base = MemoryQuery {
        embedding: Some((model, vector.as_slice())),
        candidates: 20,
        ..query("ann", "fence posts")
    };
    let queries = [
        MemoryQuery {
            limit: 7,
            ..base.clone()
        },
        MemoryQuery {
            project: Some("house"),
            limit: 4,
            ..base.clone()
        },
        MemoryQuery {
            project: Some("garden"),
            limit: 30,
            ..base.clone()
        },
        MemoryQuery {
            project: Some("nowhere"),
            ..base.clone()
        },
        MemoryQuery {
            embedding: None,
            ..base.clone()
        },
        MemoryQuery {
            user_id: "bob",
            project: Some("house"),
            ..base.clone()
        },
    ];
    let shared = &queries[..4];
    let mut groups: Vec<&[MemoryQuery<'_>]> = vec![shared, &queries];
    groups.push(&queries[4..]);
    for group in groups {
        let together = store.search_memories_together(group).await.unwrap();
        assert_eq!(together.len(), group.len());
        for (query, found) in group.iter().zip(together) {
            let alone = search(&*store, query).await;
            assert_eq!(found, alone, "{query:?}");
        }
    }
    let garden = &store.search_memories_together(shared).await.unwrap()[2];
    assert!(!garden.is_empty() && garden.len() <= 30);
    assert!(
        garden
            .iter()
            .all(|m| m.memory.project.as_deref() == Some("garden"))
    );
    assert!(
        store
            .search_memories_together(&[])
            .await
            .unwrap()
            .is_empty()
    );
}

/// More searches at once than a store has connections: each side of a search takes a
/// connection of its own, and none may hold one while waiting for another, or a full pool
/// would stall every search until its acquire timeout.
async fn many_searches_at_once_all_finish(store: Arc<dyn Store>) {
    let model = "embed-3";
    for i in 0..20usize {
        let mut vector = vec![0.1; 8];
        vector[i % 8] = 1.0;
        let text = format!("fence note {i}");
        store
            .add_memory(embedded("ann", &text, model, &vector), i as i64 + 1)
            .await
            .unwrap();
    }
    let vector = [1.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
    let base = MemoryQuery {
        embedding: Some((model, vector.as_slice())),
        ..query("ann", "fence note")
    };
    let pairs: Vec<[MemoryQuery<'_>; 2]> = (0..48)
        .map(|_| {
            [
                base.clone(),
                MemoryQuery {
                    project: Some("house"),
                    ..base.clone()
                },
            ]
        })
        .collect();
    // A stalled pool fails its acquires after sqlx's timeout: the unwrap says so.
    let searches = pairs
        .iter()
        .map(|pair| store.search_memories_together(pair));
    for result in futures_util::future::join_all(searches).await {
        let result = result.unwrap();
        assert_eq!(result[0].len(), 10);
        assert!(result[1].is_empty());
    }
}
