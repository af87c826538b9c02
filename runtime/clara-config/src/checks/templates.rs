//! Checks that tera templates parse, and points a syntax error at its line and column in the
//! file, inside the string that holds the template.

use crate::doc::{At, LineIndex, Seg};
use crate::problem::Problem;
use crate::set::Source;

use super::Report;

/// Checks the template held by the string at `path` of `source`.
pub(crate) fn check_value(report: &mut Report<'_>, source: &Source, path: &[Seg], text: &str) {
    let Some((line, col, message)) = parse_error(text) else {
        return;
    };
    let start = source.doc.value_at(path);
    let at = locate_in_string(source, &start, line, col).unwrap_or(start);
    report.problems.push(Problem::at(&source.rel, at, message));
}

/// Where byte `offset` of the template held by the string at `path` of `source` is in the file.
pub(crate) fn position_in_value(source: &Source, path: &[Seg], text: &str, offset: usize) -> At {
    let start = source.doc.value_at(path);
    match LineIndex::new(text).at(offset) {
        At::Pos { line, col } => locate_in_string(source, &start, line, col).unwrap_or(start),
        _ => start,
    }
}

/// Checks a whole file that is one template (a persona's `NAME.md`).
pub(crate) fn check_file(report: &mut Report<'_>, rel: &str, text: &str) {
    if let Some((line, col, message)) = parse_error(text) {
        report
            .problems
            .push(Problem::at(rel, At::Pos { line, col }, message));
    }
}

/// The 1-based position inside the template and what is wrong, when it does not parse or is
/// not safe to render.
fn parse_error(text: &str) -> Option<(u32, u32, String)> {
    let problem = crate::template::check(text).err()?;
    if let Some(offset) = problem.offset {
        let At::Pos { line, col } = LineIndex::new(text).at(offset) else {
            return None;
        };
        return Some((line, col, format!("template: {}", problem.message)));
    }
    let (line, col) = problem.line_col.unwrap_or((1, 1));
    if reached_the_end(text, line, col)
        && let Some(unclosed) = unclosed_block(text)
    {
        return Some(unclosed);
    }
    Some((
        line,
        col,
        format!("template does not parse: {}", shorten(&problem.message)),
    ))
}

/// Whether the parser failed at the end of the text, as it does when a block is never closed.
fn reached_the_end(text: &str, line: u32, col: u32) -> bool {
    let At::Pos {
        line: end_line,
        col: end_col,
    } = LineIndex::new(text).at(text.trim_end().len())
    else {
        return false;
    };
    (line, col) >= (end_line, end_col)
}

/// The innermost `{% if %}` / `{% for %}` / … without its `{% end… %}`, as a position in the
/// template and a message that says how to close it.
fn unclosed_block(text: &str) -> Option<(u32, u32, String)> {
    static TAGS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        regex::Regex::new(r"\{%-?\s*(end)?(if|for|macro|block|filter|raw)\b")
            .expect("valid pattern")
    });
    let mut open: Vec<(&str, usize)> = Vec::new();
    for caps in tags.captures_iter(text) {
        let kind = caps.get(2).expect("group 2 always matches").as_str();
        if caps.get(1).is_some() {
            if let Some(i) = open.iter().rposition(|(k, _)| *k == kind) {
                open.truncate(i);
            }
        } else {
            open.push((kind, caps.get(0).expect("whole match").start()));
        }
    }
    let (kind, offset) = open.pop()?;
    let At::Pos { line, col } = LineIndex::new(text).at(offset) else {
        return None;
    };
    Some((
        line,
        col,
        format!(
            "template does not parse: `{{% {kind} %}}` is never closed; add `{{% end{kind} %}}`"
        ),
    ))
}

/// pest lists every token that could follow; the last alternatives (the closing tag that is
/// missing, usually) are the ones a person needs.
fn shorten(reason: &str) -> String {
    match (
        reason.strip_prefix("expected "),
        reason.rsplit_once(", or "),
    ) {
        (Some(_), Some((_, last))) => format!("expected {last}"),
        _ => reason.to_owned(),
    }
}

