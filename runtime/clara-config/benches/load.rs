//! `cargo bench -p clara-config`: how long loading and checking the shipped root takes (every
//! file parsed, schema-checked, deserialised and cross-checked), and its parts.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use clara_config::{Env, FileKind};

fn measure(name: &str, runs: u32, mut f: impl FnMut()) {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<34} min {:>9.3?}  median {:>9.3?}  p95 {:>9.3?}  ({runs} runs)",
        times[0],
        pick(0.5),
        pick(0.95)
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");

    // The first load in a process also generates the schemas; a running clara pays it once.
    let start = Instant::now();
    clara_config::load_with_env(&root, Env::default()).expect("the shipped root is valid");
    println!(
        "{:<34} {:>9.3?}",
        "first load (schemas generated)",
        start.elapsed()
    );

    measure("load shipped root", 200, || {
        black_box(
            clara_config::load_with_env(&root, Env::default()).expect("the shipped root loads"),
        );
    });
    measure("load shipped root + process env", 200, || {
        black_box(clara_config::load(&root).expect("the shipped root loads"));
    });
    measure("generate all five schemas", 50, || {
        for kind in FileKind::ALL {
            black_box(kind.schema());
        }
    });
    let chat = std::fs::read_to_string(root.join("pipelines/chat.toml"))
        .expect("the shipped chat pipeline");
    measure("parse pipelines/chat.toml", 500, || {
        black_box(clara_config::doc::parse_toml(&chat).expect("the shipped chat pipeline parses"));
    });
}
