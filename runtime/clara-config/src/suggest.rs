//! "Did you mean …?" for near misses in keys, names and values.

/// The candidate closest to `word`, if it is close enough to be a likely typo: a small edit
/// distance, or one being a prefix of the other (`idle_timeout` for `idle_timeout_minutes`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    // One edit for short words: `top` is not a typo of `low`.
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let distance = strsim::damerau_levenshtein(&word, &lower);
            let shorter = word.len().min(lower.len());
            let prefix = shorter >= 4 && (lower.starts_with(&word) || word.starts_with(&lower));
            // A prefix match ranks after every real typo-sized edit.
            let score = if distance <= limit {
                distance
            } else if prefix {
                limit + 1
            } else {
                return None;
            };
            Some((score, candidate))
        })
        .min_by_key(|(score, _)| *score)
        .map(|(_, candidate)| candidate)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_prefixes_but_not_strangers() {
        let keys = ["model", "models", "max_tokens", "idle_timeout_minutes"];
        assert_eq!(closest("modle", keys), Some("model"));
        assert_eq!(closest("MODEL", keys), Some("model"));
        assert_eq!(closest("max_token", keys), Some("max_tokens"));
        assert_eq!(closest("idle_timeout", keys), Some("idle_timeout_minutes"));
        assert_eq!(closest("temperature", keys), None);
        assert_eq!(closest("mo", keys), None, "too short to guess from");
    }

    #[test]
    fn unknown_lists_choices_when_nothing_is_close() {
        assert_eq!(
            unknown("kind", "gemini", &["openai", "anthropic"]),
            "unknown kind `gemini`; expected one of: openai, anthropic"
        );
        assert_eq!(
            unknown("kind", "openia", &["openai", "anthropic"]),
            "unknown kind `openia`, did you mean `openai`?"
        );
        assert_eq!(unknown("tool", "x", &[]), "unknown tool `x`");
    }
}
