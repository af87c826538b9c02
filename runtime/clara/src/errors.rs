//! How an error is shown to a person: with its causes, since the useful part (the refused
//! connection, tera's complaint) is usually a source, not the outer message.

/// An error with its sources, `outer: inner: …`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}
