//! "Did you mean …?" for near misses in keys, names and values.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word_lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `unknown {what} `word``, with a suggestion or the list of valid choices.
pub fn unknown(what: &str, word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(best) => format!("unknown {what} `{word}`, did you mean `{best}`?"),
        None if candidates.is_empty() => format!("unknown {what} `{word}`"),
        None => format!(
            "unknown {what} `{word}`; expected one of: {}",
            candidates.join(", ")
        ),
    }
}
