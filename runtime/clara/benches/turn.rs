//! `cargo bench -p clara --bench turn`: the runtime's overhead per message. The shipped chat
//! pipeline runs over the embedded SQLite store against a fake model on 127.0.0.1 that answers
//! at once (on a thread of its own), with clara on one thread; what is measured is everything
//! clara does around the model: storing
//! the message, sessions, memory search, templates, the HTTP exchange, storing the reply and
//! queueing memory work. With `CLARA_BENCH_GUARDS=all` (or `budget`, `rate_limit`) every turn also passes a budget (its
//! model call reserved and settled) and a rate limit on messages and tool calls, to measure
//! what the guards add. With `CLARA_BENCH_TRACING=1` every other turn is traced: its spans
//! recorded for `/turns` and exported to a collector on 127.0.0.1, to measure what tracing
//! adds.

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

mod support;

use support::fake_llm;

use std::time::{Duration, Instant};

const TURNS: usize = 2000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let root = support::shipped_root();
        let fake = support::start_fake_model();
        // With guards asked for, a second root with them answers every other turn, so both
        // see the same machine at the same moments and their difference is the guards'.
        // Tracing is measured the same way: a second root whose turns run traced.
        let tracing_on = std::env::var_os("CLARA_BENCH_TRACING").is_some();
        let guarded = std::env::var("CLARA_BENCH_GUARDS")
            .ok()
            .map(|which| {
                let root = support::shipped_root();
                guard(root.path(), &which);
                root
            })
            .or_else(|| tracing_on.then(support::shipped_root));
        let runs = if guarded.is_some() { 2 } else { 1 };
        for _ in 0..(TURNS + 100) * runs {
            fake.push(fake_llm::openai_stream(&["Sure, ", "happy to help."]));
        }
        let live = support::start_live(root.path(), &fake, &[]).await;
        let generation = live.current();
        let guarded_live = match &guarded {
            Some(root) => Some(support::start_live(root.path(), &fake, &[]).await),
            None => None,
        };
        let guarded_generation = guarded_live.as_ref().map(|live| live.current());
        let (traced, collector) = if tracing_on {
            let (dispatch, collector) = tracing_dispatch();
            (Some(dispatch), Some(collector))
        } else {
            (None, None)
        };
        let incoming = |i: usize| {
            support::message(format!(
                "message number {i}: what should I cook tonight with rice and beans?"
            ))
        };
        if let Some(generation) = &guarded_generation {
            // Traced first: a span's callsite first reached with no subscriber in place is
            // remembered as unwanted, and would stay untraced.
            for i in 0..50 {
                use tracing::instrument::WithSubscriber;
                let turn = generation.handle_message(incoming(i), &|_| {});
                match &traced {
                    Some(dispatch) => turn.with_subscriber(dispatch.clone()).await,
                    None => turn.await,
                }
                .unwrap();
            }
        }
        for i in 0..50 {
            generation
                .handle_message(incoming(i), &|_| {})
                .await
                .unwrap();
        }
        if std::env::var_os("CLARA_BENCH_PARTS").is_some() {
            let provider = generation.services.provider(None).unwrap();
            let request =
                clara_core::llm::ChatRequest::new(vec![clara_core::llm::Message::user("hi")]);
            let t = Instant::now();
            for _ in 0..50 {
                provider.chat(&request, &|_| {}).await.unwrap();
            }
            println!("  model call alone: {:?} each", t.elapsed() / 50);
            let store = &generation.services.store;
            let session = store
                .open_session("bench-user", "dm-bench-user")
                .await
                .unwrap()
                .unwrap();
            let t = Instant::now();
            for i in 0..50 {
                store
                    .add_message(&session.id, clara_core::llm::Role::User, None, "x", i)
                    .await
                    .unwrap();
            }
            println!("  add_message: {:?} each", t.elapsed() / 50);
            let t = Instant::now();
            for _ in 0..50 {
                store.recent_messages(&session.id, 21).await.unwrap();
            }
            println!("  recent_messages(21): {:?} each", t.elapsed() / 50);
            let t = Instant::now();
            for _ in 0..50 {
                store.recent_messages(&session.id, 1).await.unwrap();
            }
            println!("  recent_messages(1): {:?} each", t.elapsed() / 50);
            let t = Instant::now();
            for _ in 0..50 {
                store
                    .open_session("bench-user", "dm-bench-user")
                    .await
                    .unwrap();
            }
            println!("  open_session: {:?} each", t.elapsed() / 50);
            let t = Instant::now();
            for _ in 0..50 {
                store.key_memories("bench-user", 5).await.unwrap();
            }
            println!("  key_memories: {:?} each", t.elapsed() / 50);
            let q = clara_core::store::MemoryQuery {
                user_id: "bench-user",
                project: None,
                text: "what should I cook tonight with rice",
                embedding: None,
                limit: 5,
                candidates: 20,
                rrf_k: 60,
            };
            let t = Instant::now();
            for _ in 0..50 {
                store.search_memories(&q).await.unwrap();
            }
            println!("  search_memories: {:?} each", t.elapsed() / 50);
            let t = Instant::now();
            for _ in 0..50 {
                store
                    .enqueue_job("x", &serde_json::json!({"a": 1}), i64::MAX)
                    .await
                    .unwrap();
            }
            println!("  enqueue_job: {:?} each", t.elapsed() / 50);
            // What usage accounting adds to each model call: one row in the usage log.
            let record = clara_core::store::UsageRecord {
                at: 1,
                user_id: Some("bench-user".to_owned()),
                conversation: Some("dm-bench-user".to_owned()),
                pipeline: Some("chat".to_owned()),
                purpose: "turn".to_owned(),
                provider: "openrouter".to_owned(),
                model: "anthropic/claude-sonnet-4".to_owned(),
                tier: None,
                input_tokens: 1_000,
                output_tokens: 100,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                cost_micros: 4_500,
            };
            let t = Instant::now();
            for _ in 0..50 {
                store.record_usage(&record).await.unwrap();
            }
            println!("  record_usage: {:?} each", t.elapsed() / 50);
            // What a `rate_limit` step reads for a user at a limit of 30 messages, the first
            // time and then once a minute (in between it counts in memory).
            let t = Instant::now();
            for _ in 0..50 {
                store
                    .user_message_stamps(Some("bench-user"), None, 0, 31)
                    .await
                    .unwrap();
            }
            println!(
                "  user_message_stamps (a rate limit's read, once a minute): {:?} each",
                t.elapsed() / 50
            );
        }
        let mut times = Vec::with_capacity(TURNS);
        let mut guarded_times = Vec::with_capacity(TURNS);
        let mut traced_times = Vec::with_capacity(TURNS);
        let started = Instant::now();
        for i in 0..TURNS {
            let t = Instant::now();
            let outcome = generation
                .handle_message(incoming(i + 50), &|_| {})
                .await
                .unwrap();
            times.push(t.elapsed());
            assert!(outcome.error().is_none());
            if let Some(generation) = &guarded_generation {
                use tracing::instrument::WithSubscriber;
                let turn = generation.handle_message(incoming(i + 50), &|_| {});
                let t = Instant::now();
                let outcome = match &traced {
                    Some(dispatch) => turn.with_subscriber(dispatch.clone()).await,
                    None => turn.await,
                }
                .unwrap();
                let took = t.elapsed();
                if traced.is_some() {
                    traced_times.push(took);
                } else {
                    guarded_times.push(took);
                }
                assert!(
                    outcome.error().is_none() && outcome.reply() == Some("Sure, happy to help.")
                );
            }
        }
        let total = started.elapsed();
        println!(
            "turn overhead over {TURNS} turns (zero-latency model on loopback, one thread, SQLite):"
        );
        let p50 = report(&mut times);
        if let Some(collector) = &collector {
            if let Some(telemetry) = clara::telemetry::Telemetry::global() {
                telemetry.flush(Duration::from_secs(5)).await;
                let counts = telemetry.counts();
                println!(
                    "  spans exported {}, dropped {}",
                    counts.exported.load(std::sync::atomic::Ordering::Relaxed),
                    counts.dropped.load(std::sync::atomic::Ordering::Relaxed)
                );
            }
            println!("the same turns traced and exported, alternating with the ones above:");
            let traced_p50 = report(&mut traced_times);
            println!(
                "  tracing adds {:.0} µs at p50; the collector received {} spans",
                (traced_p50.as_secs_f64() - p50.as_secs_f64()) * 1e6,
                collector.spans().len()
            );
        }
        if guarded_times.is_empty() {
            println!("  {:.0} turns/s", TURNS as f64 / total.as_secs_f64());
        } else {
            println!("the same turns with the guards, alternating with the ones above:");
            let guarded_p50 = report(&mut guarded_times);
            println!(
                "  the guards add {:.0} µs at p50",
                (guarded_p50.as_secs_f64() - p50.as_secs_f64()) * 1e6
            );
        }
    });
}

