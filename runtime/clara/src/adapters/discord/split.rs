//! Splitting a reply into Discord messages: chunks within a character limit, cut at
//! paragraph, line, sentence or word boundaries, with code fences closed at a cut and
//! reopened (same language) in the next chunk.
//!
//! Replies stream by editing messages, so a chunk once sent must never change as more text
//! arrives. Every cut is therefore chosen from the first `limit` characters of the remaining
//! text and the fence state carried into it, and nothing after them: for any text `T` and
//! extension `T + U`, every chunk of `split(T)` but the last is also a chunk of `split(T + U)`
//! at the same index.

/// A code fence's marker (a line starting with it, after any indentation, opens or closes).
const FENCE: &str = "```";

/// What closes a fence left open at a cut: the marker on its own line.
const CLOSING_FENCE: &str = "\n```";

/// Characters of [`CLOSING_FENCE`] (ASCII), kept free in every cut chunk near a fence.
const CLOSING_FENCE_CHARS: usize = CLOSING_FENCE.len();

/// Info strings longer than this are not a language tag and are not carried to a reopened
/// fence (a reopening line must stay short, it comes out of every following chunk's budget).
const MAX_INFO_CHARS: usize = 16;

/// Below this limit fences are cut like plain text: a reopening line plus a closing fence
/// would leave too little room for content.
const MIN_FENCED_LIMIT: usize = 32;

/// Splits `text` into chunks of at most `limit` characters (Discord counts characters, not
/// bytes), each right-trimmed; empty or whitespace-only text gives no chunks.
///
/// Text within the limit is one chunk. Longer text is cut, preferring (past the middle of the
/// window, so no chunk comes out short) a blank line, then a line break, then a sentence end,
/// then a space, and failing those a hard cut (never inside a character, nor inside a run of
/// backticks). A cut inside a code fence closes it at the end of the chunk and reopens it with
/// the same info string at the start of the next; a cut that would split a block opened past
/// the middle of the window moves before the block instead. Chunks touching a fence keep room
/// for its closing line, so fences are balanced in every chunk (the last one is closed too
/// when the text ends inside a fence) and no chunk exceeds `limit`.
///
/// The cuts are stable under appending (see the module documentation), so a streamed reply
/// can be re-split as it grows without rewriting the messages already sent.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let fenced = limit >= MIN_FENCED_LIMIT;
    let mut chunks = Vec::new();
    let mut open: Option<String> = None;
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches('\n');
        let trimmed = rest.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let reopening = open.as_deref().map(reopening_line).unwrap_or_default();
        let budget = limit - reopening.chars().count();
        if let Some(suffix) = final_suffix(trimmed, open.as_deref(), budget, fenced) {
            chunks.push(format!("{reopening}{trimmed}{suffix}"));
            break;
        }

        // Not fitting means `rest` has more than `budget` characters, or more than
        // `budget - CLOSING_FENCE_CHARS` when a fence is carried in or starts among its
        // first `budget`. So the head and window are complete whatever text follows, and the
        // cut, chosen from them alone, is the same for any continuation.
        let head = &rest[..byte_at_char(rest, budget)];
        let width = if fenced && (open.is_some() || has_fence_line(head)) {
            budget - CLOSING_FENCE_CHARS
        } else {
            budget
        };
        let window = &rest[..byte_at_char(rest, width)];
        let middle = byte_at_char(window, width / 2);
        let (mut end, mut resume) = boundary_cut(window, middle).unwrap_or_else(|| {
            let at = hard_cut(rest, window.len());
            (at, at)
        });
        let mut fences = scan(&rest[..end], open.as_deref(), fenced);
        if let Some(block_start) = fences.opened_at.filter(|&at| at > middle) {
            (end, resume) = (block_start, block_start);
            fences = scan(&rest[..end], open.as_deref(), fenced);
        }

        let body = rest[..end].trim_end();
        if !body.is_empty() {
            let closing = if fences.open.is_some() {
                CLOSING_FENCE
            } else {
                ""
            };
            chunks.push(format!("{reopening}{body}{closing}"));
        }
        open = fences.open;
        rest = &rest[resume..];
    }
    chunks
}

/// `text` with a closing fence appended when it ends inside a code fence (to show a partial
/// streamed chunk as a well-formed message); otherwise `text` unchanged. A last line that is
/// the start of a closing fence (one or two backticks) is completed instead.
pub fn close_open_fence(text: &str) -> String {
    let trimmed = text.trim_end();
    if scan(trimmed, None, true).open.is_none() {
        return text.to_owned();
    }
    format!("{trimmed}{}", closing_suffix(trimmed))
}

