//! Hybrid memory search in memory: a word-match score on the full-text side, exact cosine
//! similarity over the vectors of the query's model on the other, fused by reciprocal rank
//! with the same code, and so the same scores, as the database stores.

use super::{State, StoredMemory};
use crate::store::fusion::{Ranked, by_similarity, fuse, in_fused_order, terms};
use crate::store::similarity::cosine;
use crate::store::{Memory, MemoryQuery, ScoredMemory};

/// Searches a user's memories; see [`Memories::search_memories`](crate::store::Memories::search_memories).
///
/// Each side contributes its best `max(candidates, limit)` memories. The text side counts
/// whenever the query has a word; the vector side counts when the query has an embedding
/// and at least one of the user's memories has a vector from the same model and of the same
/// length.
pub(super) fn search(state: &State, query: &MemoryQuery<'_>) -> Vec<ScoredMemory> {
    if query.limit == 0 {
        return Vec::new();
    }
    let candidates = query.candidates.max(query.limit) as usize;
    let searched: Vec<&StoredMemory> = state
        .memories
        .values()
        .filter(|m| m.memory.user_id == query.user_id)
        .filter(|m| {
            query
                .project
                .is_none_or(|p| m.memory.project.as_deref() == Some(p))
        })
        .collect();
    let mut sides = Vec::with_capacity(2);
    let mut words: Vec<String> = terms(query.text).iter().map(|t| stem(t)).collect();
    words.sort();
    words.dedup();
    if !words.is_empty() {
        sides.push(text_side(&searched, &words, candidates));
    }
    if let Some((model, vector)) = query.embedding {
        let side = vector_side(&searched, model, vector, candidates);
        if !side.is_empty() {
            sides.push(side);
        }
    }
    let fused = fuse(&sides, query.rrf_k, query.limit as usize);
    let found: Vec<(i64, Memory)> = searched
        .iter()
        .filter(|m| fused.iter().any(|(seq, _)| *seq == m.seq))
        .map(|m| (m.seq, m.memory.clone()))
        .collect();
    in_fused_order(fused, found)
}

/// Memories sharing a word with the query, those matching the most distinct query words
/// first (ties: the more recently changed, then the later added).
fn text_side(searched: &[&StoredMemory], words: &[String], candidates: usize) -> Vec<Ranked<i64>> {
    let mut matched: Vec<(usize, Ranked<i64>)> = searched
        .iter()
        .filter_map(|m| {
            let own: Vec<String> = m
                .memory
                .text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| stem(&w.to_lowercase()))
                .collect();
            let hits = words.iter().filter(|w| own.contains(w)).count();
            (hits > 0).then(|| (hits, ranked(m)))
        })
        .collect();
    matched.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.updated_at.cmp(&a.1.updated_at))
            .then(b.1.key.cmp(&a.1.key))
    });
    matched.truncate(candidates);
    matched.into_iter().map(|(_, r)| r).collect()
}

/// Memories embedded by `model`, most similar to `vector` first. Vectors of another length
/// are never compared, like vectors of another model.
fn vector_side(
    searched: &[&StoredMemory],
    model: &str,
    vector: &[f32],
    candidates: usize,
) -> Vec<Ranked<i64>> {
    let scored = searched
        .iter()
        .filter_map(|m| {
            let (by, own) = m.embedding.as_ref()?;
            (by == model && own.len() == vector.len()).then(|| (cosine(own, vector), ranked(m)))
        })
        .collect();
    by_similarity(scored, candidates)
}

fn ranked(memory: &StoredMemory) -> Ranked<i64> {
    Ranked {
        key: memory.seq,
        updated_at: memory.memory.updated_at,
    }
}

/// A lowercase word without its English plural ending, so "dogs" finds "dog" as the
/// databases' stemmers do; enough for tests, far short of a real stemmer.
fn stem(word: &str) -> String {
    if let Some(base) = word.strip_suffix("ies").filter(|b| b.len() > 1) {
        return format!("{base}y");
    }
    for ending in ["sses", "shes", "ches", "xes", "zes"] {
        if let Some(base) = word.strip_suffix(ending) {
            return format!("{base}{}", &ending[..ending.len() - 2]);
        }
    }
    match word.strip_suffix('s') {
        Some(base) if base.len() > 2 && !base.ends_with(['s', 'u', 'i']) => base.to_owned(),
        _ => word.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn plurals_stem_to_their_singular() {
        for (word, stemmed) in [
            ("dogs", "dog"),
            ("berries", "berry"),
            ("boxes", "box"),
            ("dishes", "dish"),
            ("glasses", "glass"),
            ("glass", "glass"),
            ("bus", "bus"),
            ("is", "is"),
            ("rex", "rex"),
        ] {
            assert_eq!(stem(word), stemmed, "{word}");
        }
    }
}
