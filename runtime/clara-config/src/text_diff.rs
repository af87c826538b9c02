//! Line differences between two texts, as `clara test` and `clara plan` show them: ` ` kept,
//! `-` only in the old text, `+` only in the new, with a few kept lines around each change.

/// Kept lines shown around each change.
pub const CONTEXT: usize = 3;

/// `a` to `b` line by line (longest common subsequence; config texts are short).
pub fn line_diff(a: &str, b: &str) -> Vec<String> {
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

/// The lines of `diff` within `context` lines of a change, a `…` where others are left out.
pub fn around_changes(diff: Vec<String>, context: usize) -> Vec<String> {
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

/// [`line_diff`] cut to the lines around its changes.
pub fn changed_lines(a: &str, b: &str) -> Vec<String> {
    around_changes(line_diff(a, b), CONTEXT)
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
        assert_eq!(changed_lines("x", "y"), ["- x", "+ y"]);
    }
}
