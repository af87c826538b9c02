//! `cargo bench -p clara --bench scale`: what a turn costs as one user's history grows. For
//! each size, one user has that many memories of varied text (facts built from templates and
//! word lists; half of them share the word "usual") with 1536-dimension embeddings, and 5,000
//! stored messages in their conversation. The shipped chat pipeline then runs with embeddings
//! on against a fake model on 127.0.0.1 (its own thread, answering at once), on SQLite and,
//! when `CLARA_TEST_POSTGRES_URL` is set, on Postgres + pgvector.
//!
//! Per size it prints: turn overhead p50/p99, process CPU and bytes read per turn, model
//! requests per turn, hybrid search p50/p99 through the `Store` trait (ordinary queries, and
//! queries with a word found in half of the memories), and resident memory per memory (what
//! the process grew from before its first search to after the last one, over the memories).
//!
//! `CLARA_BENCH_SIZES=100,10000,100000` (the default), `CLARA_BENCH_TURNS=300` and
//! `CLARA_BENCH_QUERIES=200` change a run; `cargo test -p clara --bench scale` runs a small one.
//! `CLARA_BENCH_KEEP=1` keeps each size's databases for a look. `CLARA_BENCH_STEPS=1` records
//! the turns' spans, as `clara run` does, and prints each span's p50 under its row (the
//! recording adds a little to every turn).

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clara_config::Env;
use clara_config::model::store::StoreConfig;
use clara_core::store::{MemoryQuery, NewMemory, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Connection, PgConnection, QueryBuilder};
use support::fake_llm::{self, bag_of_words};

const DIMS: usize = 1536;
const MODEL: &str = "text-embedding-3-small";
const USER: &str = "bench-user";
const CONVERSATION: &str = "dm-bench-user";
const MESSAGES: usize = 5_000;
/// The runtime's defaults (`memory.search_candidates`, `memory.rrf_k`).
const CANDIDATES: u32 = 100;
const RRF_K: u32 = 60;

const PEOPLE: &[&str] = &[
    "my sister Maya",
    "my brother Tom",
    "my partner Sam",
    "my boss Linda",
    "my neighbour Raj",
    "my friend Alex",
    "my mum",
    "my dad",
    "my grandmother Rosa",
    "my cousin Leo",
    "my colleague Priya",
    "my landlord Victor",
    "my dentist",
    "my running coach",
    "my niece Ada",
    "my old roommate Ben",
];
const FOODS: &[&str] = &[
    "ramen",
    "sushi",
    "lasagne",
    "tacos",
    "curry",
    "pho",
    "falafel",
    "risotto",
    "dumplings",
    "paella",
    "pancakes",
    "kimchi",
    "goulash",
    "biryani",
    "gnocchi",
    "ceviche",
    "pierogi",
    "moussaka",
    "tofu",
    "oysters",
    "porridge",
    "brownies",
    "cheesecake",
    "olives",
    "mango",
    "avocado",
    "mushrooms",
    "lentils",
    "halloumi",
    "tiramisu",
];
const PLACES: &[&str] = &[
    "Lisbon",
    "Toronto",
    "Osaka",
    "Nairobi",
    "Berlin",
    "Denver",
    "Hanoi",
    "Oslo",
    "Cusco",
    "Dublin",
    "Seoul",
    "Marseille",
    "Austin",
    "Krakow",
    "Tbilisi",
    "Perth",
    "Valparaiso",
    "Reykjavik",
    "Glasgow",
    "Montreal",
    "Porto",
    "Kyoto",
    "Bergen",
    "Tucson",
];
const ACTIVITIES: &[&str] = &[
    "climbing",
    "swimming",
    "pottery",
    "chess",
    "gardening",
    "birdwatching",
    "salsa dancing",
    "cycling",
    "knitting",
    "sourdough baking",
    "trail running",
    "yoga",
    "karaoke",
    "kayaking",
    "woodworking",
    "photography",
    "volunteering at the shelter",
    "learning Portuguese",
    "painting watercolours",
    "board games",
];
const THINGS: &[&str] = &[
    "a new bike",
    "noise-cancelling headphones",
    "a vintage camera",
    "a standing desk",
    "concert tickets",
    "a sewing machine",
    "a telescope",
    "a kayak",
    "an espresso machine",
    "hiking boots",
    "a record player",
    "a drone",
    "a tent",
    "a guitar",
    "a laptop",
];
const FEELINGS: &[&str] = &[
    "relaxing",
    "exhausting",
    "wonderful",
    "stressful",
    "surprisingly fun",
    "boring",
    "calming",
    "overwhelming",
    "delightful",
    "frustrating",
];
const DAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn pick<'a>(rng: &mut StdRng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// A fact about the user, as extraction writes them; even-numbered ones mention "usual".
fn memory_text(i: usize, rng: &mut StdRng) -> String {
    let person = pick(rng, PEOPLE);
    let fact = match rng.random_range(0..9) {
        0 => format!(
            "{person} loves {} but cannot stand {}",
            pick(rng, FOODS),
            pick(rng, FOODS)
        ),
        1 => format!(
            "I go {} with {person} every {}",
            pick(rng, ACTIVITIES),
            pick(rng, DAYS)
        ),
        2 => format!(
            "{person} moved to {} in {} {}",
            pick(rng, PLACES),
            pick(rng, MONTHS),
            rng.random_range(1990..2027)
        ),
        3 => format!(
            "I am saving up for {} before {}",
            pick(rng, THINGS),
            pick(rng, MONTHS)
        ),
        4 => format!(
            "{person}'s birthday is {} {} and they want {}",
            pick(rng, MONTHS),
            rng.random_range(1..29),
            pick(rng, THINGS)
        ),
        5 => format!(
            "I had {} in {} on a {} and it was {}",
            pick(rng, FOODS),
            pick(rng, PLACES),
            pick(rng, DAYS),
            pick(rng, FEELINGS)
        ),
        6 => format!(
            "I find {} {} after work",
            pick(rng, ACTIVITIES),
            pick(rng, FEELINGS)
        ),
        7 => format!(
            "{person} recommended a trip to {} for {}",
            pick(rng, PLACES),
            pick(rng, ACTIVITIES)
        ),
        _ => format!(
            "I borrowed {} from {person} {} weeks ago",
            pick(rng, THINGS),
            rng.random_range(2..30)
        ),
    };
    if i.is_multiple_of(2) {
        format!("{fact}, as usual")
    } else {
        fact
    }
}

