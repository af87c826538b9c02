//! `cargo bench -p clara --bench memory_search`: memory search latency and recall@10 at 1k,
//! 10k and 100k memories of 1536 dimensions, on the embedded SQLite store and, when
//! `CLARA_TEST_POSTGRES_URL` is set (see `.ci/postgres.sh`), on Postgres + pgvector.
//!
//! The memories are synthetic but shaped like real embeddings: topics (clusters) around a
//! shared direction, so unrelated memories are mildly similar and related ones clearly so.
//! Each query is a new point on a random topic. Recall@10 compares the ids a search returns
//! with the exact top 10 by cosine similarity computed here in f32. Searches go through the
//! `Store` trait exactly as the engine calls it (the runtime's default of 100 candidates a
//! side); "vector" searches carry no words, "hybrid" ones add six words of text (two
//! function words and four content words drawn by Zipf's law, like the memories' words).
//!
//! `CLARA_BENCH_SIZES=1000,10000` and `CLARA_BENCH_QUERIES=50` shorten a run.

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clara_config::Env;
use clara_config::model::store::StoreConfig;
use clara_core::store::similarity::{dot, norm};
use clara_core::store::{MemoryQuery, NewMemory, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Connection, PgConnection, QueryBuilder};

const DIMS: usize = 1536;
const MODEL: &str = "bench-embedding";
const USER: &str = "bench-user";
/// Memories per topic.
const TOPIC_SIZE: usize = 100;
/// How far a memory (or query) sits from its topic's centre, relative to the centre.
const SPREAD: f32 = 0.75;
/// The weight of the direction every embedding shares.
const SHARED: f32 = 0.4;
/// The runtime's defaults (`memory.search_candidates`, `memory.rrf_k`).
const CANDIDATES: u32 = 100;
const RRF_K: u32 = 60;
/// Distinct content words; texts draw them by Zipf's law, as natural language does. Ranks
/// start after the hundred commonest, the function words search leaves out, so the
/// commonest content word is in about 1% of memories, as in English text.
const VOCABULARY: usize = 50_000;
const FIRST_RANK: usize = 100;
const STOP_WORDS: &[&str] = &[
    "i", "my", "the", "a", "to", "and", "is", "what", "with", "of",
];

struct Dataset {
    memories: Vec<Vec<f32>>,
    texts: Vec<String>,
    queries: Vec<Vec<f32>>,
    query_texts: Vec<String>,
}

