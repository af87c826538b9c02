//! The console's views, each the HTML of one page's `main`: the overview, the turns and one
//! turn's timeline, memory, and the login.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use clara_core::store::{Store, UsageBy};
use serde_json::Value;

use super::html::{escape, facts, post_button, query_value, table, truncated};
use crate::live::Live;
use crate::status::Health;
use crate::telemetry::{Telemetry, TurnFilter};

/// The minutes the overview's rates and times cover.
const RECENT_MINUTES: usize = 60;

/// Adapters, the running configuration, how turns went and what they cost today.
pub(super) async fn overview(
    live: &Live,
    health: &Health,
    telemetry: Option<&Telemetry>,
) -> String {
    let mut out = String::from("<h1>Overview</h1>");
    let report = serde_json::to_value(health.snapshot()).unwrap_or_default();
    let adapters: Vec<Vec<String>> = report["adapters"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, adapter)| {
            let state = adapter["state"].as_str().unwrap_or("unknown");
            let detail = adapter
                .get("reason")
                .map_or_else(|| adapter_detail(adapter), compact);
            vec![
                escape(name),
                format!("<span class=\"state-{0}\">{0}</span>", escape(state)),
                escape(&detail),
            ]
        })
        .collect();
    let reloads = live.reloads();
    let stats = telemetry.map(|t| t.turns().stats(RECENT_MINUTES));
    let per_minute = stats.map_or(0.0, |s| s.turns as f64 / RECENT_MINUTES as f64);
    let errors = stats.map_or("–".to_owned(), |s| {
        if s.turns == 0 {
            "–".to_owned()
        } else {
            format!("{:.1}%", s.failed as f64 * 100.0 / s.turns as f64)
        }
    });
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0} ms"));
    let (tokens, cost) = today(live.current().services.store.as_ref()).await;
    out.push_str(&facts(&[
        ("uptime", escape(&duration(health.uptime()))),
        (
            "configuration",
            format!(
                "generation {} since {}",
                reloads.generation,
                escape(&reloads.loaded_at.format("%H:%M:%S UTC").to_string())
            ),
        ),
        ("turns / min (last hour)", format!("{per_minute:.2}")),
        ("error rate (last hour)", escape(&errors)),
        (
            "p50 turn (of the turns kept)",
            escape(&ms(stats.and_then(|s| s.p50_ms))),
        ),
        (
            "p95 turn (of the turns kept)",
            escape(&ms(stats.and_then(|s| s.p95_ms))),
        ),
        ("tokens today", tokens.to_string()),
        ("cost today", format!("${cost:.4}")),
    ]));
    out.push_str(&table(
        "Adapters",
        &["adapter", "state", "detail"],
        &adapters,
        "no adapters",
    ));
    let nodes: Vec<Vec<String>> = report["adapters"]["gateway"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| {
            ["node_id", "platform", "session_id"]
                .iter()
                .map(|key| escape(node[*key].as_str().unwrap_or_default()))
                .collect()
        })
        .collect();
    if report["adapters"].get("gateway").is_some() {
        out.push_str(&table(
            "Gateway nodes",
            &["node", "platform", "session"],
            &nodes,
            "no node is connected",
        ));
    }
    out.push_str("<h2>Last reload</h2>");
    match &reloads.last {
        None => out.push_str("<p>No reload yet: the configuration clara started with runs.</p>"),
        Some((at, what, lines)) => {
            out.push_str(&format!(
                "<p class=\"reload-{0}\">{0} at {1}</p>",
                escape(what),
                escape(&at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            ));
            if !lines.is_empty() {
                let problems: Vec<String> = lines.iter().map(|l| escape(l)).collect();
                out.push_str(&format!(
                    "<p>The files on disk have problems; the running configuration stays:</p><pre class=\"problems\">{}</pre>",
                    problems.join("\n")
                ));
            }
        }
    }
    if let Some(telemetry) = telemetry {
        let recent = telemetry.turns().list(&TurnFilter {
            limit: Some(10),
            ..TurnFilter::default()
        });
        out.push_str(&turn_table("Recent turns", &recent));
    }
    out
}

/// The last turns, filtered as the query asks.
pub(super) fn turns(telemetry: Option<&Telemetry>, query: Option<&str>) -> String {
    let filter = TurnFilter::from_query(query);
    let value = |v: &Option<String>| escape(v.as_deref().unwrap_or_default());
    let mut out = format!(
        "<h1>Turns</h1><form class=\"filters\" method=\"get\" action=\"/console/turns\">\
         <label>user <input name=\"user\" value=\"{}\"></label>\
         <label>conversation <input name=\"conversation\" value=\"{}\"></label>\
         <label>platform <input name=\"platform\" value=\"{}\"></label>\
         <button>Filter</button></form>",
        value(&filter.user),
        value(&filter.conversation),
        value(&filter.platform)
    );
    let listed = telemetry.map_or_else(
        || serde_json::json!({ "turns": [] }),
        |t| t.turns().list(&filter),
    );
    out.push_str(&turn_table("The last turns, newest first", &listed));
    out
}

