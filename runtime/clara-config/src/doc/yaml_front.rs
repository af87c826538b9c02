//! YAML into the position-keeping document tree. saphyr is used on purpose: it is maintained,
//! follows YAML 1.2 (so `on:` is a key, not `true`) and gives every node a span.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::{At, Entry, Node, SyntaxError, Value};

/// Parses YAML text (one document) into a document, or the first error.
pub fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|err| SyntaxError {
        at: At::Pos {
            line: err.marker().line() as u32,
            col: err.marker().col() as u32 + 1,
        },
        message: err.info().to_owned(),
    })?;
    let mut docs = docs.into_iter();
    let Some(first) = docs.next() else {
        return Ok(Node::new(At::START, Value::Map(Vec::new())));
    };
    if let Some(second) = docs.next() {
        return Err(SyntaxError {
            at: at_of(&second),
            message: "only one YAML document per file".to_owned(),
        });
    }
    let mut root = convert(&first)?;
    if matches!(root.value, Value::Null) {
        root.value = Value::Map(Vec::new());
    }
    Ok(root)
}

fn at_of(node: &MarkedYaml<'_>) -> At {
    let start = node.span.start;
    At::Pos {
        line: start.line().max(1) as u32,
        col: start.col() as u32 + 1,
    }
}

fn convert(node: &MarkedYaml<'_>) -> Result<Node, SyntaxError> {
    let at = at_of(node);
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        YamlData::Representation(text, _, _) => Value::Str(text.to_string()),
        YamlData::Sequence(items) => {
            Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (key, value) in map {
                let key_text = match &key.data {
                    YamlData::Value(scalar) => scalar_text(scalar),
                    _ => {
                        return Err(SyntaxError {
                            at: at_of(key),
                            message: "keys must be plain strings".to_owned(),
                        });
                    }
                };
                entries.push(Entry {
                    key: key_text,
                    key_at: at_of(key),
                    value: convert(value)?,
                });
            }
            Value::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(inner),
        YamlData::Alias(_) => {
            return Err(SyntaxError {
                at,
                message: "YAML aliases are not supported; write the value out".to_owned(),
            });
        }
        YamlData::BadValue => {
            return Err(SyntaxError {
                at,
                message: "this value cannot be read".to_owned(),
            });
        }
    };
    Ok(Node::new(at, value))
}

fn scalar_value(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
        Scalar::String(s) => Value::Str(s.to_string()),
    }
}

fn scalar_text(scalar: &Scalar<'_>) -> String {
    match scalar {
        Scalar::Null => "null".to_owned(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.to_string(),
        Scalar::String(s) => s.to_string(),
    }
}
