//! `cargo bench -p clara --bench reload`: how long from saving a file to the new generation
//! serving turns (the watcher with the shipped 150 ms debounce included), how long a reload
//! itself takes, and what a burst of reloads costs turns running meanwhile (turns/s with and
//! without reloads every 50 ms). The model is a fake on 127.0.0.1 that answers at once.

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

mod support;

use support::fake_llm;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clara::live::{Live, Reload, watch};
use clara_core::engine::Incoming;

const SAVES: usize = 30;
const BURST: Duration = Duration::from_secs(3);

fn incoming(i: usize) -> Incoming {
    support::message(format!("message {i}: what should I cook tonight?"))
}

/// Turns answered in `BURST`, each on the generation current when it starts.
async fn turns_per_second(live: &Live, fake: &fake_llm::FakeLlm, offset: usize) -> f64 {
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed() < BURST {
        fake.push(fake_llm::openai_stream(&["Rice and beans."]));
        let outcome = live
            .current()
            .handle_message(incoming(offset + done), &|_| {})
            .await
            .unwrap();
        assert!(outcome.error().is_none(), "{:?}", outcome.error());
        done += 1;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let root = support::shipped_root();
        let fake = support::start_fake_model();
        let live =
            support::start_live(root.path(), &fake, &[("CLARA_MEMORY__ENABLED", "false")]).await;
        let debounce = Duration::from_millis(u64::from(
            live.current().config.clara.value.runtime.reload_debounce_ms,
        ));
        let persona = root.path().join("personas/clara.md");
        let original = std::fs::read_to_string(&persona).unwrap();
        let edited = |i: usize| original.replacen("You are Clara", &format!("You are Clara ({i})"), 1);

        // A reload on its own (load, check, build, swap), no watcher.
        let mut reloads = Vec::with_capacity(SAVES);
        for i in 0..SAVES {
            std::fs::write(&persona, edited(i)).unwrap();
            let t = Instant::now();
            assert!(matches!(live.reload().await, Reload::Applied(_)));
            reloads.push(t.elapsed());
        }

        // Save to serving: write the file, then wait until a new turn would see it.
        let watcher = watch::watch(live.clone(), root.path(), debounce).unwrap();
        let mut latencies = Vec::with_capacity(SAVES);
        for i in 0..SAVES {
            let marker = format!("You are Clara [{i}]");
            let saved = Instant::now();
            std::fs::write(&persona, original.replacen("You are Clara", &marker, 1)).unwrap();
            while !live.current().config.personas["clara"].prompt.contains(&marker) {
                assert!(saved.elapsed() < Duration::from_secs(5), "the save was not seen");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            latencies.push(saved.elapsed());
            // Let the watcher settle so saves do not merge into one burst.
            tokio::time::sleep(debounce * 2).await;
        }
        drop(watcher);

        // Turns with and without a burst of reloads.
        for i in 0..50 {
            fake.push(fake_llm::openai_stream(&["warm-up"]));
            live.current().handle_message(incoming(i), &|_| {}).await.unwrap();
        }
        let quiet = turns_per_second(&live, &fake, 1_000).await;
        let reloading = Arc::new(AtomicBool::new(true));
        let reloader = {
            let live = live.clone();
            let reloading = reloading.clone();
            let persona = persona.clone();
            let original = original.clone();
            tokio::spawn(async move {
                let mut count = 0usize;
                while reloading.load(Ordering::SeqCst) {
                    let text = original.replacen("You are Clara", &format!("You are Clara <{count}>"), 1);
                    std::fs::write(&persona, text).unwrap();
                    live.reload().await;
                    count += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                count
            })
        };
        let busy = turns_per_second(&live, &fake, 100_000).await;
        reloading.store(false, Ordering::SeqCst);
        let burst = reloader.await.unwrap();

        println!("reload (load, check, build, swap) over {SAVES} reloads:");
        println!(
            "  p50 {:>9.3?}   p95 {:>9.3?}   max {:>9.3?}",
            support::percentile(&mut reloads, 0.5),
            support::percentile(&mut reloads, 0.95),
            support::percentile(&mut reloads, 1.0)
        );
        println!("file save to the new generation serving, {debounce:?} debounce, {SAVES} saves:");
        println!(
            "  p50 {:>9.3?}   p95 {:>9.3?}   max {:>9.3?}",
            support::percentile(&mut latencies, 0.5),
            support::percentile(&mut latencies, 0.95),
            support::percentile(&mut latencies, 1.0)
        );
        println!("turns/s for {BURST:?}: {quiet:.0} without reloads, {busy:.0} during {burst} reloads ({:+.1}%)", (busy / quiet - 1.0) * 100.0);
        live.shutdown().await;
    });
}