/// A question a user asks; `common` ones include "usual", found in half of the memories.
fn query_text(rng: &mut StdRng, common: bool) -> String {
    let person = pick(rng, PEOPLE);
    let question = match rng.random_range(0..5) {
        0 => format!("what does {person} like to eat?"),
        1 => format!("when is {person}'s birthday?"),
        2 => format!(
            "should I try {} in {}?",
            pick(rng, FOODS),
            pick(rng, PLACES)
        ),
        3 => format!(
            "is {} worth it this {}?",
            pick(rng, ACTIVITIES),
            pick(rng, DAYS)
        ),
        _ => format!("what was I saving up for, {}?", pick(rng, THINGS)),
    };
    if common {
        format!("{question} the usual?")
    } else {
        question
    }
}

/// Stores the user's memories and messages through `store`; memories are vectors from the
/// fake model's own embedding of their text, so searches find what they should.
async fn fill(store: &dyn Store, size: usize, skip_memories: usize) {
    let mut rng = StdRng::seed_from_u64(size as u64);
    let now = now_ms();
    for i in 0..size {
        let text = memory_text(i, &mut rng);
        if i < skip_memories {
            continue;
        }
        let embedding = Some((MODEL.to_owned(), bag_of_words(&text, DIMS)));
        let memory = NewMemory {
            user_id: USER.to_owned(),
            project: None,
            text,
            is_key: i.is_multiple_of(997),
            embedding,
        };
        store
            .add_memory(memory, now - (size - i) as i64)
            .await
            .unwrap();
    }
    let (session, _) = store
        .start_session(USER, CONVERSATION, None, now)
        .await
        .unwrap();
    for i in 0..MESSAGES {
        let (role, text) = if i.is_multiple_of(2) {
            (
                clara_core::llm::Role::User,
                query_text(&mut rng, i.is_multiple_of(4)),
            )
        } else {
            (clara_core::llm::Role::Assistant, memory_text(i, &mut rng))
        };
        store
            .add_message(&session.id, role, None, &text, now)
            .await
            .unwrap();
    }
}