fn gaussian(rng: &mut StdRng) -> f32 {
    // Box–Muller; the 1e-12 keeps ln away from zero.
    let u: f32 = rng.random::<f32>().max(1e-12);
    let v: f32 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// A random direction with components of variance `1 / DIMS` (expected length 1).
fn noise(rng: &mut StdRng) -> Vec<f32> {
    let scale = 1.0 / (DIMS as f32).sqrt();
    (0..DIMS).map(|_| gaussian(rng) * scale).collect()
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let length = norm(&v);
    for x in &mut v {
        *x /= length;
    }
    v
}

fn around(centre: &[f32], rng: &mut StdRng) -> Vec<f32> {
    let offset = noise(rng);
    normalised(
        centre
            .iter()
            .zip(offset)
            .map(|(c, o)| c + SPREAD * o)
            .collect(),
    )
}

/// Cumulative Zipf weights of the vocabulary's ranks.
fn zipf_table() -> Vec<f64> {
    let mut total = 0.0;
    (0..VOCABULARY)
        .map(|rank| {
            total += 1.0 / ((FIRST_RANK + rank) as f64 + 1.0);
            total
        })
        .collect()
}

/// `stop` function words and `content` Zipf-drawn words, shuffled together.
fn sentence(rng: &mut StdRng, zipf: &[f64], stop: usize, content: usize) -> String {
    let total = zipf[zipf.len() - 1];
    let mut words: Vec<String> = (0..stop)
        .map(|_| STOP_WORDS[rng.random_range(0..STOP_WORDS.len())].to_owned())
        .collect();
    for _ in 0..content {
        let draw = rng.random::<f64>() * total;
        words.push(format!("w{}", zipf.partition_point(|&c| c < draw)));
    }
    for i in (1..words.len()).rev() {
        words.swap(i, rng.random_range(0..=i));
    }
    words.join(" ")
}

fn dataset(size: usize, query_count: usize) -> Dataset {
    let mut rng = StdRng::seed_from_u64(size as u64);
    let shared = noise(&mut rng);
    let topics: Vec<Vec<f32>> = (0..size.div_ceil(TOPIC_SIZE))
        .map(|_| {
            let own = noise(&mut rng);
            normalised(
                shared
                    .iter()
                    .zip(own)
                    .map(|(s, o)| SHARED * s + o)
                    .collect(),
            )
        })
        .collect();
    let memories = (0..size)
        .map(|i| around(&topics[i / TOPIC_SIZE], &mut rng))
        .collect();
    let zipf = zipf_table();
    let texts = (0..size).map(|_| sentence(&mut rng, &zipf, 3, 7)).collect();
    let queries = (0..query_count)
        .map(|_| around(&topics[rng.random_range(0..topics.len())], &mut rng))
        .collect();
    let query_texts = (0..query_count)
        .map(|_| sentence(&mut rng, &zipf, 2, 4))
        .collect();
    Dataset {
        memories,
        texts,
        queries,
        query_texts,
    }
}

/// The exact 10 nearest memories (by index) of each query.
fn exact_top10(data: &Dataset) -> Vec<Vec<usize>> {
    data.queries
        .iter()
        .map(|q| {
            let mut scored: Vec<(f32, usize)> = data
                .memories
                .iter()
                .enumerate()
                .map(|(i, m)| (dot(q, m), i))
                .collect();
            scored.select_nth_unstable_by(9, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(10);
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

struct Measured {
    first: Duration,
    vector: Vec<Duration>,
    hybrid: Vec<Duration>,
    recall: f64,
}

fn query<'a>(vector: &'a [f32], text: &'a str) -> MemoryQuery<'a> {
    MemoryQuery {
        user_id: USER,
        project: None,
        text,
        embedding: Some((MODEL, vector)),
        limit: 10,
        candidates: CANDIDATES,
        rrf_k: RRF_K,
    }
}

async fn measure(
    store: &dyn Store,
    data: &Dataset,
    ids: &HashMap<String, usize>,
    truth: &[Vec<usize>],
) -> Measured {
    let started = Instant::now();
    store
        .search_memories(&query(&data.queries[0], ""))
        .await
        .expect("first search");
    let first = started.elapsed();
    let (mut vector, mut hybrid, mut hits) = (Vec::new(), Vec::new(), 0usize);
    for (i, q) in data.queries.iter().enumerate() {
        let started = Instant::now();
        let found = store.search_memories(&query(q, "")).await.expect("search");
        vector.push(started.elapsed());
        hits += found
            .iter()
            .filter(|m| {
                ids.get(&m.memory.id)
                    .is_some_and(|at| truth[i].contains(at))
            })
            .count();
        let started = Instant::now();
        store
            .search_memories(&query(q, &data.query_texts[i]))
            .await
            .expect("hybrid search");
        hybrid.push(started.elapsed());
    }
    vector.sort();
    hybrid.sort();
    Measured {
        first,
        vector,
        hybrid,
        recall: hits as f64 / (10 * data.queries.len()) as f64,
    }
}

fn percentile(times: &[Duration], q: f64) -> Duration {
    times[((times.len() - 1) as f64 * q) as usize]
}

fn report(backend: &str, size: usize, fill: Duration, m: &Measured) {
    println!(
        "| {backend:<8} | {size:>7} | {:>9.2?} | {:>9.2?} | {:>9.2?} | {:>9.2?} | {:>6.3} | {:>9.2?} | {:>8.1?} |",
        percentile(&m.vector, 0.5),
        percentile(&m.vector, 0.99),
        percentile(&m.hybrid, 0.5),
        percentile(&m.hybrid, 0.99),
        m.recall,
        m.first,
        fill,
    );
}

async fn sqlite_run(
    data: &Dataset,
    dir: &Path,
) -> (Duration, Arc<dyn Store>, HashMap<String, usize>) {
    let config = StoreConfig::Sqlite {
        path: "clara.db".to_owned(),
        cache_mib: clara_config::model::store::DEFAULT_SQLITE_CACHE_MIB,
    };
    let store = clara::store::open(
        &config,
        dir,
        &Env::default(),
        clara::store::Access::ReadWrite,
    )
    .await
    .expect("open sqlite");
    let started = Instant::now();
    let mut ids = HashMap::with_capacity(data.memories.len());
    for (i, (vector, text)) in data.memories.iter().zip(&data.texts).enumerate() {
        let memory = store
            .add_memory(
                NewMemory {
                    user_id: USER.to_owned(),
                    project: None,
                    text: text.clone(),
                    is_key: false,
                    embedding: Some((MODEL.to_owned(), vector.clone())),
                },
                i as i64,
            )
            .await
            .expect("add memory");
        ids.insert(memory.id, i);
    }
    (started.elapsed(), store, ids)
}

/// Fills a fresh Postgres database in bulk, then stores one more memory through the store so
/// that the store itself creates its HNSW index over everything (a bulk build, as after an
/// import, rather than 100k incremental inserts).
async fn postgres_run(
    data: &Dataset,
    admin_url: &str,
) -> (Duration, Arc<dyn Store>, HashMap<String, usize>, String) {
    let name = format!("clara_bench_{}", data.memories.len());
    let url = support::postgres::fresh_database(admin_url, &name).await;
    let env = Env::from_vars([("CLARA_BENCH_PG_URL".to_owned(), url.clone())]);
    let config = StoreConfig::Postgres {
        url_env: "CLARA_BENCH_PG_URL".to_owned(),
        max_connections: 4,
        hnsw_ef_search: 100,
    };
    let store = clara::store::open(
        &config,
        Path::new("."),
        &env,
        clara::store::Access::ReadWrite,
    )
    .await
    .expect("open postgres");
    let started = Instant::now();
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let last = data.memories.len() - 1;
    for batch in (0..last).collect::<Vec<_>>().chunks(200) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO memories (id, user_id, text, embedding, embedding_model, embedding_dims, \
             created_at, updated_at) ",
        );
        insert.push_values(batch, |mut row, &i| {
            row.push_bind(format!("m{i}"))
                .push_bind(USER)
                .push_bind(&data.texts[i])
                .push_bind(pgvector::Vector::from(data.memories[i].clone()))
                .push_bind(MODEL)
                .push_bind(DIMS as i32)
                .push_bind(i as i64)
                .push_bind(i as i64);
        });
        insert
            .build()
            .execute(&mut conn)
            .await
            .expect("bulk insert");
    }
    let _ = conn.close().await;
    let mut ids: HashMap<String, usize> = (0..last).map(|i| (format!("m{i}"), i)).collect();
    let memory = store
        .add_memory(
            NewMemory {
                user_id: USER.to_owned(),
                project: None,
                text: data.texts[last].clone(),
                is_key: false,
                embedding: Some((MODEL.to_owned(), data.memories[last].clone())),
            },
            last as i64,
        )
        .await
        .expect("add the last memory");
    ids.insert(memory.id, last);
    // Autovacuum would do this within a minute of a bulk load; the planner needs it to see
    // whose rows these are.
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    sqlx::query("ANALYZE memories")
        .execute(&mut conn)
        .await
        .expect("analyze");
    let _ = conn.close().await;
    (started.elapsed(), store, ids, name)
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name).ok().map_or_else(
        || default.to_vec(),
        |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    )
}

fn main() {
    let sizes = env_list("CLARA_BENCH_SIZES", &[1_000, 10_000, 100_000]);
    let queries = env_list("CLARA_BENCH_QUERIES", &[100])[0];
    let postgres = std::env::var("CLARA_TEST_POSTGRES_URL").ok();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "memory search, {DIMS} dimensions, {queries} queries, limit 10, {CANDIDATES} candidates a side"
    );
    println!(
        "| backend  | memories | vector p50 | vector p99 | hybrid p50 | hybrid p99 | recall@10 | first search | fill |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    runtime.block_on(async {
        for &size in &sizes {
            let data = dataset(size, queries);
            let truth = exact_top10(&data);
            {
                let dir = tempfile::tempdir().unwrap();
                let (fill, store, ids) = sqlite_run(&data, dir.path()).await;
                let measured = measure(&*store, &data, &ids, &truth).await;
                report("sqlite", size, fill, &measured);
            }
            if let Some(admin_url) = &postgres {
                let (fill, store, ids, name) = postgres_run(&data, admin_url).await;
                let measured = measure(&*store, &data, &ids, &truth).await;
                report("postgres", size, fill, &measured);
                drop(store);
                support::postgres::drop_database(admin_url, &name).await;
            }
        }
    });
}
