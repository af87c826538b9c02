//! The console's HTML: the page around every view (navigation, the live-update hook, light
//! and dark), and the small pieces views are made of. Every value is escaped here.

use std::fmt::Write;

/// The console's sections, in the navigation's order: (path, label).
const SECTIONS: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/console/turns", "Turns"),
    ("/console/conversations", "Conversations"),
    ("/console/memory", "Memory"),
    ("/console/channels", "Channels"),
    ("/console/schedule", "Schedule"),
    ("/console/tools", "Tools"),
    ("/console/config", "Config"),
];

pub(super) use crate::web_page::escape;

/// A stored time (milliseconds since the epoch) to the minute, in UTC.
pub(super) fn time(at: i64) -> String {
    chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, at)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A value for a URL's query string.
pub(super) fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A whole page: `main` is the view's HTML, already escaped. `live` views are fetched again
/// whenever a turn finishes. A logged-in visitor gets a logout button carrying `logout`, the
/// session's CSRF token.
pub(super) fn page(
    title: &str,
    active: &str,
    main: &str,
    live: bool,
    logout: Option<&str>,
) -> String {
    let mut nav = String::new();
    for (path, label) in SECTIONS {
        let current = if *path == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{path}\"{current}>{label}</a>");
    }
    let logout = logout.map_or_else(String::new, |csrf| {
        post_button("/console/logout", csrf, &[], "Log out")
            .replace("class=\"inline\"", "class=\"logout\"")
    });
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{title} · clara</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body><header><span class=\"brand\">clara</span><nav aria-label=\"Sections\">{nav}</nav>\
         <span id=\"live-status\" class=\"live\" aria-live=\"polite\"></span>{logout}</header>\
         <main id=\"main\" data-live=\"{live}\">{main}</main></body></html>\n",
        title = escape(title),
    )
}

/// A table: a caption, the column heads and rows of cells (already HTML).
pub(super) fn table(caption: &str, heads: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    let mut out = format!("<table><caption>{}</caption><thead><tr>", escape(caption));
    for head in heads {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(head));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"empty\">{}</td></tr>",
            heads.len(),
            escape(empty)
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Label-value pairs (values already HTML).
pub(super) fn facts(pairs: &[(&str, String)]) -> String {
    let mut out = String::from("<dl class=\"facts\">");
    for (label, value) in pairs {
        let _ = write!(out, "<div><dt>{}</dt><dd>{value}</dd></div>", escape(label));
    }
    out.push_str("</dl>");
    out
}

/// `text` cut to `limit` characters, with a link to `whole` when it was cut.
pub(super) fn truncated(text: &str, limit: usize, whole: &str) -> String {
    match text.char_indices().nth(limit) {
        Some((at, _)) => format!(
            "{}… <a href=\"{}\">show all {} characters</a>",
            escape(&text[..at]),
            escape(whole),
            text.chars().count()
        ),
        None => escape(text),
    }
}

/// A form that posts `fields` (and the session's CSRF token) to `action`.
pub(super) fn post_button(
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
    label: &str,
) -> String {
    let mut out = format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(action),
        escape(csrf)
    );
    for (name, value) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let _ = write!(out, "<button>{}</button></form>", escape(label));
    out
}