/// Fills a fresh Postgres database: most memories in bulk, the rest through the store, which
/// creates its HNSW index over everything (a bulk build, as after an import).
async fn postgres_database(admin_url: &str, size: usize) -> String {
    let name = format!("clara_scale_{size}");
    let url = support::postgres::fresh_database(admin_url, &name).await;
    let store = open_store(&postgres_config(), Path::new("."), &url).await;
    let bulk = size.saturating_sub(1);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut rng = StdRng::seed_from_u64(size as u64);
    let texts: Vec<String> = (0..bulk).map(|i| memory_text(i, &mut rng)).collect();
    let now = now_ms();
    for batch in (0..bulk).collect::<Vec<_>>().chunks(200) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO memories (id, user_id, text, is_key, embedding, embedding_model, \
             embedding_dims, created_at, updated_at) ",
        );
        insert.push_values(batch, |mut row, &i| {
            let at = now - (size - i) as i64;
            row.push_bind(format!("m{i}"))
                .push_bind(USER)
                .push_bind(&texts[i])
                .push_bind(i.is_multiple_of(997))
                .push_bind(pgvector::Vector::from(bag_of_words(&texts[i], DIMS)))
                .push_bind(MODEL)
                .push_bind(DIMS as i32)
                .push_bind(at)
                .push_bind(at);
        });
        insert.build().execute(&mut conn).await.unwrap();
    }
    fill(&*store, size, bulk).await;
    sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
    url
}

