//! YAML into the position-keeping document tree, built straight from the parser's events so
//! that nesting depth and the size aliases expand to are bounded while the tree grows (a
//! hostile file fails with a position instead of exhausting the stack or memory). saphyr is
//! used on purpose: it is maintained, follows YAML 1.2 (so `on:` is a key, not `true`) and
//! gives every event a span.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr::{Scalar, ScalarStyle, Tag};
use saphyr_parser::{Event, Parser, ScanError, Span};

use super::{At, Entry, MAX_DEPTH, Node, SyntaxError, Value};

/// The most a document may weigh once its aliases are expanded: scalar bytes plus
/// [`NODE_WEIGHT`] per node. A file within the size cap weighs far less without aliases, so
/// only alias amplification reaches it.
pub const MAX_EXPANDED_BYTES: usize = 8 * 1024 * 1024;

/// What one node costs beyond its text, roughly what it takes written out.
const NODE_WEIGHT: usize = 8;

/// Parses YAML text (one document) into a document, or the first error.
pub fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|err| scan_error(&err))?;
        builder.event(event, span)?;
    }
    Ok(builder
        .root
        .filter(|root| !matches!(root.value, Value::Null))
        .unwrap_or_else(|| Node::new(At::START, Value::Map(Vec::new()))))
}

fn scan_error(err: &ScanError) -> SyntaxError {
    SyntaxError {
        at: At::Pos {
            line: err.marker().line() as u32,
            col: err.marker().col() as u32 + 1,
        },
        message: err.info().to_owned(),
    }
}

fn at_of(span: &Span) -> At {
    At::Pos {
        line: span.start.line().max(1) as u32,
        col: span.start.col() as u32 + 1,
    }
}

/// A sequence or mapping being filled.
struct Frame {
    at: At,
    anchor: usize,
    /// The weight of everything inside so far.
    weight: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The keys so far, so a repeated one is caught without rescanning the entries.
        keys: HashSet<String>,
        /// A key read, waiting for its value.
        key: Option<(String, At)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes with their weights, for aliases.
    anchors: HashMap<usize, (Node, usize)>,
    /// The weight of the document so far, aliases expanded.
    total: usize,
    documents: usize,
    root: Option<Node>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let at = at_of(&span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError {
                        at,
                        message: "only one YAML document per file".to_owned(),
                    });
                }
            }
            Event::SequenceStart(anchor, _) => self.open(at, anchor, FrameKind::Seq(Vec::new()))?,
            Event::MappingStart(anchor, _) => self.open(
                at,
                anchor,
                FrameKind::Map {
                    entries: Vec::new(),
                    keys: HashSet::new(),
                    key: None,
                },
            )?,
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("the parser balances its events");
                let value = match frame.kind {
                    FrameKind::Seq(items) => Value::Seq(items),
                    FrameKind::Map { entries, .. } => Value::Map(entries),
                };
                let weight = frame.weight + NODE_WEIGHT;
                self.insert(
                    Node::new(frame.at, value),
                    weight,
                    NODE_WEIGHT,
                    frame.anchor,
                )?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let weight = text.len() + NODE_WEIGHT;
                let value = scalar(text, style, tag.as_deref()).ok_or_else(|| SyntaxError {
                    at: at.clone(),
                    message: "this value cannot be read".to_owned(),
                })?;
                self.insert(Node::new(at, value), weight, weight, anchor)?;
            }
            Event::Alias(id) => {
                let Some((node, weight)) = self.anchors.get(&id) else {
                    return Err(SyntaxError {
                        at,
                        message: "unknown alias".to_owned(),
                    });
                };
                let (mut node, weight) = (node.clone(), *weight);
                node.at = at;
                self.insert(node, weight, weight, 0)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn open(&mut self, at: At, anchor: usize, kind: FrameKind) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(SyntaxError {
                at,
                message: format!("nested more than {MAX_DEPTH} levels deep"),
            });
        }
        self.stack.push(Frame {
            at,
            anchor,
            weight: 0,
            kind,
        });
        Ok(())
    }

    /// Adds a finished node to its parent (or makes it the document). `weight` is the node's
    /// whole weight; `added` is what it adds to the document beyond what its contents already
    /// did (all of it for a scalar or an alias's copy, the node itself for a container).
    fn insert(
        &mut self,
        node: Node,
        weight: usize,
        added: usize,
        anchor: usize,
    ) -> Result<(), SyntaxError> {
        self.total = self.total.saturating_add(added);
        if self.total > MAX_EXPANDED_BYTES {
            return Err(SyntaxError {
                at: node.at.clone(),
                message: format!(
                    "YAML aliases expand this file beyond {} MiB; write the values out",
                    MAX_EXPANDED_BYTES / (1024 * 1024)
                ),
            });
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        parent.weight = parent.weight.saturating_add(weight);
        match &mut parent.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, keys, key } => match key.take() {
                None => {
                    let (Value::Str(text) | Value::Datetime(text)) = scalar_key(node.value) else {
                        return Err(SyntaxError {
                            at: node.at,
                            message: "keys must be plain strings".to_owned(),
                        });
                    };
                    if !keys.insert(text.clone()) {
                        return Err(SyntaxError {
                            at: node.at,
                            message: format!("duplicated key `{text}` in mapping"),
                        });
                    }
                    *key = Some((text, node.at));
                }
                Some((key, key_at)) => entries.push(Entry {
                    key,
                    key_at,
                    value: node,
                }),
            },
        }
        Ok(())
    }
}

/// A scalar's value under YAML 1.2's core schema; `None` when a core tag (`!!int`) does not
/// fit the text. Other tags are read as if absent.
fn scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Tag>) -> Option<Value> {
    let tag = tag.filter(|t| t.is_yaml_core_schema()).map(Cow::Borrowed);
    Some(
        match Scalar::parse_from_cow_and_metadata(text, style, tag.as_ref())? {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(b),
            Scalar::Integer(i) => Value::Int(i),
            Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
            Scalar::String(s) => Value::Str(s.into_owned()),
        },
    )
}

/// A key's text: scalars are spelt out (`1`, `true`, `null`), containers are not keys.
fn scalar_key(value: Value) -> Value {
    match value {
        Value::Null => Value::Str("null".to_owned()),
        Value::Bool(b) => Value::Str(b.to_string()),
        Value::Int(i) => Value::Str(i.to_string()),
        Value::Float(f) => Value::Str(f.to_string()),
        other => other,
    }
}