/// A subscriber that records clara's spans as `clara run` does, with export to a fake
/// collector on its own thread, and that collector.
fn tracing_dispatch() -> (tracing::Dispatch, support::otlp_collector::FakeCollector) {
    use tracing_subscriber::layer::SubscriberExt;
    let collector = support::start_fake_collector();
    let (telemetry, recorder) = clara::telemetry::Telemetry::install();
    // `CLARA_BENCH_TRACING=record` keeps the timelines for `/turns` without exporting.
    let export = std::env::var("CLARA_BENCH_TRACING").is_ok_and(|v| v != "record");
    let config = clara_config::model::telemetry::TelemetryConfig {
        endpoint: export.then(|| collector.url.clone()),
        ..Default::default()
    };
    telemetry
        .configure(&config, &clara_config::Env::default())
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(recorder.clara_spans());
    (tracing::Dispatch::new(subscriber), collector)
}

/// Prints p50, p99 and max of `times`; returns the p50.
fn report(times: &mut [Duration]) -> Duration {
    times.sort();
    let pct = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "  p50 {:>9.3?}   p99 {:>9.3?}   max {:>9.3?}",
        pct(0.5),
        pct(0.99),
        times[times.len() - 1]
    );
    pct(0.5)
}

/// A daily budget on every turn's model calls and a `rate_limit` step after `ingest`, both
/// far from their limits, so each turn pays for checking them and nothing more (`budget` or
/// `rate_limit` for one of them alone).
fn guard(root: &std::path::Path, which: &str) {
    if which != "rate_limit" {
        budget(root);
    }
    if which != "budget" {
        rate_limit(root);
    }
}

fn budget(root: &std::path::Path) {
    let clara = root.join("clara.toml");
    let mut text = std::fs::read_to_string(&clara).unwrap();
    text.push_str("\n[budgets.bench]\nper = \"user\"\nwindow = \"day\"\ndollars = 1000000.0\n");
    std::fs::write(&clara, text).unwrap();
}

fn rate_limit(root: &std::path::Path) {
    let chat = root.join("pipelines/chat.toml");
    let text = std::fs::read_to_string(&chat).unwrap();
    let limited = text.replacen(
        "[[steps]]\ntype = \"build_context\"",
        "[[steps]]\ntype = \"rate_limit\"\nmessages = 1000000\ntool_calls = 1000000\nwindow_secs = 3600\nadmins_exempt = false\n\n[[steps]]\ntype = \"build_context\"",
        1,
    );
    assert_ne!(limited, text, "the rate limit goes in");
    std::fs::write(&chat, limited).unwrap();
}
