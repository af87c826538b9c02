//! URL templates (an HTTP tool's `url`): every value printed into one is percent-encoded as a
//! single path segment or query value, so a call's arguments can never add a `/`, `?`, `#` or
//! `&` to the request; `| path` spells a value out as several segments, each encoded, never
//! `.` or `..`. A rendered URL whose path still holds a dot segment is refused by
//! [`has_dot_segment`].

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::Value;

/// A clara engine whose every `{{ … }}` output is encoded for a URL.
pub fn url_engine() -> tera::Tera {
    let mut tera = super::engine();
    tera.autoescape_on(vec![""]);
    tera.set_escape_fn(encode_component);
    tera.register_filter("path", PathFilter);
    tera
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `{{ args.path | path }}`: `docs/README.md` as two encoded segments.
struct PathFilter;

impl tera::Filter for PathFilter {
    fn filter(&self, value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let mut segments = Vec::new();
        for segment in text.split('/').filter(|s| !s.is_empty()) {
            if segment == "." || segment == ".." {
                return Err(tera::Error::msg(
                    "a path may not contain `.` or `..` segments",
                ));
            }
            segments.push(encode_component(segment));
        }
        Ok(Value::String(segments.join("/")))
    }

    fn is_safe(&self) -> bool {
        true
    }
}

/// Whether the path of `url` holds a `.` or `..` segment, written out or percent-encoded —
/// which a URL parser would resolve, moving the request elsewhere.
pub fn has_dot_segment(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let Some(path_start) = after_scheme.find('/') else {
        return false;
    };
    let path = &after_scheme[path_start..];
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, args: Value) -> Result<String, String> {
        let mut tera = url_engine();
        tera.add_raw_template("url", template).unwrap();
        let mut context = tera::Context::new();
        context.insert("args", &args);
        tera.render("url", &context)
            .map_err(|e| crate::template::chain(&e))
    }

    #[test]
    fn values_are_one_encoded_segment_or_query_value() {
        let url = render(
            "https://api.github.com/repos/{{ args.owner }}/{{ args.repo }}/issues?q={{ args.q }}&n={{ args.n }}",
            serde_json::json!({ "owner": "../../user/repos#", "repo": "a b", "q": "x&y=1+2", "n": 7 }),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://api.github.com/repos/..%2F..%2Fuser%2Frepos%23/a%20b/issues?q=x%26y%3D1%2B2&n=7"
        );
        assert!(!has_dot_segment(&url));
    }

    #[test]
    fn a_path_value_keeps_its_slashes_but_never_climbs() {
        let file = "https://x/contents/{{ args.path | path }}";
        assert_eq!(
            render(file, serde_json::json!({ "path": "/docs/My File.md" })).unwrap(),
            "https://x/contents/docs/My%20File.md"
        );
        let err = render(file, serde_json::json!({ "path": "docs/../../secrets" })).unwrap_err();
        assert!(err.contains("`..`"), "{err}");
    }

    #[test]
    fn dot_segments_are_found_however_written() {
        assert!(has_dot_segment("https://h/repos/../user"));
        assert!(has_dot_segment("https://h/repos/%2E%2e/user"));
        assert!(has_dot_segment("https://h/a/./b"));
        assert!(has_dot_segment("https://h/a/.."));
        assert!(!has_dot_segment("https://h/a/..b/c?x=/../"));
        assert!(!has_dot_segment("https://h"));
    }
}
