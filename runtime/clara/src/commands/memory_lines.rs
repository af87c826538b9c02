//! Memories as JSON Lines, the form `clara memory export` writes and `import` reads: one
//! memory per line with its user, project, text, key flag and times. Embeddings are left out:
//! they belong to a model, and `clara run` makes them again for the one configured.

use clara_core::store::{Memory, Millis, NewMemory};
use serde::{Deserialize, Serialize};

/// One line.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryLine {
    /// The id it had where it was exported (informative: an import gives new ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Whose memory it is.
    pub user_id: String,
    /// Its project, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The fact.
    pub text: String,
    /// Whether it is a key memory.
    #[serde(default)]
    pub is_key: bool,
    /// When it was first stored (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Millis>,
    /// When it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Millis>,
}

impl From<&Memory> for MemoryLine {
    fn from(memory: &Memory) -> MemoryLine {
        MemoryLine {
            id: Some(memory.id.clone()),
            user_id: memory.user_id.clone(),
            project: memory.project.clone(),
            text: memory.text.clone(),
            is_key: memory.is_key,
            created_at: Some(memory.created_at),
            updated_at: Some(memory.updated_at),
        }
    }
}

impl MemoryLine {
    /// The memory to store, for `user` when given.
    pub fn to_new(&self, user: Option<&str>) -> NewMemory {
        NewMemory {
            user_id: user.unwrap_or(&self.user_id).to_owned(),
            project: self.project.clone(),
            text: self.text.clone(),
            is_key: self.is_key,
            embedding: None,
        }
    }
}

/// Every memory of `text`, or the first line that is not one (`line N: why`). Blank lines
/// are skipped.
pub fn parse(text: &str) -> Result<Vec<MemoryLine>, String> {
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: MemoryLine =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        if parsed.user_id.trim().is_empty() || parsed.text.trim().is_empty() {
            return Err(format!(
                "line {}: a memory needs a user_id and a text",
                n + 1
            ));
        }
        lines.push(parsed);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_bad_lines_are_named() {
        let memory = Memory {
            id: "m1".to_owned(),
            user_id: "ann".to_owned(),
            project: None,
            text: "Ann lives in Porto".to_owned(),
            is_key: true,
            created_at: 5,
            updated_at: 7,
        };
        let line = serde_json::to_string(&MemoryLine::from(&memory)).unwrap();
        assert_eq!(
            line,
            r#"{"id":"m1","user_id":"ann","text":"Ann lives in Porto","is_key":true,"created_at":5,"updated_at":7}"#
        );
        let parsed = parse(&format!(
            "{line}\n\n{{\"user_id\":\"bob\",\"text\":\"Bob flies\"}}\n"
        ))
        .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].to_new(Some("carol")).user_id, "carol");
        assert_eq!(
            parse("{\"user_id\":\"a\",\"text\":\"x\"}\nnot json").unwrap_err(),
            "line 2: expected ident at line 1 column 2"
        );
        assert!(
            parse(r#"{"user_id":"a","text":" "}"#)
                .unwrap_err()
                .starts_with("line 1: ")
        );
        assert!(
            parse(r#"{"user":"a","text":"x"}"#)
                .unwrap_err()
                .contains("unknown field")
        );
    }
}