/// The suffix that makes `trimmed` (the right-trimmed rest, after a reopening line taking
/// `limit - budget` characters) a final chunk within `budget`, or `None` when it needs a cut.
///
/// Whether it fits counts the fewest characters any continuation could close an open fence
/// with. Length plus that never shrinks as text is appended (a longer text closes no
/// sooner), which is what keeps a cut chunk from turning into a final one as text arrives.
fn final_suffix(
    trimmed: &str,
    open: Option<&str>,
    budget: usize,
    fenced: bool,
) -> Option<&'static str> {
    let length = trimmed.chars().take(budget + 1).count();
    if length > budget {
        return None;
    }
    let fences = scan(trimmed, open, fenced);
    if fences.open.is_none() {
        return Some("");
    }
    [closing_suffix(trimmed), shortest_closing(trimmed, &fences)]
        .into_iter()
        .find(|suffix| length + suffix.chars().count() <= budget)
}

/// What closes the fence open at the end of `trimmed` for display: completing a last line
/// of one or two backticks (a closing marker being typed), else a closing line.
fn closing_suffix(trimmed: &str) -> &'static str {
    let last_line = trimmed.rsplit('\n').next().unwrap_or_default().trim_start();
    match last_line {
        "`" => "``",
        "``" => "`",
        _ => CLOSING_FENCE,
    }
}

/// The fewest characters closing the fence open at the end of `trimmed`: when the last line
/// is the one that opened it, backticks that make it a one-line block (it may end in one or
/// two already); otherwise [`closing_suffix`].
fn shortest_closing(trimmed: &str, fences: &FenceScan) -> &'static str {
    match fences.opened_at {
        Some(at) if !trimmed[at..].contains('\n') => {
            let after_marker = &trimmed[at..].trim_start()[FENCE.len()..];
            let trailing = after_marker.len() - after_marker.trim_end_matches('`').len();
            &FENCE[trailing.min(2)..]
        }
        _ => closing_suffix(trimmed),
    }
}

/// The best boundary in `window` past byte `middle`, as (end of the chunk, start of the next
/// remainder): a blank line, a line break, a sentence end or a space, in that order.
fn boundary_cut(window: &str, middle: usize) -> Option<(usize, usize)> {
    let past_middle = |at: &usize| *at > middle;
    if let Some(at) = window.rfind("\n\n").filter(past_middle) {
        return Some((at, at + 2));
    }
    if let Some(at) = window.rfind('\n').filter(past_middle) {
        return Some((at, at + 1));
    }
    let sentence_end = [". ", "! ", "? "]
        .iter()
        .filter_map(|end| window.rfind(end))
        .max();
    if let Some(at) = sentence_end.filter(past_middle) {
        return Some((at + 1, at + 2));
    }
    window
        .rfind(' ')
        .filter(past_middle)
        .map(|at| (at + 1, at + 1))
}

/// A cut at byte `at` of `rest` (a char boundary), moved back to the start of a run of
/// backticks it would split so a fence marker is never torn in two.
fn hard_cut(rest: &str, at: usize) -> usize {
    let bytes = rest.as_bytes();
    let mut cut = at;
    while cut > 0 && bytes[cut - 1] == b'`' && bytes.get(cut) == Some(&b'`') {
        cut -= 1;
    }
    if cut == 0 { at } else { cut }
}

/// The fence state at the end of some text.
struct FenceScan {
    /// The info string of the fence open at the end, if one is.
    open: Option<String>,
    /// The byte offset of the line that opened it, when that line is in the scanned text.
    opened_at: Option<usize>,
}

/// Follows the fences of `text`, starting inside a fence with info `open` when set. A line
/// whose first non-blank characters are ``` opens a fence (or closes the open one); one that
/// opens and closes on the same line changes nothing. With `fenced` false nothing is a fence.
fn scan(text: &str, open: Option<&str>, fenced: bool) -> FenceScan {
    if !fenced {
        return FenceScan {
            open: None,
            opened_at: None,
        };
    }
    let mut state = FenceScan {
        open: open.map(str::to_owned),
        opened_at: None,
    };
    let mut line_start = 0;
    for line in text.split('\n') {
        if let Some(after) = line.trim_start().strip_prefix(FENCE) {
            if state.open.is_some() {
                state.open = None;
                state.opened_at = None;
            } else if !after.contains(FENCE) {
                state.open = Some(info_string(after));
                state.opened_at = Some(line_start);
            }
        }
        line_start += line.len() + 1;
    }
    state
}

/// Whether any line of `text` starts (after indentation) with a fence marker.
fn has_fence_line(text: &str) -> bool {
    text.split('\n')
        .any(|line| line.trim_start().starts_with(FENCE))
}

/// The language tag after an opening marker, or empty when it is not one.
fn info_string(after_marker: &str) -> String {
    let info = after_marker.trim();
    let is_tag = info.chars().count() <= MAX_INFO_CHARS
        && info
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-#._".contains(c));
    if is_tag {
        info.to_owned()
    } else {
        String::new()
    }
}

/// The line that reopens a fence with `info` at the start of a chunk.
fn reopening_line(info: &str) -> String {
    format!("{FENCE}{info}\n")
}

/// The byte offset of character `index` of `text`, or its length when it is shorter.
fn byte_at_char(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(at, _)| at)
}

#[cfg(test)]
mod tests;
