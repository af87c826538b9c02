//! What `clara test` prints and writes: one line per case, each failure with where it is
//! written and what differed (the changed lines, for texts of several lines), and JUnit XML
//! for CI.

use std::fmt::Write as _;

use clara_config::text_diff::changed_lines;

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
            for line in changed_lines(&failure.expected, &failure.got) {
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
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
    }
}
