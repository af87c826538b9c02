//! The usage log contract: each call recorded, summed by every grouping over a time range, the
//! most costly first, calls without a user or pipeline under `-`.

use std::sync::Arc;

use clara_core::store::{Store, UsageBy, UsageFilter, UsageRecord};

contract!(
    usage_is_summed_by_each_grouping_within_the_range,
    what_a_budget_spent_is_summed_over_the_calls_it_covers
);

fn call(at: i64, user: Option<&str>, model: &str, tokens: u32, cost: i64) -> UsageRecord {
    UsageRecord {
        at,
        user_id: user.map(str::to_owned),
        conversation: user.map(|u| format!("dm-{u}")),
        pipeline: user.map(|_| "chat".to_owned()),
        purpose: if user.is_some() { "turn" } else { "memory" }.to_owned(),
        provider: "openrouter".to_owned(),
        model: model.to_owned(),
        tier: None,
        input_tokens: tokens,
        output_tokens: tokens / 10,
        cache_read_tokens: tokens / 2,
        cache_write_tokens: 1,
        cost_micros: cost,
    }
}

async fn usage_is_summed_by_each_grouping_within_the_range(store: Arc<dyn Store>) {
    const DAY: i64 = 86_400_000;
    // 2025-11-30 and 2025-12-01, UTC.
    let (nov30, dec1) = (1_764_460_800_000, 1_764_460_800_000 + DAY);
    for record in [
        call(nov30 + 1, Some("ann"), "sonnet", 1_000, 5_000),
        call(nov30 + 2, Some("ann"), "haiku", 100, 200),
        call(nov30 + 3, Some("bob"), "sonnet", 2_000, 9_000),
        call(dec1 + 1, None, "haiku", 300, 600),
        call(dec1 + 2, Some("ann"), "sonnet", 10, 50),
    ] {
        store.record_usage(&record).await.unwrap();
    }
    let keys = |totals: &[clara_core::store::UsageTotal]| -> Vec<(String, u64, i64)> {
        totals
            .iter()
            .map(|t| (t.key.clone(), t.calls, t.cost_micros))
            .collect()
    };
    let by_user = store.usage_totals(UsageBy::User, 0, None).await.unwrap();
    assert_eq!(
        keys(&by_user),
        [
            ("bob".to_owned(), 1, 9_000),
            ("ann".to_owned(), 3, 5_250),
            ("-".to_owned(), 1, 600)
        ]
    );
    let ann = &by_user[1];
    assert_eq!(
        (
            ann.input_tokens,
            ann.output_tokens,
            ann.cache_read_tokens,
            ann.cache_write_tokens
        ),
        (1_110, 111, 555, 3)
    );
    assert_eq!(
        keys(&store.usage_totals(UsageBy::Model, 0, None).await.unwrap()),
        [
            ("openrouter/sonnet".to_owned(), 3, 14_050),
            ("openrouter/haiku".to_owned(), 2, 800)
        ]
    );
    assert_eq!(
        keys(&store.usage_totals(UsageBy::Day, 0, None).await.unwrap()),
        [
            ("2025-11-30".to_owned(), 3, 14_200),
            ("2025-12-01".to_owned(), 2, 650)
        ]
    );
    assert_eq!(
        keys(
            &store
                .usage_totals(UsageBy::Purpose, dec1, None)
                .await
                .unwrap()
        ),
        [("memory".to_owned(), 1, 600), ("turn".to_owned(), 1, 50)],
        "since the second day"
    );
    assert_eq!(
        keys(
            &store
                .usage_totals(UsageBy::Channel, 0, Some(nov30 + 3))
                .await
                .unwrap()
        ),
        [("dm-ann".to_owned(), 2, 5_200)],
        "before the third call"
    );
    assert_eq!(
        keys(
            &store
                .usage_totals(UsageBy::Pipeline, dec1, None)
                .await
                .unwrap()
        ),
        [("-".to_owned(), 1, 600), ("chat".to_owned(), 1, 50)]
    );
    assert!(
        store
            .usage_totals(UsageBy::User, dec1 + DAY, None)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn what_a_budget_spent_is_summed_over_the_calls_it_covers(store: Arc<dyn Store>) {
    for record in [
        call(10, Some("ann"), "sonnet", 1_000, 5_000),
        call(20, Some("ann"), "haiku", 100, 200),
        call(30, Some("bob"), "sonnet", 2_000, 9_000),
        call(40, None, "haiku", 300, 600),
    ] {
        store.record_usage(&record).await.unwrap();
    }
    let spent = |filter: UsageFilter, since: i64| {
        let store = store.clone();
        async move {
            let sum = store.usage_spent(&filter, since).await.unwrap();
            (
                sum.calls,
                sum.input_tokens + sum.output_tokens,
                sum.cost_micros,
            )
        }
    };
    let names = |names: &[&str]| Some(names.iter().map(|n| (*n).to_owned()).collect());
    assert_eq!(spent(UsageFilter::default(), 0).await, (4, 3_740, 14_800));
    assert_eq!(spent(UsageFilter::default(), 25).await, (2, 2_530, 9_600));
    let ann = UsageFilter {
        user_id: Some("ann".to_owned()),
        ..UsageFilter::default()
    };
    assert_eq!(spent(ann, 0).await, (2, 1_210, 5_200));
    let bobs_dm = UsageFilter {
        conversation: Some("dm-bob".to_owned()),
        ..UsageFilter::default()
    };
    assert_eq!(spent(bobs_dm, 0).await, (1, 2_200, 9_000));
    let memory = UsageFilter {
        purposes: names(&["memory", "summary"]),
        ..UsageFilter::default()
    };
    assert_eq!(spent(memory, 0).await, (1, 330, 600));
    let chat = UsageFilter {
        pipelines: names(&["chat", "other"]),
        ..UsageFilter::default()
    };
    assert_eq!(
        spent(chat, 0).await,
        (3, 3_410, 14_200),
        "a call of no pipeline is not in any list"
    );
    let nobody = UsageFilter {
        user_id: Some("cy".to_owned()),
        ..UsageFilter::default()
    };
    assert_eq!(
        spent(nobody, 0).await,
        (0, 0, 0),
        "no calls sum to zero, not an error"
    );
}