fn turn_table(caption: &str, listed: &Value) -> String {
    let rows: Vec<Vec<String>> = listed["turns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let id = t["id"].as_str().unwrap_or_default();
            let outcome = t["outcome"].as_str().unwrap_or("running");
            vec![
                format!(
                    "<a href=\"/console/turns/{}\">{}</a>",
                    escape(id),
                    escape(
                        &t["started_at"]
                            .as_str()
                            .unwrap_or_default()
                            .replace('T', " ")
                    )
                ),
                escape(t["user_id"].as_str().unwrap_or_default()),
                escape(t["conversation"].as_str().unwrap_or_default()),
                escape(t["platform"].as_str().unwrap_or_default()),
                format!("<span class=\"outcome-{0}\">{0}</span>", escape(outcome)),
                format!("{:.0} ms", t["duration_ms"].as_f64().unwrap_or_default()),
                t["model_calls"].to_string(),
                t["tool_calls"].to_string(),
            ]
        })
        .collect();
    table(
        caption,
        &[
            "started",
            "user",
            "conversation",
            "platform",
            "outcome",
            "time",
            "model calls",
            "tool calls",
        ],
        &rows,
        "no turns yet",
    )
}

/// One turn's timeline; `None` for an id the log does not hold.
pub(super) fn turn(
    telemetry: Option<&Telemetry>,
    id: &str,
    full: bool,
    limit: usize,
) -> Option<String> {
    let turn = telemetry?.turns().get(id)?;
    let total = turn["duration_ms"].as_f64().unwrap_or(1.0).max(0.001);
    let mut out = format!(
        "<h1>Turn</h1>{}",
        facts(&[
            (
                "started",
                escape(turn["started_at"].as_str().unwrap_or_default())
            ),
            ("time", format!("{total:.1} ms")),
            ("user", escape(turn["user_id"].as_str().unwrap_or_default())),
            (
                "conversation",
                escape(turn["conversation"].as_str().unwrap_or_default())
            ),
            (
                "pipeline",
                escape(turn["pipeline"].as_str().unwrap_or_default())
            ),
            ("tier", escape(turn["tier"].as_str().unwrap_or("–"))),
            (
                "outcome",
                escape(turn["outcome"].as_str().unwrap_or_default())
            ),
            (
                "tokens in / out",
                format!("{} / {}", turn["input_tokens"], turn["output_tokens"])
            ),
        ])
    );
    let spans = turn["spans"].as_array().cloned().unwrap_or_default();
    let depth = |span: &Value| {
        let mut depth = 0;
        let mut parent = span["parent"].as_str().map(str::to_owned);
        while let Some(id) = parent {
            depth += 1;
            parent = spans
                .iter()
                .find(|s| s["id"] == id.as_str())
                .and_then(|s| s["parent"].as_str().map(str::to_owned));
        }
        depth
    };
    let whole = format!("/console/turns/{id}?full=1");
    let limit = if full { usize::MAX } else { limit };
    let rows: Vec<Vec<String>> = spans
        .iter()
        .map(|span| {
            let start = span["start_ms"].as_f64().unwrap_or_default();
            let took = span["duration_ms"].as_f64().unwrap_or_default();
            let attributes: Vec<String> = span["attributes"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    format!("<div><code>{}</code> {}</div>", escape(k), truncated(&text, limit, &whole))
                })
                .collect();
            let failed = if span["failed"] == true { " class=\"outcome-failed\"" } else { "" };
            vec![
                format!(
                    "<span{failed} style=\"padding-left:{}rem\">{}</span>",
                    depth(span),
                    escape(span["label"].as_str().unwrap_or_default())
                ),
                format!("{start:.1}"),
                format!("{took:.1}"),
                format!(
                    "<div class=\"bar\" aria-hidden=\"true\"><span style=\"left:{:.1}%;width:{:.1}%\"></span></div>",
                    start * 100.0 / total,
                    took * 100.0 / total
                ),
                format!("<details><summary>{} attributes</summary>{}</details>", attributes.len(), attributes.join("")),
            ]
        })
        .collect();
    out.push_str("<div class=\"timeline\">");
    out.push_str(&table(
        "Timeline",
        &["span", "start (ms)", "took (ms)", "", "details"],
        &rows,
        "no spans",
    ));
    out.push_str("</div>");
    Some(out)
}

