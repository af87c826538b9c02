//! Backend-independent parts of hybrid memory search: the words of what a user typed, for the
//! full-text side; ordering the vector side; reciprocal rank fusion of the ranked lists each
//! side returns; putting the fused memories in order; and answering searches together. Every
//! store uses this one copy, so they score alike.

use std::collections::HashMap;
use std::hash::Hash;

use super::{Memory, MemoryQuery, ScoredMemory, StoreResult};

/// Answers searches as [`Memories::search_memories_together`](super::Memories::search_memories_together)
/// asks, given `shared`, which answers searches that share work in one pass: all at once
/// when each shares work with the first, otherwise each on its own.
pub async fn together_or_each<'q, F, Fut>(
    queries: &'q [MemoryQuery<'q>],
    shared: F,
) -> StoreResult<Vec<Vec<ScoredMemory>>>
where
    F: Fn(&'q [MemoryQuery<'q>]) -> Fut,
    Fut: Future<Output = StoreResult<Vec<Vec<ScoredMemory>>>>,
{
    let Some(first) = queries.first() else {
        return Ok(Vec::new());
    };
    if queries.iter().all(|query| first.shares_work_with(query)) {
        return shared(queries).await;
    }
    let mut each = Vec::with_capacity(queries.len());
    for query in queries {
        let mut found = shared(std::slice::from_ref(query)).await?;
        each.push(found.pop().unwrap_or_default());
    }
    Ok(each)
}

/// At most this many distinct words of a query go to the full-text side.
const MAX_TERMS: usize = 32;

/// English function words, sorted. They match most memories and say little about any, so
/// the full-text side leaves them out: a question like "what should I do with my garden"
/// searches for "garden", not for every memory containing "i" or "my" (at 100k memories
/// that is the difference between a few milliseconds and hundreds).
const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could",
    "d", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "him", "his",
    "how", "i", "if", "in", "into", "is", "it", "its", "just", "ll", "m", "me", "my", "of", "on",
    "or", "our", "re", "s", "she", "should", "so", "t", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "to", "ve", "was", "we", "were", "what", "when", "where",
    "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The distinct words of `text` (letters and digits; everything else separates words),
/// lowercased, in order of first appearance, without the stop words.
pub fn terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if STOP_WORDS.binary_search(&word.as_str()).is_err() && !terms.contains(&word) {
            terms.push(word);
            if terms.len() == MAX_TERMS {
                break;
            }
        }
    }
    terms
}

/// The most memories the full-text side ranks for one search, so its cost stays flat however
/// many memories a user has: bm25 or `ts_rank` runs once per memory that holds a query word,
/// and a word found in half of 100k memories would otherwise rank 50k of them.
pub const TEXT_RANK_BUDGET: u64 = 1_000;

/// What the full-text side ranks, decided from how many memories hold each query word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextPlan {
    /// The words to search for.
    pub words: Vec<String>,
    /// `false`: every memory holding one of the words, by relevance. The words are the
    /// rarest ones, whose counts add up to at most the budget; commoner words say little next
    /// to them (their inverse document frequency is near zero), so they are left out like
    /// stop words.
    ///
    /// `true`: each word is in more memories than the budget, so only the most recent
    /// budget's worth of memories holding any of them are ranked.
    pub recent: bool,
}

/// Plans the full-text side from `(word, memories holding it)` as the database counted them,
/// up to at least `budget + 1`. `None` when no memory holds any of the words.
pub fn text_plan(counted: Vec<(String, i64)>, budget: u64) -> Option<TextPlan> {
    let mut counted: Vec<(String, u64)> = counted
        .into_iter()
        .map(|(word, count)| (word, count.unsigned_abs()))
        .filter(|(_, count)| *count > 0)
        .collect();
    if counted.is_empty() {
        return None;
    }
    counted.sort_by_key(|(_, count)| *count);
    let mut total = 0;
    let mut rare = Vec::new();
    for (word, count) in &counted {
        total += count;
        if total > budget {
            break;
        }
        rare.push(word.clone());
    }
    Some(if rare.is_empty() {
        TextPlan {
            words: counted.into_iter().map(|(word, _)| word).collect(),
            recent: true,
        }
    } else {
        TextPlan {
            words: rare,
            recent: false,
        }
    })
}

/// One candidate of one side, best first within its side.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranked<K> {
    /// The memory's key in the backend.
    pub key: K,
    /// When it last changed, for breaking ties by recency.
    pub updated_at: i64,
}

/// Vector candidates, most similar first (ties: the more recently changed, then the larger
/// key), at most `limit` of them.
pub fn by_similarity<K: Ord>(mut scored: Vec<(f32, Ranked<K>)>, limit: usize) -> Vec<Ranked<K>> {
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.1.updated_at.cmp(&a.1.updated_at))
            .then(b.1.key.cmp(&a.1.key))
    });
    scored.truncate(limit);
    scored.into_iter().map(|(_, ranked)| ranked).collect()
}

