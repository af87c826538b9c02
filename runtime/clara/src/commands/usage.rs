//! `clara usage`: what the model calls used and cost, summed by day, user, channel, model,
//! pipeline or purpose, from the store's usage log (opened read-only).

use std::path::Path;
use std::process::ExitCode;

use clara::store::Access;
use clara_core::store::{UsageBy, UsageTotal};

use crate::cli::{UsageArgs, UsageGrouping};

/// The default window: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

pub async fn run(root: &Path, args: &UsageArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let store = clara::store::open_default(&set, Access::ReadOnly).await?;
    let since = args
        .since
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis() - DEFAULT_DAYS * 86_400_000);
    let by = match args.by {
        UsageGrouping::Day => UsageBy::Day,
        UsageGrouping::User => UsageBy::User,
        UsageGrouping::Channel => UsageBy::Channel,
        UsageGrouping::Model => UsageBy::Model,
        UsageGrouping::Pipeline => UsageBy::Pipeline,
        UsageGrouping::Purpose => UsageBy::Purpose,
    };
    let mut totals = store.usage_totals(by, since, args.until).await?;
    if by == UsageBy::Day {
        // Days read best in order.
        totals.sort_by(|a, b| a.key.cmp(&b.key));
    }
    print!("{}", table(heading(args.by), &totals));
    Ok(ExitCode::SUCCESS)
}

fn heading(by: UsageGrouping) -> &'static str {
    match by {
        UsageGrouping::Day => "day (UTC)",
        UsageGrouping::User => "user",
        UsageGrouping::Channel => "channel",
        UsageGrouping::Model => "model",
        UsageGrouping::Pipeline => "pipeline",
        UsageGrouping::Purpose => "purpose",
    }
}

/// The totals as a text table with a total row.
fn table(key: &str, totals: &[UsageTotal]) -> String {
    if totals.is_empty() {
        return "no model calls in this period\n".to_owned();
    }
    let mut sum = UsageTotal {
        key: "total".to_owned(),
        ..UsageTotal::default()
    };
    for t in totals {
        sum.add(t);
    }
    let header = [
        key,
        "calls",
        "input",
        "output",
        "cache read",
        "cache write",
        "cost",
    ];
    let rows: Vec<[String; 7]> = totals
        .iter()
        .chain(std::iter::once(&sum))
        .map(|t| {
            [
                t.key.clone(),
                t.calls.to_string(),
                t.input_tokens.to_string(),
                t.output_tokens.to_string(),
                t.cache_read_tokens.to_string(),
                t.cache_write_tokens.to_string(),
                dollars(t.cost_micros),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| -> String {
        let mut out = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, width) in cells.iter().zip(widths).skip(1) {
            out.push_str(&format!("  {cell:>width$}"));
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line([
            &row[0], &row[1], &row[2], &row[3], &row[4], &row[5], &row[6],
        ]));
    }
    out
}

/// Millionths of a dollar as `$0.0123`.
fn dollars(micros: i64) -> String {
    format!("${:.4}", micros as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up_and_sums() {
        let totals = [
            UsageTotal {
                key: "openrouter/anthropic/claude-sonnet-4".to_owned(),
                calls: 2,
                input_tokens: 1_200,
                output_tokens: 80,
                cache_read_tokens: 400,
                cache_write_tokens: 0,
                cost_micros: 4_920,
            },
            UsageTotal {
                key: "openrouter/gpt-4o-mini".to_owned(),
                calls: 1,
                input_tokens: 6,
                output_tokens: 1,
                cache_read_tokens: 4,
                cache_write_tokens: 0,
                cost_micros: 2,
            },
        ];
        assert_eq!(
            table("model", &totals),
            "model                                 calls  input  output  cache read  cache write     cost\n\
             openrouter/anthropic/claude-sonnet-4      2   1200      80         400            0  $0.0049\n\
             openrouter/gpt-4o-mini                    1      6       1           4            0  $0.0000\n\
             total                                     3   1206      81         404            0  $0.0049\n"
        );
        assert_eq!(table("day", &[]), "no model calls in this period\n");
    }
}
