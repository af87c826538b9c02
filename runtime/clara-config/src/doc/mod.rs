//! A format-neutral document tree that remembers where every key and value was written, so
//! every later check can point at `path:line:col`. TOML and YAML both parse into it.

mod env_override;
mod toml_front;
mod yaml_front;

use std::fmt;
use std::sync::Arc;

pub use env_override::apply_env_overrides;
pub use toml_front::parse_toml;
pub use yaml_front::parse_yaml;

/// How deeply tables and lists may nest in a config file. Real files stay far below it; the
/// bound keeps every recursive walk over a document (checks, conversion, drop) on the stack.
pub const MAX_DEPTH: usize = 32;

/// Where something was written: a position in a file, or an environment variable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum At {
    /// A position in a file.
    Pos {
        /// 1-based line.
        line: u32,
        /// 1-based column, counted in characters.
        col: u32,
    },
    /// An override from this environment variable.
    Env(Arc<str>),
}

impl At {
    /// The start of a file.
    pub const START: At = At::Pos { line: 1, col: 1 };
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Pos { line, col } => write!(f, "{line}:{col}"),
            At::Env(var) => write!(f, "${var}"),
        }
    }
}

/// A value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub at: At,
    /// The value.
    pub value: Value,
}

/// A document value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// YAML `null` / `~`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A TOML date-time, kept as written.
    Datetime(String),
    /// A list.
    Seq(Vec<Node>),
    /// A table (TOML) or mapping (YAML), in written order.
    Map(Vec<Entry>),
}

/// One key of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key was written.
    pub key_at: At,
    /// Its value.
    pub value: Node,
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// Builds a path: `path!["steps", 2, "persona"]`.
#[macro_export]
macro_rules! path {
    ($($seg:expr),* $(,)?) => { [$($crate::doc::Seg::from($seg)),*] };
}

impl Node {
    /// A node at `at`.
    pub fn new(at: At, value: Value) -> Self {
        Node { at, value }
    }

    /// The entry for `key` when this is a table.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The node at `path`, if it exists.
    pub fn get(&self, path: &[Seg]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (Seg::Key(k), Value::Map(_)) => &node.entry(k)?.value,
                (Seg::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Where the value at `path` was written; the nearest written ancestor when it is absent.
    pub fn value_at(&self, path: &[Seg]) -> At {
        self.nearest(path, false)
    }

    /// Where the key at the end of `path` was written (the value for list items); the nearest
    /// written ancestor when it is absent.
    pub fn key_at(&self, path: &[Seg]) -> At {
        self.nearest(path, true)
    }

    fn nearest(&self, path: &[Seg], want_key: bool) -> At {
        let mut node = self;
        let mut at = self.at.clone();
        for (i, seg) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            match (seg, &node.value) {
                (Seg::Key(k), Value::Map(_)) => match node.entry(k) {
                    Some(entry) => {
                        at = if last && want_key {
                            entry.key_at.clone()
                        } else {
                            entry.value.at.clone()
                        };
                        node = &entry.value;
                    }
                    None => return at,
                },
                (Seg::Index(idx), Value::Seq(items)) => match items.get(*idx) {
                    Some(item) => {
                        at = item.at.clone();
                        node = item;
                    }
                    None => return at,
                },
                _ => return at,
            }
        }
        at
    }

    /// A short name of the value's type, for messages ("a string", "an integer", …).
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Datetime(_) => "a date-time",
            Value::Seq(_) => "an array",
            Value::Map(_) => "a table",
        }
    }

    /// The value as JSON, for serde deserialisation into the typed model.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) | Value::Datetime(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A syntax error: where and what.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub at: At,
    /// The parser's message.
    pub message: String,
}

/// Converts byte offsets of a source text into 1-based line and character column.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub(crate) fn at(&self, offset: usize) -> At {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        At::Pos {
            line: line as u32 + 1,
            col: col as u32 + 1,
        }
    }

    /// The byte offset of a position, the inverse of [`LineIndex::at`].
    pub(crate) fn offset(&self, line: u32, col: u32) -> Option<usize> {
        let start = *self.starts.get(line.checked_sub(1)? as usize)?;
        let rest = &self.text[start..];
        let skip = col.checked_sub(1)? as usize;
        rest.char_indices()
            .nth(skip)
            .map(|(i, _)| start + i)
            .or_else(|| (rest.chars().count() == skip).then_some(start + rest.len()))
    }
}

#[cfg(test)]
mod tests;
