//! `cargo bench -p clara --bench discord`: `clara run` (the release binary) on a fake Discord
//! and a fake model on 127.0.0.1 that answers at once. Measures what a Discord user waits for
//! beyond the model: from the message reaching the gateway to clara's reply reaching the REST
//! API (gateway parse, the channel lane, the turn, the reply's POST), one message at a time;
//! then messages/s with 20 conversations side by side; then the process's resident memory.
//! Discord allows a bot 50 requests/s in all, and twilight keeps clara under that, so the
//! throughput figure is that limit divided by the requests an answer takes.

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use support::fake_discord::{BOT_ID, FakeDiscord, UserMessage, dm_channel_id};
use support::fake_llm::openai_stream;

const GUILD: u64 = 500;
const GENERAL: u64 = 2000;
const SEQUENTIAL: usize = 300;
const PEOPLE: u64 = 20;
const EACH: usize = 15;
const PACE: Duration = Duration::from_millis(25);
const REPLY: &str = "Sure, happy to help.";

fn wait(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn replies(discord: &FakeDiscord, channel: u64) -> usize {
    discord
        .messages_in(channel)
        .iter()
        .filter(|m| m.content == REPLY)
        .count()
}

fn start_clara(root: &std::path::Path, discord: &FakeDiscord, model_url: &str) -> Child {
    support::clara_run(root, model_url)
        .env("DISCORD_BOT_TOKEN", "FAKE_TOKEN")
        .env("CLARA_ADAPTERS__DISCORD__GATEWAY_URL", discord.ws_url())
        .env("CLARA_ADAPTERS__DISCORD__API_PROXY", discord.rest_proxy())
        .spawn()
        .unwrap()
}

fn main() {
    let discord = support::start_fake_discord();
    discord.echo_own_messages(false);
    discord.add_guild(GUILD, "Bench", 9, &[], &[(GENERAL, "general")]);
    let model = support::start_fake_model();
    for _ in 0..SEQUENTIAL + (PEOPLE as usize) * EACH + 10 {
        model.push(openai_stream(&[REPLY]));
    }
    let root = support::shipped_root();
    let mut clara = start_clara(root.path(), &discord, &model.base_url());
    wait("clara to connect", || {
        discord.connections().iter().any(|c| c.identified) && !discord.commands(None).is_empty()
    });
    let (idle_rss, _) = support::memory_mib(clara.id());

    // One message every 25 ms at most: a faster single stream would measure Discord's global
    // limit (50 requests/s) instead of clara.
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        if let Some(last) = latencies.last() {
            std::thread::sleep(PACE.saturating_sub(*last));
        }
        let text = format!("<@{BOT_ID}> question {i}: what should I cook tonight?");
        let started = Instant::now();
        discord
            .send_user_message(UserMessage::guild(GENERAL, GUILD, 42, "ann", &text).mention_bot());
        wait("a reply", || replies(&discord, GENERAL) == i + 1);
        latencies.push(started.elapsed());
    }

    // Each person waits for clara's answer before writing again, as people in a
    // conversation do; the 20 conversations run side by side.
    let started = Instant::now();
    let mut answered = vec![0usize; PEOPLE as usize];
    let say = |person: u64, round: usize| {
        let text = format!("message {round} from person {person}");
        discord.send_user_message(UserMessage::dm(100 + person, "someone", &text));
    };
    (0..PEOPLE).for_each(|person| say(person, 0));
    while answered.iter().any(|&n| n < EACH) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "conversations stalled"
        );
        for person in 0..PEOPLE {
            let now = replies(&discord, dm_channel_id(100 + person));
            let slot = &mut answered[person as usize];
            if now > *slot {
                *slot = now;
                if now < EACH {
                    say(person, now);
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = started.elapsed();
    let (rss, peak) = support::memory_mib(clara.id());
    // SAFETY: signals our own child.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(clara.id() as i32, libc::SIGTERM)
    };
    let exit = clara.wait().unwrap();

    println!(
        "mention to reply on Discord, {SEQUENTIAL} messages one at a time, {PACE:?} apart (model answers at once):"
    );
    println!(
        "  p50 {:>9.3?}   p90 {:>9.3?}   p99 {:>9.3?}   max {:>9.3?}",
        support::percentile(&mut latencies, 0.5),
        support::percentile(&mut latencies, 0.9),
        support::percentile(&mut latencies, 0.99),
        support::percentile(&mut latencies, 1.0)
    );
    let total = (PEOPLE as usize * EACH) as f64;
    println!(
        "{PEOPLE} conversations side by side ({EACH} DMs each): {:.0} messages/s",
        total / elapsed.as_secs_f64()
    );
    println!(
        "clara run resident memory: {idle_rss:.1} MiB connected and idle, {rss:.1} MiB after {} messages (peak {peak:.1} MiB)",
        SEQUENTIAL + PEOPLE as usize * EACH
    );
    println!("exit on SIGTERM: {exit}");
}
