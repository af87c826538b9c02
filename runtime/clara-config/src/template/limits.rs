//! Limits read off a template's text before tera parses it. tera's parser and renderer recurse
//! once per level of nesting and per operator in a chain, so a few kilobytes of `((((` or
//! `{% if %}` would overflow the stack; here they are a clear error instead.

use super::TemplateProblem;

/// Deepest nesting of blocks (`if`, `for`, `macro`, …), and of brackets inside one tag.
pub const MAX_NESTING: usize = 32;

/// Most operators in one tag (`a + b ~ c and d` has three).
pub const MAX_OPERATORS: usize = 64;

/// Tags that open a block closed by an `end…` tag.
const OPENERS: &[&str] = &["if", "for", "macro", "block", "filter"];

const WORD_OPERATORS: &[&str] = &["and", "or", "not", "in", "is"];

pub(super) fn check(text: &str) -> Result<(), TemplateProblem> {
    let bytes = text.as_bytes();
    let mut blocks = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b'#' => i = after(text, i + 2, "#}"),
            b'{' | b'%' => {
                let tag = scan_tag(text, i)?;
                i = tag.end;
                match tag.name {
                    "raw" => i = after_endraw(text, i),
                    name if OPENERS.contains(&name) => {
                        blocks += 1;
                        if blocks > MAX_NESTING {
                            return Err(problem(
                                tag.start,
                                format!("blocks are nested more than {MAX_NESTING} levels deep"),
                            ));
                        }
                    }
                    name if name.starts_with("end") => blocks = blocks.saturating_sub(1),
                    _ => {}
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

struct Tag<'a> {
    start: usize,
    /// Just past the closing `}}` / `%}` (or the end of the text when there is none; tera then
    /// reports it).
    end: usize,
    /// The statement of a `{% … %}` tag (`if`, `endfor`); empty for `{{ … }}`.
    name: &'a str,
}

fn scan_tag(text: &str, start: usize) -> Result<Tag<'_>, TemplateProblem> {
    let bytes = text.as_bytes();
    let statement = bytes[start + 1] == b'%';
    let close = if statement { b'%' } else { b'}' };
    let mut i = start + 2;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    let name = if statement {
        let from = i + text[i..].len() - text[i..].trim_start().len();
        let len = text[from..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len() - from);
        &text[from..from + len]
    } else {
        ""
    };
    let (mut depth, mut operators) = (0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => {
                i = text[i + 1..]
                    .find(b as char)
                    .map_or(bytes.len(), |j| i + 1 + j + 1);
                continue;
            }
            _ if b == close && bytes.get(i + 1) == Some(&b'}') => {
                return Ok(Tag {
                    start,
                    end: i + 2,
                    name,
                });
            }
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(problem(
                        i,
                        format!("brackets are nested more than {MAX_NESTING} levels deep"),
                    ));
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'~' | b'<' | b'>' => operators += 1,
            b'=' | b'!' if bytes.get(i + 1) == Some(&b'=') => {
                operators += 1;
                i += 1;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let len = text[i..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(text.len() - i);
                if WORD_OPERATORS.contains(&&text[i..i + len]) {
                    operators += 1;
                }
                i += len;
                continue;
            }
            _ => {}
        }
        if operators > MAX_OPERATORS {
            return Err(problem(
                start,
                format!(
                    "more than {MAX_OPERATORS} operators in one tag; split the expression with `{{% set %}}`"
                ),
            ));
        }
        i += 1;
    }
    Ok(Tag {
        start,
        end: bytes.len(),
        name,
    })
}

/// The offset just past the next `marker` at or after `from`, or the end of the text.
fn after(text: &str, from: usize, marker: &str) -> usize {
    text[from..]
        .find(marker)
        .map_or(text.len(), |j| from + j + marker.len())
}

/// Past the `{% endraw %}` that closes a raw block opened just before `from`.
fn after_endraw(text: &str, from: usize) -> usize {
    let mut i = from;
    while let Some(j) = text[i..].find("{%") {
        let tag_start = i + j;
        let rest = text[tag_start + 2..].trim_start_matches('-').trim_start();
        if rest.starts_with("endraw") {
            return after(text, tag_start, "%}");
        }
        i = tag_start + 2;
    }
    text.len()
}

fn problem(offset: usize, message: String) -> TemplateProblem {
    TemplateProblem {
        offset: Some(offset),
        line_col: None,
        message,
    }
}
