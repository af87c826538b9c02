//! What an OAuth callback's query says (RFC 6749 §4.1.2): the code and the state, or the
//! provider's refusal in words safe to show on a page.

/// The code and state of a callback's `query`, or why there are none: access was not
/// granted, the provider answered an error code (kept to the characters such codes use), or
/// it sent no code.
pub fn callback_code(query: Option<&str>) -> Result<(String, String), String> {
    let params: Vec<(String, String)> = query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    if let Some(error) = param("error") {
        return Err(match error.as_str() {
            "access_denied" => "access was not granted".to_owned(),
            other => format!("the provider answered `{}`", safe(other)),
        });
    }
    match (param("code"), param("state")) {
        (Some(code), Some(state)) => Ok((code, state)),
        _ => Err("the provider sent no code".to_owned()),
    }
}

/// A provider's error code, kept to the characters such codes use.
fn safe(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_refusals_and_odd_answers_are_read_safely() {
        assert_eq!(
            callback_code(Some("code=c%201&state=s")),
            Ok(("c 1".to_owned(), "s".to_owned()))
        );
        assert_eq!(
            callback_code(Some("error=access_denied&state=s")),
            Err("access was not granted".to_owned())
        );
        assert_eq!(
            callback_code(Some("error=%3Cscript%3Eserver_error")),
            Err("the provider answered `scriptserver_error`".to_owned())
        );
        assert_eq!(
            callback_code(Some("state=s")),
            Err("the provider sent no code".to_owned())
        );
        assert_eq!(
            callback_code(None),
            Err("the provider sent no code".to_owned())
        );
    }
}
