//! What `clara test` prints and writes: one line per case, each failure with where it is
//! written and what differed (a line diff for texts of several lines), and JUnit XML for CI.

use std::fmt::Write as _;

use super::test_case::{CaseResult, Failure};

/// The report of one case, as printed.
pub fn case_text(case: &CaseResult) -> String {
    let millis = case.duration.as_millis();
    if case.failures.is_empty() {
        return format!("ok    {} ({}, {millis} ms)\n", case.name, case.file);
    }
    let mut out = format!("FAIL  {} ({}, {millis} ms)\n", case.name, case.file);
    for failure in &case.failures {
        out.push_str(&failure_text(failure));
    }
    out
}

fn failure_text(failure: &Failure) -> String {
    let mut out = String::new();
    let turn = match failure.turn {
        0 => String::new(),
        n => format!("turn {n}, "),
    };
    let _ = writeln!(out, "  {}: {turn}{}", failure.at, failure.what);
    match (failure.expected.contains('\n'), failure.got.contains('\n')) {
        // Two texts: what differs, line by line.
        (true, _) => {
            let _ = writeln!(out, "    --- expected");
            let _ = writeln!(out, "    +++ got");
            for line in around_changes(line_diff(&failure.expected, &failure.got), CONTEXT) {
                let _ = writeln!(out, "    {line}");
            }
        }
        // A condition on a long text (a prompt): the condition, then the text.
        (false, true) => {
            let _ = writeln!(out, "    expected: {}", failure.expected);
            let _ = writeln!(out, "    got:");
            for line in failure.got.lines() {
                let _ = writeln!(out, "      | {line}");
            }
        }
        (false, false) => {
            let _ = writeln!(out, "    expected: {}", failure.expected);
            let _ = writeln!(out, "    got:      {}", failure.got);
        }
    }
    out
}

/// Unchanged lines shown around each change in a diff.
const CONTEXT: usize = 3;

/// The lines of `diff` within `context` lines of a change, a `…` where others are left out.
fn around_changes(diff: Vec<String>, context: usize) -> Vec<String> {
    let changed: Vec<usize> = (0..diff.len())
        .filter(|&i| !diff[i].starts_with("  "))
        .collect();
    let near = |i: usize| {
        changed
            .iter()
            .any(|&c| i + context >= c && i <= c + context)
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (i, line) in diff.into_iter().enumerate() {
        if near(i) {
            if skipped {
                out.push("…".to_owned());
                skipped = false;
            }
            out.push(line);
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push("…".to_owned());
    }
    out
}

/// `a` to `b` line by line: ` ` kept, `-` only in `a`, `+` only in `b` (longest common
/// subsequence; fixture texts are short).
fn line_diff(a: &str, b: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut common = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

/// The results as JUnit XML: one suite, one test case per fixture, a failure element per
/// case that failed with every failure's text.
pub fn junit(cases: &[CaseResult]) -> String {
    let failed = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let seconds: f64 = cases.iter().map(|c| c.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{failed}\" time=\"{seconds:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"clara test\" tests=\"{}\" failures=\"{failed}\" time=\"{seconds:.3}\">",
        cases.len()
    );
    for case in cases {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\"",
            xml(&case.name),
            xml(&case.file),
            xml(&case.file),
            case.duration.as_secs_f64()
        );
        if case.failures.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        let first = &case.failures[0];
        let text: String = case.failures.iter().map(failure_text).collect();
        let _ = writeln!(
            out,
            ">\n      <failure message=\"{}: {}\">{}</failure>\n    </testcase>",
            xml(&first.at),
            xml(&first.what),
            xml(&text)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `text` escaped for XML text and attribute values; characters XML 1.0 cannot hold become
/// U+FFFD.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_marks_lines_only_on_one_side() {
        assert_eq!(
            line_diff("a\nb\nc", "a\nx\nc\nd"),
            ["  a", "- b", "+ x", "  c", "+ d"]
        );
        assert_eq!(line_diff("", "new"), ["+ new"]);
    }

    #[test]
    fn only_lines_near_a_change_are_shown() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\n9";
        assert_eq!(
            around_changes(line_diff(a, b), 1),
            ["…", "  4", "- 5", "+ five", "  6", "…"]
        );
        assert_eq!(around_changes(line_diff("x", "y"), 3), ["- x", "+ y"]);
    }

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
    }
}