/// The fused results as scored memories, in fused order; a key with no memory (deleted
/// meanwhile) is skipped.
pub fn in_fused_order(
    fused: Vec<(i64, f32)>,
    memories: impl IntoIterator<Item = (i64, Memory)>,
) -> Vec<ScoredMemory> {
    each_in_fused_order(vec![fused], memories)
        .pop()
        .unwrap_or_default()
}

/// Every key of several searches' fused results, once each, ascending: the rows to read.
pub fn fused_keys(fused: &[Vec<(i64, f32)>]) -> Vec<i64> {
    let mut keys: Vec<i64> = fused.iter().flatten().map(|(key, _)| *key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Each search's fused results as scored memories, in fused order, from the memories read
/// for all of them; a key with no memory (deleted meanwhile) is skipped.
pub fn each_in_fused_order(
    fused: Vec<Vec<(i64, f32)>>,
    memories: impl IntoIterator<Item = (i64, Memory)>,
) -> Vec<Vec<ScoredMemory>> {
    let memories: HashMap<i64, Memory> = memories.into_iter().collect();
    fused
        .into_iter()
        .map(|fused| {
            fused
                .into_iter()
                .filter_map(|(key, score)| {
                    let memory = memories.get(&key)?.clone();
                    Some(ScoredMemory { memory, score })
                })
                .collect()
        })
        .collect()
}

/// Fuses ranked lists by reciprocal rank fusion: each side adds `1 / (k + rank)` (rank from
/// 1). The score is normalised by its maximum, `sides.len() / (k + 1)`, so it lies in 0..=1
/// and a memory ranked first by every side scores exactly 1. Returns at most `limit` keys,
/// best first, ties broken by recency (then by key, descending, for a stable order).
///
/// `sides` holds every side that could rank memories, including a side that ran and found
/// nothing (it still counts towards the maximum).
pub fn fuse<K: Clone + Eq + Hash + Ord>(
    sides: &[Vec<Ranked<K>>],
    k: u32,
    limit: usize,
) -> Vec<(K, f32)> {
    if sides.is_empty() || limit == 0 {
        return Vec::new();
    }
    let k = f64::from(k);
    let mut fused: HashMap<K, (f64, i64)> = HashMap::new();
    for side in sides {
        for (index, candidate) in side.iter().enumerate() {
            let entry = fused
                .entry(candidate.key.clone())
                .or_insert((0.0, candidate.updated_at));
            entry.0 += 1.0 / (k + index as f64 + 1.0);
        }
    }
    let best = sides.len() as f64 / (k + 1.0);
    let mut scored: Vec<(K, f64, i64)> = fused
        .into_iter()
        .map(|(key, (score, updated_at))| (key, score / best, updated_at))
        .collect();
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(b.2.cmp(&a.2))
            .then_with(|| b.0.cmp(&a.0))
    });
    scored.truncate(limit);
    scored
        .into_iter()
        .map(|(key, score, _)| (key, (score as f32).clamp(0.0, 1.0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(keys: &[i64]) -> Vec<Ranked<i64>> {
        keys.iter()
            .map(|&key| Ranked { key, updated_at: 0 })
            .collect()
    }

    fn counted(words: &[(&str, i64)]) -> Vec<(String, i64)> {
        words.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect()
    }

    fn ranked(words: &[&str], recent: bool) -> TextPlan {
        TextPlan {
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            recent,
        }
    }

    #[test]
    fn the_rarest_words_within_the_budget_are_ranked() {
        let plan = text_plan(
            counted(&[("usual", 5_001), ("maya", 300), ("x", 0), ("tea", 600)]),
            1_000,
        );
        assert_eq!(plan, Some(ranked(&["maya", "tea"], false)));
        let plan = text_plan(counted(&[("maya", 300), ("tea", 800)]), 1_000);
        assert_eq!(plan, Some(ranked(&["maya"], false)));
    }

    #[test]
    fn only_common_words_rank_the_recent_matches() {
        let plan = text_plan(counted(&[("usual", 5_001), ("like", 1_001)]), 1_000);
        assert_eq!(plan, Some(ranked(&["like", "usual"], true)));
        assert_eq!(text_plan(counted(&[("nothing", 0)]), 1_000), None);
    }

    #[test]
    fn terms_are_distinct_lowercase_words_without_stop_words() {
        assert_eq!(
            terms(r#"what's "my" dog's NAME?? (AND) -x* dog"#),
            ["dog", "name", "x"]
        );
        assert!(terms(" ?!* \"' ").is_empty());
        assert!(terms("what is it to me").is_empty());
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rank_one_everywhere_scores_one() {
        let fused = fuse(&[side(&[7, 8]), side(&[7, 9])], 60, 10);
        assert_eq!(fused[0], (7, 1.0));
        assert!(fused.iter().all(|(_, s)| (0.0..=1.0).contains(s)));
        assert_eq!(fused.len(), 3);
    }

    #[test]
    fn an_empty_side_still_counts() {
        let fused = fuse(&[side(&[1]), Vec::new()], 0, 10);
        assert_eq!(fused, vec![(1, 0.5)]);
    }
}
