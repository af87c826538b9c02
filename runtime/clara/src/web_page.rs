//! Pages people open in a browser from a link in the chat (connecting an account, an inbox):
//! the seam the status endpoint serves them through, and the small HTML they are written in.

use clara_core::llm::BoxFuture;

/// An HTML page and its HTTP status.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// The page.
    pub html: String,
}

/// A browser's request, as a page source sees it. No `Debug`: a posted form may hold a
/// password.
pub struct PageRequest<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The path.
    pub path: &'a str,
    /// The query string, undecoded.
    pub query: Option<&'a str>,
    /// A posted form's fields, decoded.
    pub form: &'a [(String, String)],
}

/// Pages under one path prefix (`/oauth/`) of the status endpoint.
pub trait PageSource: Send + Sync {
    /// The prefix it answers, starting and ending with `/`.
    fn prefix(&self) -> &'static str;

    /// The page for `request`, or `None` when the path is not one of its pages.
    fn page<'a>(&'a self, request: PageRequest<'a>) -> BoxFuture<'a, Option<Page>>;
}

/// A field of a form page.
#[derive(Debug)]
pub struct Field<'a> {
    /// Its name in the posted form.
    pub name: &'a str,
    /// Its label.
    pub label: &'a str,
    /// `text`, `password`, `number`, `checkbox` or `hidden`.
    pub kind: &'a str,
    /// Its value to start with.
    pub value: &'a str,
}

impl Page {
    /// A page holding `text`.
    pub fn text(status: u16, text: &str) -> Page {
        Page::new(status, &format!("<p>{}</p>", escape(text)))
    }

    /// A page holding `text` and a link on, shown as a button.
    pub fn link(text: &str, label: &str, url: &str) -> Page {
        Page::new(
            200,
            &format!(
                "<p>{}</p>\n<p><a href=\"{}\" style=\"{BUTTON}\">{}</a></p>",
                escape(text),
                escape(url),
                escape(label)
            ),
        )
    }

    /// A page holding `text` and a form posted back to the same address.
    pub fn form(status: u16, text: &str, fields: &[Field<'_>], button: &str) -> Page {
        let mut inputs = String::new();
        for field in fields {
            let (name, kind, value) = (escape(field.name), escape(field.kind), escape(field.value));
            let input = match field.kind {
                "checkbox" => {
                    let checked = if field.value.is_empty() {
                        ""
                    } else {
                        " checked"
                    };
                    format!("<input type=\"checkbox\" name=\"{name}\" value=\"on\"{checked}>")
                }
                _ => format!(
                    "<input type=\"{kind}\" name=\"{name}\" value=\"{value}\" autocomplete=\"off\" style=\"width:100%;padding:.4em\">"
                ),
            };
            if field.kind == "hidden" {
                inputs.push_str(&input);
            } else {
                inputs.push_str(&format!(
                    "<p><label>{}<br>{input}</label></p>\n",
                    escape(field.label)
                ));
            }
        }
        Page::new(
            status,
            &format!(
                "<p>{}</p>\n<form method=\"post\">\n{inputs}<p><button type=\"submit\" style=\"{BUTTON};border:0\">{}</button></p>\n</form>",
                escape(text),
                escape(button)
            ),
        )
    }

    fn new(status: u16, body: &str) -> Page {
        Page {
            status,
            html: format!(
                "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta name=\"referrer\" content=\"no-referrer\"><title>clara</title></head>\n<body style=\"font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em\">{body}</body></html>\n"
            ),
        }
    }
}

const BUTTON: &str = "display:inline-block;padding:.6em 1.2em;border-radius:6px;background:#2563eb;color:#fff;text-decoration:none";

/// `text` safe inside an element or a quoted attribute (either quote).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_everywhere() {
        let page = Page::form(
            200,
            "<b>hi</b>",
            &[Field {
                name: "address",
                label: "Address \"x\"",
                kind: "text",
                value: "a\"><script>",
            }],
            "Go & see",
        );
        assert!(!page.html.contains("<script>") && !page.html.contains("<b>"));
        assert!(page.html.contains("value=\"a&quot;&gt;&lt;script&gt;\""));
        assert!(page.html.contains(">Go &amp; see</button>"));
    }
}
