//! Which template variables change from turn to turn, and so cannot sit in the cached start
//! of a prompt (the instructions, the persona, the background).

/// Variables whose value can differ between two turns of one session: the clock, what the
/// search found for this message, its attachments, and who wrote it (in a shared channel,
/// every message can come from someone else).
pub const PER_TURN: &[&str] = &[
    "now",
    "user_memories",
    "project_memories",
    "images",
    "text_files",
    "participants",
    "user_name",
    "user_id",
];

/// The first per-turn variable `text` reads, and the byte offset of its first use inside a
/// `{{ … }}` or `{% … %}` tag. `None` when it reads none (or does not parse).
pub fn first_per_turn(text: &str) -> Option<(&'static str, usize)> {
    let used = crate::template::usage(text).variables;
    let names: Vec<&'static str> = PER_TURN
        .iter()
        .copied()
        .filter(|v| used.contains(*v))
        .collect();
    if names.is_empty() {
        return None;
    }
    let mut first: Option<(&'static str, usize)> = None;
    for (start, end) in tags(text) {
        for name in &names {
            if let Some(at) = word_in(&text[start..end], name)
                && first.is_none_or(|(_, f)| start + at < f)
            {
                first = Some((name, start + at));
            }
        }
        if first.is_some() {
            break;
        }
    }
    // The parser saw the variable, so a tag holds it; the fallback only covers odd spacing.
    first.or(Some((names[0], 0)))
}

/// The byte ranges of the tags in `text`, in order.
fn tags(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find(['{']).map(|i| rest + i) {
        let close = match text.get(open..open + 2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            _ => {
                rest = open + 1;
                continue;
            }
        };
        let Some(end) = text[open + 2..].find(close).map(|i| open + 2 + i) else {
            break;
        };
        found.push((open, end));
        rest = end + 2;
    }
    found
}

/// Where `word` stands alone in `tag` (not part of a longer name, not after a `.`).
fn word_in(tag: &str, word: &str) -> Option<usize> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = tag[..i].chars().next_back();
        let after = tag[i + word.len()..].chars().next();
        !before.is_some_and(|c| is_name(c) || c == '.') && !after.is_some_and(is_name)
    })
}

#[cfg(test)]
mod tests {
    use super::first_per_turn;

    #[test]
    fn finds_the_first_per_turn_variable_and_where_it_is() {
        let text = "Hello.\n{% if user_name %}You talk with {{ user_name }}.{% endif %} {{ now }}";
        assert_eq!(first_per_turn(text), Some(("user_name", 13)));
        assert_eq!(first_per_turn("It is {{ now | upper }}"), Some(("now", 9)));
    }

    #[test]
    fn stable_variables_and_lookalikes_are_not_per_turn() {
        assert_eq!(first_per_turn("{{ persona }} on {{ platform }}"), None);
        assert_eq!(
            first_per_turn("{{ m.now }}{% for known in tools %}{% endfor %}"),
            None
        );
        assert_eq!(first_per_turn("now and user_name in plain text"), None);
    }
}
