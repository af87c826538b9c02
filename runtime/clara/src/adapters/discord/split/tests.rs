//! Checks of reply splitting: limits in characters, preferred boundaries, balanced fences,
//! no lost content, and chunks that stay put as a streamed reply grows.

use super::*;

/// Discord's limit less a margin, the configured default.
const DEFAULT_LIMIT: usize = 1980;

/// Deterministic prose: sentences of varied length and ending, in paragraphs.
fn prose(chars: usize, seed: u64) -> String {
    const WORDS: [&str; 16] = [
        "the",
        "garden",
        "quietly",
        "remembers",
        "every",
        "season",
        "and",
        "its",
        "bees",
        "return",
        "when",
        "morning",
        "light",
        "warms",
        "old",
        "stones",
    ];
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = |modulo: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % modulo
    };
    let mut text = String::new();
    let mut sentence = 0;
    while text.chars().count() < chars {
        let words = 4 + next(12);
        for i in 0..words {
            let word = WORDS[next(WORDS.len() as u64) as usize];
            text.push_str(word);
            text.push_str(if i + 1 < words { " " } else { "" });
        }
        text.push_str([". ", "! ", "? "][next(3) as usize]);
        sentence += 1;
        if sentence % 5 == 0 {
            text = text.trim_end().to_owned() + "\n\n";
        }
    }
    text.chars().take(chars).collect()
}

/// Prose around a long Rust block and a short Python one.
fn with_code() -> String {
    let mut text = prose(300, 1) + "\n\nHere is the code:\n\n```rust\n";
    for i in 0..40 {
        text.push_str(&format!("    let value_{i} = compute({i}, \"item\");\n"));
    }
    text.push_str("```\n\n");
    text.push_str(&prose(250, 2));
    text.push_str("\n```python\nprint('short')\nprint('block')\n```\n");
    text.push_str(&prose(200, 3));
    text
}

/// Prose, code, a line without spaces, and multi-byte text.
fn mixed() -> String {
    let mut text = prose(400, 4);
    text.push_str("\n\n```\nplain block line one\n  indented line two\n```\n");
    text.push_str(&"x".repeat(500));
    text.push('\n');
    text.push_str(&"日本語のテキスト。".repeat(40));
    text.push_str(" 😀🎉 ");
    text.push_str(&prose(300, 5));
    text
}

/// Text made of fence fragments, punctuation and multi-byte characters, to hit the corner
/// cases of fence handling (markers being typed, one-line blocks, cuts beside backticks).
fn fence_soup(tokens: usize, seed: u64) -> String {
    const PIECES: [&str; 20] = [
        "a",
        "bb",
        " ",
        "\n",
        "\n\n",
        "`",
        "``",
        "```",
        "```rust\n",
        "\n```\n",
        ". ",
        "! ",
        "日本",
        "😀",
        "word ",
        "x.",
        "\t",
        "```py",
        "    ```",
        "````",
    ];
    let mut state = seed;
    (0..tokens)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            PIECES[((state >> 33) % PIECES.len() as u64) as usize]
        })
        .collect()
}

/// Every chunk is non-empty, right-trimmed, within `limit` characters and (when fences are
/// handled at this limit) has balanced fences.
fn assert_well_formed(chunks: &[String], limit: usize) {
    for chunk in chunks {
        assert!(!chunk.trim().is_empty(), "empty chunk in {chunks:?}");
        assert_eq!(chunk, chunk.trim_end(), "chunk not right-trimmed");
        let length = chunk.chars().count();
        assert!(length <= limit, "chunk of {length} > {limit}: {chunk:?}");
        if limit >= MIN_FENCED_LIMIT {
            assert!(
                scan(chunk, None, true).open.is_none(),
                "open fence: {chunk:?}"
            );
        }
    }
}

/// The non-whitespace characters of `text`, fence lines left out.
fn content(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with(FENCE))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Splits every prefix of `text` (every `step`th char boundary) and checks that all chunks
/// but the last of each equal the chunks at the same index for the next prefix and for the
/// whole text.
fn assert_stable_prefixes(text: &str, limit: usize, step: usize) {
    let full = split(text, limit);
    let mut previous: Vec<String> = Vec::new();
    let ends = text.char_indices().map(|(at, _)| at).step_by(step);
    for end in ends.chain([text.len()]) {
        let chunks = split(&text[..end], limit);
        assert_well_formed(&chunks, limit);
        let settled = chunks.len().saturating_sub(1);
        assert_eq!(
            chunks[..settled],
            full[..settled],
            "prefix {end}, limit {limit}"
        );
        let settled_before = previous.len().saturating_sub(1);
        assert_eq!(
            previous[..settled_before],
            chunks[..settled_before],
            "prefix {end}, limit {limit}"
        );
        previous = chunks;
    }
}

#[test]
fn short_text_is_one_trimmed_chunk_and_blank_text_none() {
    assert_eq!(split("Hello there!  \n\n", DEFAULT_LIMIT), ["Hello there!"]);
    assert!(split("", DEFAULT_LIMIT).is_empty());
    assert!(split(" \n\t\n ", DEFAULT_LIMIT).is_empty());
    let exact = "a".repeat(DEFAULT_LIMIT);
    assert_eq!(split(&exact, DEFAULT_LIMIT), [exact]);
}

