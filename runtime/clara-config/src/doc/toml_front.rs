//! TOML into the position-keeping document tree (toml's spanned `DeTable`).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{At, Entry, LineIndex, Node, SyntaxError, Value};

/// Parses TOML text into a document, or the first syntax error.
pub fn parse_toml(text: &str) -> Result<Node, SyntaxError> {
    let lines = LineIndex::new(text);
    match DeTable::parse(text) {
        Ok(table) => {
            let mut root = convert_table(table.get_ref(), &lines);
            root.at = At::START;
            Ok(root)
        }
        Err(err) => Err(SyntaxError {
            at: lines.at(err.span().map_or(0, |s| s.start)),
            message: first_line(err.message()),
        }),
    }
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or("syntax error")
        .trim()
        .to_owned()
}

fn convert(value: &Spanned<DeValue<'_>>, lines: &LineIndex<'_>) -> Node {
    let at = lines.at(value.span().start);
    let converted = match value.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            i64::from_str_radix(&digits, i.radix()).map_or(Value::Str(digits), Value::Int)
        }
        DeValue::Float(f) => parse_float(f.as_str()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Seq(items.iter().map(|v| convert(v, lines)).collect()),
        DeValue::Table(table) => {
            return Node {
                at,
                ..convert_table(table, lines)
            };
        }
    };
    Node::new(at, converted)
}

fn convert_table(table: &DeTable<'_>, lines: &LineIndex<'_>) -> Node {
    let entries = table
        .iter()
        .map(|(key, value)| Entry {
            key: key.get_ref().to_string(),
            key_at: lines.at(key.span().start),
            value: convert(value, lines),
        })
        .collect();
    Node::new(At::START, Value::Map(entries))
}

fn parse_float(text: &str) -> Value {
    let cleaned = text.replace('_', "");
    let parsed = match cleaned.trim_start_matches(['+', '-']) {
        "inf" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => cleaned.parse().ok(),
    }
    .map(|f| {
        if cleaned.starts_with('-') && !f.is_nan() && f > 0.0 {
            -f
        } else {
            f
        }
    });
    parsed.map_or(Value::Str(cleaned), Value::Float)
}