/// Points the root's main store at the database in `CLARA_SCALE_PG_URL`.
fn use_postgres(root: &Path) {
    let file = root.join("clara.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let sqlite = "[stores.main]\ntype = \"sqlite\"\npath = \"data/clara.db\"\n";
    assert!(
        text.contains(sqlite),
        "the shipped clara.toml changed its store"
    );
    let postgres = "[stores.main]\ntype = \"postgres\"\nurl_env = \"CLARA_SCALE_PG_URL\"\n";
    std::fs::write(&file, text.replace(sqlite, postgres)).unwrap();
}

fn postgres_config() -> StoreConfig {
    StoreConfig::Postgres {
        url_env: "CLARA_SCALE_PG_URL".to_owned(),
        max_connections: 4,
        hnsw_ef_search: 100,
    }
}

async fn open_store(config: &StoreConfig, root: &Path, url: &str) -> Arc<dyn Store> {
    let env = Env::from_vars([("CLARA_SCALE_PG_URL".to_owned(), url.to_owned())]);
    clara::store::open(config, root, &env, clara::store::Access::ReadWrite)
        .await
        .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A number from a `/proc/self` file: `field` is a line's label in `status` or `io`.
fn proc_field(file: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/self/{file}")).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    proc_field("status", "VmRSS")
}

/// User plus system CPU time of the whole process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
    // `/proc` reports in USER_HZ, which Linux fixes at 100 whatever the kernel's own HZ.
    Duration::from_millis(ticks * 10)
}

struct Figures {
    turn_p50: Duration,
    turn_p99: Duration,
    cpu_per_turn: Duration,
    read_per_turn: u64,
    requests_per_turn: f64,
    /// Hybrid, hybrid with a common word, words only (common word included), vector only.
    search: [(Duration, Duration); 4],
    rss_per_memory: f64,
    rss_kib: u64,
    /// Each span's name, count and p50, with `CLARA_BENCH_STEPS=1`.
    steps: Vec<(String, usize, Duration)>,
}

async fn measure(
    root: &Path,
    fake: &fake_llm::FakeLlm,
    overrides: &[(&str, &str)],
    size: usize,
    turns: usize,
    queries: usize,
) -> Figures {
    let live = support::start_live(root, fake, overrides).await;
    let steps = StepWatch::start();
    let generation = live.current();
    let store = Arc::clone(&generation.services.store);
    let rss_before = rss_kib();
    let mut rng = StdRng::seed_from_u64(7);
    let mut times = Vec::with_capacity(turns);
    fake.take_requests();
    let (cpu_before, read_before) = (cpu_time(), proc_field("io", "rchar"));
    let mut requests = 0;
    for i in 0..turns {
        fake.push(fake_llm::openai_stream(&["Noted, ", "thanks!"]));
        let text = query_text(&mut rng, i.is_multiple_of(4));
        let started = Instant::now();
        let outcome = generation
            .handle_message(support::message(text), &|_| {})
            .await
            .unwrap();
        times.push(started.elapsed());
        assert!(outcome.error().is_none(), "{:?}", outcome.error());
        requests += fake.take_requests().len();
    }
    let cpu = cpu_time().saturating_sub(cpu_before);
    let read = proc_field("io", "rchar").saturating_sub(read_before);
    let steps = match steps {
        Some(watch) => watch.finish().await,
        None => Vec::new(),
    };
    let mut search = [(Duration::ZERO, Duration::ZERO); 4];
    for (kind, figure) in search.iter_mut().enumerate() {
        let mut times = Vec::with_capacity(queries);
        for _ in 0..queries {
            let text = query_text(&mut rng, kind == 1 || kind == 2);
            let vector = bag_of_words(&text, DIMS);
            let query = MemoryQuery {
                user_id: USER,
                project: None,
                text: if kind == 3 { "" } else { &text },
                embedding: (kind != 2).then_some((MODEL, vector.as_slice())),
                limit: 10,
                candidates: CANDIDATES,
                rrf_k: RRF_K,
            };
            let started = Instant::now();
            let found = store.search_memories(&query).await.unwrap();
            times.push(started.elapsed());
            assert!(!found.is_empty(), "nothing found for {text:?}");
        }
        *figure = (
            support::percentile(&mut times, 0.5),
            support::percentile(&mut times, 0.99),
        );
    }
    let rss_after = rss_kib();
    drop(generation);
    drop(store);
    drop(live);
    Figures {
        turn_p50: support::percentile(&mut times, 0.5),
        turn_p99: support::percentile(&mut times, 0.99),
        cpu_per_turn: cpu / turns as u32,
        read_per_turn: read / turns as u64,
        requests_per_turn: requests as f64 / turns as f64,
        search,
        rss_per_memory: rss_after.saturating_sub(rss_before) as f64 * 1024.0 / size as f64,
        rss_kib: rss_after,
        steps,
    }
}

/// Whether `CLARA_BENCH_STEPS=1` asks for each step's p50.
fn steps_wanted() -> bool {
    std::env::var("CLARA_BENCH_STEPS").is_ok_and(|v| v == "1")
}

/// Collects every finished turn's span durations by name while a turn loop runs.
struct StepWatch {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::collections::BTreeMap<String, Vec<f64>>>,
}

impl StepWatch {
    /// Starts watching, when steps are wanted.
    fn start() -> Option<StepWatch> {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        if !steps_wanted() {
            return None;
        }
        let mut turns = clara::telemetry::Telemetry::global()?.watch_turns();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut times = std::collections::BTreeMap::new();
            let mut add = |trace: &clara::telemetry::Trace| {
                for span in &trace.spans {
                    let name = match span.text("clara.step.type") {
                        Some(step) => format!("step {step}"),
                        None => span.display_name().to_owned(),
                    };
                    times
                        .entry(name)
                        .or_insert_with(Vec::new)
                        .push(span.duration_ms());
                }
            };
            loop {
                tokio::select! {
                    biased;
                    received = turns.recv() => match received {
                        Ok(trace) => add(&trace),
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                    _ = &mut stopped => {
                        // The turns already sent are still queued: drain them first.
                        loop {
                            match turns.try_recv() {
                                Ok(trace) => add(&trace),
                                Err(TryRecvError::Lagged(_)) => continue,
                                Err(_) => break,
                            }
                        }
                        break;
                    }
                }
            }
            times
        });
        Some(StepWatch { stop, task })
    }

    /// Each span's name, count and p50.
    async fn finish(self) -> Vec<(String, usize, Duration)> {
        let _ = self.stop.send(());
        let times = self.task.await.unwrap_or_default();
        times
            .into_iter()
            .map(|(name, durations)| {
                let mut durations: Vec<Duration> = durations
                    .iter()
                    .map(|ms| Duration::from_secs_f64(ms / 1e3))
                    .collect();
                let count = durations.len();
                (name, count, support::percentile(&mut durations, 0.5))
            })
            .collect()
    }
}

/// With `CLARA_BENCH_STEPS` set, records clara's spans as `clara run` does.
fn record_steps() {
    use tracing_subscriber::layer::SubscriberExt;
    if !steps_wanted() {
        return;
    }
    let (_, recorder) = clara::telemetry::Telemetry::install();
    let subscriber = tracing_subscriber::registry().with(recorder.clara_spans());
    tracing::subscriber::set_global_default(subscriber).unwrap();
}