/// Maps a position inside a string value to a position in the file, for TOML strings (basic,
/// literal, multi-line) and YAML scalars (plain, quoted, block).
fn locate_in_string(source: &Source, start: &At, line: u32, col: u32) -> Option<At> {
    let At::Pos {
        line: value_line,
        col: value_col,
    } = *start
    else {
        return None;
    };
    let lines = LineIndex::new(&source.text);
    let offset = lines.offset(value_line, value_col)?;
    let rest = &source.text[offset..];
    let opener = ["\"\"\"", "'''", "|", ">", "\"", "'"]
        .into_iter()
        .find(|o| rest.starts_with(o))
        .unwrap_or("");
    let multi_line = matches!(opener, "\"\"\"" | "'''");
    if source.yaml && !matches!(opener, "\"" | "'") {
        // Block scalars: content lines keep their indentation in the file.
        let header = usize::from(matches!(opener, "|" | ">")) as u32;
        let content_line = value_line + header + line - 1;
        if line == 1 && header == 0 {
            return Some(At::Pos {
                line: value_line,
                col: value_col + col - 1,
            });
        }
        let indent = source
            .text
            .lines()
            .nth(content_line as usize - 1)?
            .chars()
            .take_while(|c| *c == ' ')
            .count() as u32;
        return Some(At::Pos {
            line: content_line,
            col: indent + col,
        });
    }
    let mut content_start = offset + opener.len();
    if multi_line {
        let after = &source.text[content_start..];
        if after.starts_with("\r\n") {
            content_start += 2;
        } else if after.starts_with('\n') {
            content_start += 1;
        }
    }
    let At::Pos {
        line: first_line,
        col: first_col,
    } = lines.at(content_start)
    else {
        return None;
    };
    Some(if line == 1 {
        At::Pos {
            line: first_line,
            col: first_col + col - 1,
        }
    } else {
        At::Pos {
            line: first_line + line - 1,
            col,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{parse_toml, parse_yaml};
    use crate::path;

    fn located(text: &str, yaml: bool) -> Vec<String> {
        let doc = if yaml {
            parse_yaml(text).unwrap()
        } else {
            parse_toml(text).unwrap()
        };
        let source = Source {
            rel: "f".to_owned(),
            text: text.to_owned(),
            doc,
            yaml,
        };
        let template = source
            .doc
            .get(&path!["t"])
            .unwrap()
            .to_json()
            .as_str()
            .unwrap()
            .to_owned();
        let mut problems = Vec::new();
        check_value(
            &mut Report {
                problems: &mut problems,
            },
            &source,
            &path!["t"],
            &template,
        );
        problems
            .iter()
            .map(|p| p.at.as_ref().unwrap().to_string())
            .collect()
    }

    #[test]
    fn errors_point_inside_the_string() {
        assert_eq!(located("t = \"hi {{ name }\"", false), ["1:17"]);
        assert_eq!(
            located("x = 1\nt = \"\"\"\nline one\nbad {% if %}\n\"\"\"", false),
            ["4:11"]
        );
        assert_eq!(located("t = '''first {{ }}'''", false), ["1:17"]);
        assert_eq!(located("t: |\n  fine\n  {{ oops }\n", true), ["3:11"]);
        assert!(located("t = \"{{ fine }}\"", false).is_empty());
    }

    #[test]
    fn an_unclosed_block_points_at_its_opening_tag() {
        let message = |t: &str| parse_error(t).map(|(l, c, m)| format!("{l}:{c}: {m}"));
        assert_eq!(
            message("a\n{% for x in xs %}{% if x %}{{ x }}{% endif %}\nb"),
            Some(
                "2:1: template does not parse: `{% for %}` is never closed; add `{% endfor %}`"
                    .to_owned()
            )
        );
        assert_eq!(
            message("{% if a %}{% if b %}x{% endif %}"),
            Some(
                "1:1: template does not parse: `{% if %}` is never closed; add `{% endif %}`"
                    .to_owned()
            )
        );
        assert_eq!(message("{% if a %}x{% endif %}"), None);
    }
}