#[test]
fn long_prose_is_cut_at_sentence_or_paragraph_ends() {
    let text = prose(4_500, 7);
    let chunks = split(&text, DEFAULT_LIMIT);
    assert_eq!(chunks.len(), 3);
    assert_well_formed(&chunks, DEFAULT_LIMIT);
    for chunk in &chunks[..2] {
        assert!(
            chunk.ends_with(['.', '!', '?']),
            "cut mid-sentence: {chunk:?}"
        );
        assert!(chunk.chars().count() > DEFAULT_LIMIT / 2);
    }
    assert_eq!(content(&chunks.join("\n")), content(&text));
}

#[test]
fn a_long_line_without_spaces_is_cut_hard() {
    let text = "y".repeat(2_500);
    let chunks = split(&text, DEFAULT_LIMIT);
    let lengths: Vec<usize> = chunks.iter().map(|c| c.chars().count()).collect();
    assert_eq!(lengths, [DEFAULT_LIMIT, 2_500 - DEFAULT_LIMIT]);
}

#[test]
fn a_code_block_across_a_cut_is_closed_and_reopened_with_its_language() {
    let text = with_code();
    let chunks = split(&text, 500);
    assert_well_formed(&chunks, 500);
    assert!(chunks.len() >= 3, "{chunks:?}");
    let reopened: Vec<&[String]> = chunks
        .windows(2)
        .filter(|pair| pair[0].contains("let value_") && pair[1].starts_with("```rust\n"))
        .collect();
    assert!(
        !reopened.is_empty(),
        "the Rust block was never reopened: {chunks:?}"
    );
    for pair in reopened {
        assert!(pair[0].ends_with("\n```"), "not closed: {:?}", pair[0]);
        assert!(
            pair[1].starts_with("```rust\n    let value_"),
            "{:?}",
            pair[1]
        );
    }
    assert_eq!(content(&chunks.join("\n")), content(&text));
}

#[test]
fn a_short_block_that_would_straddle_the_cut_moves_whole_to_the_next_chunk() {
    let block = "```py\nprint(1)\nprint(2)\nprint(3)\n```";
    let text = format!(
        "{}\n\n{block}\n\n{}",
        "word ".repeat(34).trim_end(),
        prose(100, 9)
    );
    let chunks = split(&text, 200);
    assert_well_formed(&chunks, 200);
    assert!(!chunks[0].contains(FENCE), "{chunks:?}");
    assert!(chunks[1].starts_with(block), "{chunks:?}");
}

#[test]
fn a_text_ending_inside_a_fence_is_closed() {
    assert_eq!(
        split("look:\n```rust\nfn main() {}", DEFAULT_LIMIT),
        ["look:\n```rust\nfn main() {}\n```"]
    );
    assert_eq!(
        split("```\ncode\n``", DEFAULT_LIMIT),
        ["```\ncode\n```"],
        "a closing fence being typed is completed"
    );
    let balanced = format!("```\n{}\n```", "z".repeat(DEFAULT_LIMIT - 8));
    assert_eq!(split(&balanced, DEFAULT_LIMIT), [balanced]);
}

#[test]
fn a_hard_cut_never_tears_a_fence_marker() {
    let text = format!("{}``````", "a".repeat(38));
    let chunks = split(&text, 40);
    assert_eq!(chunks[0], "a".repeat(38));
}

#[test]
fn multi_byte_text_is_counted_in_characters() {
    let cjk = "漢字かな".repeat(750);
    let chunks = split(&cjk, DEFAULT_LIMIT);
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].chars().count(), DEFAULT_LIMIT);
    assert!(chunks[0].len() > DEFAULT_LIMIT, "bytes, not characters");
    assert_eq!(chunks.concat(), cjk);

    let emoji = "😀🎉 ".repeat(900);
    let chunks = split(&emoji, DEFAULT_LIMIT);
    assert_well_formed(&chunks, DEFAULT_LIMIT);
    assert_eq!(chunks.len(), 2);
    assert_eq!(content(&chunks.join("\n")), content(&emoji));
}

#[test]
fn sent_chunks_never_change_as_the_text_grows() {
    let long_line = format!("{} {}", "q".repeat(700), prose(500, 11));
    for text in [prose(1_500, 10), with_code(), long_line, mixed()] {
        for limit in [20, 64, 120, 333] {
            assert_stable_prefixes(&text, limit, 1);
        }
    }
    for seed in 0..40 {
        for limit in [33, 57] {
            assert_stable_prefixes(&fence_soup(120, seed), limit, 1);
        }
    }
    let long = format!("{}{}{}", prose(2_500, 12), with_code(), prose(2_500, 13));
    assert_stable_prefixes(&long, DEFAULT_LIMIT, 3);
}

#[test]
fn joined_chunks_keep_all_content() {
    let texts = [prose(5_000, 14), with_code(), mixed(), "w".repeat(4_100)];
    for text in &texts {
        for limit in [20, 64, 200, DEFAULT_LIMIT] {
            let chunks = split(text, limit);
            assert_well_formed(&chunks, limit);
            assert_eq!(content(&chunks.join("\n")), content(text), "limit {limit}");
        }
    }
}

#[test]
fn close_open_fence_closes_only_an_open_fence() {
    assert_eq!(close_open_fence("a\n```js\nx()"), "a\n```js\nx()\n```");
    assert_eq!(close_open_fence("```js\nx()\n"), "```js\nx()\n```");
    assert_eq!(close_open_fence("```js\nx()\n`"), "```js\nx()\n```");
    assert_eq!(close_open_fence("```\nx\n```\n"), "```\nx\n```\n");
    assert_eq!(
        close_open_fence("inline ```x``` only"),
        "inline ```x``` only"
    );
    assert_eq!(close_open_fence("no fences"), "no fences");
}
