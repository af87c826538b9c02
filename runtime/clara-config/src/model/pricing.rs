//! What model calls cost: prices in US dollars per million tokens, by model name. clara ships
//! a table for common models (`pricing.toml` in this crate); `[pricing."MODEL"]` in
//! `clara.toml` adds or overrides entries, and `[providers.NAME.pricing."MODEL"]` overrides
//! them for one provider (a reseller's own prices, a local server's zero).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The price of one model, in US dollars per million tokens.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Prompt tokens at the full rate.
    #[schemars(range(min = 0.0))]
    pub input: f64,
    /// Reply tokens.
    #[schemars(range(min = 0.0))]
    pub output: f64,
    /// Prompt tokens read from the prompt cache (default: the input price).
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub cache_read: Option<f64>,
    /// Prompt tokens written to the prompt cache (default: the input price).
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub cache_write: Option<f64>,
}

/// Token counts to price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens at the full rate.
    pub input: u32,
    /// Reply tokens.
    pub output: u32,
    /// Prompt tokens read from the cache.
    pub cache_read: u32,
    /// Prompt tokens written to the cache.
    pub cache_write: u32,
}

impl Tokens {
    /// Every token counted, cached or not: what token budgets add up.
    pub fn total(&self) -> u64 {
        [self.input, self.output, self.cache_read, self.cache_write]
            .into_iter()
            .map(u64::from)
            .sum()
    }
}

impl Price {
    /// What `tokens` cost, in millionths of a dollar (a price per million tokens is a price
    /// in micro-dollars per token).
    pub fn cost_micros(&self, tokens: Tokens) -> i64 {
        let at = |count: u32, price: f64| f64::from(count) * price;
        let total = at(tokens.input, self.input)
            + at(tokens.output, self.output)
            + at(tokens.cache_read, self.cache_read.unwrap_or(self.input))
            + at(tokens.cache_write, self.cache_write.unwrap_or(self.input));
        // The schema refuses negative prices and TOML's `inf`/`nan` do not load; still, a call
        // never costs less than nothing or more than a sum of costs can hold.
        if total.is_finite() {
            total.clamp(0.0, 1e15).round() as i64
        } else {
            0
        }
    }
}

/// The shipped table, read once.
static SHIPPED: LazyLock<BTreeMap<String, Price>> = LazyLock::new(|| {
    #[derive(Deserialize)]
    struct Table {
        pricing: BTreeMap<String, Price>,
    }
    toml::from_str::<Table>(include_str!("../../pricing.toml"))
        .expect("the shipped price table parses (a unit test checks it)")
        .pricing
});

/// The shipped price of `model`: by its exact name, or by its name without a
/// `vendor/` prefix (`anthropic/claude-sonnet-4` is `claude-sonnet-4`).
pub fn shipped_price(model: &str) -> Option<Price> {
    lookup(&SHIPPED, model)
}

/// `model`'s entry in `table`: by its exact name, then without its `vendor/` prefix, then
/// without a release suffix (`-20250514`, `-latest`, `-0`), as vendors name the snapshots of
/// one priced model.
pub fn lookup(table: &BTreeMap<String, Price>, model: &str) -> Option<Price> {
    let bare = model.rsplit_once('/').map_or(model, |(_, bare)| bare);
    [model, bare, unversioned(bare)]
        .into_iter()
        .find_map(|name| table.get(name))
        .copied()
}

/// `name` without a trailing release suffix: a date (`-20250514`, `-2024-08-06`), `-latest`
/// or `-0`.
fn unversioned(name: &str) -> &str {
    if let Some(rest) = name
        .strip_suffix("-latest")
        .or_else(|| name.strip_suffix("-0"))
    {
        return rest;
    }
    let digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    let mut parts = name.rsplitn(4, '-');
    let (last, second, third, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    match (last, second, third, rest) {
        (Some(day), Some(month), Some(year), Some(rest))
            if digits(day, 2) && digits(month, 2) && digits(year, 4) =>
        {
            rest
        }
        _ => match name.rsplit_once('-') {
            Some((rest, date)) if digits(date, 8) => rest,
            _ => name,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_prices_with_and_without_a_vendor() {
        assert!(SHIPPED.len() > 10);
        let sonnet = shipped_price("anthropic/claude-sonnet-4").expect("sonnet is priced");
        assert_eq!(shipped_price("claude-sonnet-4"), Some(sonnet));
        assert_eq!(shipped_price("no-such-model"), None);
        // 1,000 in at $3/M, 100 out at $15/M, 2,000 cache reads at $0.30/M: $0.0051.
        let tokens = Tokens {
            input: 1_000,
            output: 100,
            cache_read: 2_000,
            cache_write: 0,
        };
        assert_eq!(sonnet.cost_micros(tokens), 5_100);
    }

    #[test]
    fn snapshots_find_their_model() {
        let sonnet = shipped_price("claude-sonnet-4");
        assert!(sonnet.is_some());
        for name in [
            "claude-sonnet-4-20250514",
            "claude-sonnet-4-0",
            "anthropic/claude-sonnet-4-latest",
        ] {
            assert_eq!(shipped_price(name), sonnet, "{name}");
        }
        assert_eq!(shipped_price("gpt-4o-2024-08-06"), shipped_price("gpt-4o"));
        assert!(shipped_price("gpt-4o").is_some());
        // A version that is part of the name stays.
        assert_ne!(shipped_price("gpt-4.1-mini"), shipped_price("gpt-4.1"));
        assert_eq!(shipped_price("claude-sonnet-5"), None);
    }

    #[test]
    fn cache_prices_default_to_the_input_price() {
        let price = Price {
            input: 2.0,
            output: 8.0,
            cache_read: None,
            cache_write: None,
        };
        let tokens = Tokens {
            input: 10,
            output: 0,
            cache_read: 10,
            cache_write: 10,
        };
        assert_eq!(price.cost_micros(tokens), 60);
    }
}