/// Users with memories, or one user's memories (searched as the engine searches, when a
/// query is given), each with a button to forget it.
pub(super) async fn memory(
    live: &Live,
    user: Option<&str>,
    search: Option<&str>,
    csrf: &str,
) -> Result<String, String> {
    let generation = live.current();
    let store = generation.services.store.as_ref();
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        let users = store.memory_users().await.map_err(|e| e.to_string())?;
        let rows: Vec<Vec<String>> = users
            .iter()
            .map(|(u, count)| {
                vec![
                    format!(
                        "<a href=\"/console/memory?user={}\">{}</a>",
                        query_value(u),
                        escape(u)
                    ),
                    count.to_string(),
                ]
            })
            .collect();
        return Ok(format!(
            "<h1>Memory</h1>{}",
            table(
                "Users with memories",
                &["user", "memories"],
                &rows,
                "no memories yet"
            )
        ));
    };
    let mut out = format!(
        "<h1>Memory of {0}</h1><p><a href=\"/console/conversations?user={2}\">conversations</a></p><form class=\"filters\" method=\"get\" action=\"/console/memory\">\
         <input type=\"hidden\" name=\"user\" value=\"{0}\">\
         <label>search <input name=\"q\" value=\"{1}\"></label><button>Search</button></form>",
        escape(user),
        escape(search.unwrap_or_default()),
        query_value(user)
    );
    let forget = |id: &str| {
        post_button(
            "/console/memory/forget",
            csrf,
            &[("id", id), ("user", user)],
            "Forget",
        )
    };
    let rows: Vec<Vec<String>> = match search.filter(|q| !q.trim().is_empty()) {
        Some(text) => {
            let found = generation
                .search_memories(user, text, 20)
                .await
                .map_err(|e| e.to_string())?;
            found
                .into_iter()
                .map(|s| {
                    vec![
                        format!("{:.3}", s.score),
                        memory_link(&s.memory.id, &s.memory.text),
                        if s.memory.is_key {
                            "key".to_owned()
                        } else {
                            String::new()
                        },
                        forget(&s.memory.id),
                    ]
                })
                .collect()
        }
        None => store
            .memories_of(user)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|m| {
                vec![
                    escape(&day(m.updated_at)),
                    memory_link(&m.id, &m.text),
                    if m.is_key {
                        "key".to_owned()
                    } else {
                        String::new()
                    },
                    forget(&m.id),
                ]
            })
            .collect(),
    };
    let first = if search.is_some() { "score" } else { "changed" };
    out.push_str(&table(
        "Memories",
        &[first, "memory", "", ""],
        &rows,
        "nothing here",
    ));
    Ok(out)
}

/// A memory's text, opening its history.
fn memory_link(id: &str, text: &str) -> String {
    format!(
        "<a href=\"/console/memory/{}\">{}</a>",
        query_value(id),
        escape(text)
    )
}

/// The login: the form for the console's token (when one is set), a way in through each
/// connection in `ways` (name, title), and what went wrong the last time.
pub(super) fn login(problem: Option<&str>, token: bool, ways: &[(String, String)]) -> String {
    let problem = problem.map_or_else(String::new, |p| {
        format!("<p class=\"notice\" role=\"alert\">{}</p>", escape(p))
    });
    let form = if token {
        "<form method=\"post\" action=\"/console/login\" class=\"filters\">\
         <label>token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required autofocus></label>\
         <button>Log in</button></form>"
    } else {
        ""
    };
    let links: String = ways
        .iter()
        .map(|(name, title)| {
            format!(
                "<p><a class=\"button\" href=\"/console/login/{}\">Log in with {}</a></p>",
                query_value(name),
                escape(title)
            )
        })
        .collect();
    format!("<h1>Log in</h1>{problem}{form}{links}")
}

/// Tokens and dollars of today's model calls (UTC).
async fn today(store: &dyn Store) -> (u64, f64) {
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis());
    let totals = store
        .usage_totals(UsageBy::Day, midnight, None)
        .await
        .unwrap_or_default();
    totals.iter().fold((0, 0.0), |(tokens, cost), t| {
        let used = t.input_tokens + t.output_tokens + t.cache_read_tokens + t.cache_write_tokens;
        (tokens + used, cost + t.cost_micros as f64 / 1e6)
    })
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

fn day(at: i64) -> String {
    Utc.timestamp_millis_opt(at)
        .single()
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// What an adapter reports besides its state: Discord's shards one by one, the gateway's
/// address (its nodes have a table of their own).
fn adapter_detail(adapter: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(shards) = adapter["shards"].as_object() {
        parts.extend(
            shards
                .iter()
                .map(|(id, state)| format!("shard {id}: {}", compact(state))),
        );
    }
    if let Some(address) = adapter["address"].as_str() {
        parts.push(format!("listening on {address}"));
    }
    if let Some(nodes) = adapter["nodes"].as_array() {
        parts.push(format!("{} nodes", nodes.len()));
    }
    if let Some(since) = adapter["since"].as_str() {
        parts.push(format!("since {}", since.replace('T', " ")));
    }
    parts.join(", ")
}

fn compact(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}