fn report(backend: &str, size: usize, f: &Figures) {
    println!(
        "| {backend:<8} | {size:>7} | {:>8.2?} | {:>8.2?} | {:>8.2?} | {:>6} KB | {:>4.1} | {:>8.2?} | {:>8.2?} | {:>8.2?} | {:>8.2?} | {:>6.0} B | {:>6.1} MB |",
        f.turn_p50,
        f.turn_p99,
        f.cpu_per_turn,
        f.read_per_turn / 1024,
        f.requests_per_turn,
        f.search[0].0,
        f.search[0].1,
        f.search[1].0,
        f.search[1].1,
        f.rss_per_memory,
        f.rss_kib as f64 / 1024.0,
    );
    println!(
        "|          |         | its sides: words only (common word included) p50 {:.2?} p99 {:.2?}; vector only p50 {:.2?} p99 {:.2?} |",
        f.search[2].0, f.search[2].1, f.search[3].0, f.search[3].1,
    );
    for (name, count, p50) in &f.steps {
        println!("|          |         | {backend} {size}: {name} ×{count} p50 {p50:.3?} |");
    }
}

/// A root folder that is deleted at the end unless it is to be kept.
struct Keep(Option<tempfile::TempDir>, bool);

impl Keep {
    fn path(&self) -> &Path {
        self.0
            .as_ref()
            .map_or(Path::new("."), tempfile::TempDir::path)
    }
}

impl Drop for Keep {
    fn drop(&mut self) {
        if let Some(root) = self.0.take().filter(|_| self.1) {
            let _ = root.keep();
        }
    }
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name).ok().map_or_else(
        || default.to_vec(),
        |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    )
}

fn main() {
    // `cargo test --bench scale` runs this with `--bench` absent: a quick configuration.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes = env_list(
        "CLARA_BENCH_SIZES",
        if quick {
            &[100, 2_000]
        } else {
            &[100, 10_000, 100_000]
        },
    );
    let turns = env_list("CLARA_BENCH_TURNS", &[if quick { 30 } else { 300 }])[0];
    let queries = env_list("CLARA_BENCH_QUERIES", &[if quick { 20 } else { 200 }])[0];
    let postgres = std::env::var("CLARA_TEST_POSTGRES_URL").ok();
    let keep = std::env::var_os("CLARA_BENCH_KEEP").is_some();
    record_steps();
    // The runtime `clara run` and `clara chat` build: the two searches of a turn, and the
    // vector scans they hand to the blocking pool, run side by side as they would there.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "scale: one user, {MESSAGES} messages, memories of {DIMS} dimensions; {turns} turns, {queries} searches of each kind"
    );
    println!(
        "| backend  | memories | turn p50 | turn p99 | CPU/turn | read/turn | requests/turn | search p50 | search p99 | common-word p50 | common-word p99 | RSS/memory | RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    runtime.block_on(async {
        let fake = support::start_fake_model();
        fake.auto_embeddings(DIMS);
        let base = fake.base_url();
        let embeddings = [
            ("CLARA_EMBEDDINGS__ENABLED", "true"),
            ("OPENAI_API_KEY", "k"),
            ("CLARA_PROVIDERS__OPENAI__BASE_URL", base.as_str()),
        ];
        for &size in &sizes {
            let root = support::shipped_root();
            if keep {
                println!("  keeping {}", root.path().join("data/clara.db").display());
            }
            let root = Keep(Some(root), keep);
            {
                let config = StoreConfig::Sqlite {
                    path: "data/clara.db".to_owned(),
                    cache_mib: clara_config::model::store::DEFAULT_SQLITE_CACHE_MIB,
                };
                let store = open_store(&config, root.path(), "").await;
                fill(&*store, size, 0).await;
            }
            let figures = measure(root.path(), &fake, &embeddings, size, turns, queries).await;
            report("sqlite", size, &figures);
            if let Some(admin_url) = &postgres {
                let url = postgres_database(admin_url, size).await;
                use_postgres(root.path());
                let mut overrides = embeddings.to_vec();
                overrides.push(("CLARA_SCALE_PG_URL", url.as_str()));
                let figures = measure(root.path(), &fake, &overrides, size, turns, queries).await;
                report("postgres", size, &figures);
                if keep {
                    println!("  kept {url}");
                    continue;
                }
                let name = url.rsplit('/').next().unwrap_or_default();
                support::postgres::drop_database(admin_url, name).await;
            }
        }
    });
}
