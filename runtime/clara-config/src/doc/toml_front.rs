//! TOML into the position-keeping document tree (toml's spanned `DeTable`).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{At, Entry, LineIndex, MAX_DEPTH, Node, SyntaxError, Value};

/// Parses TOML text into a document, or the first syntax error.
pub fn parse_toml(text: &str) -> Result<Node, SyntaxError> {
    let lines = LineIndex::new(text);
    match DeTable::parse(text) {
        Ok(table) => {
            let mut root = convert_table(table.get_ref(), &lines, 0)?;
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

fn convert(
    value: &Spanned<DeValue<'_>>,
    lines: &LineIndex<'_>,
    depth: usize,
) -> Result<Node, SyntaxError> {
    let at = lines.at(value.span().start);
    if depth >= MAX_DEPTH && matches!(value.get_ref(), DeValue::Array(_) | DeValue::Table(_)) {
        return Err(SyntaxError {
            at,
            message: format!("nested more than {MAX_DEPTH} levels deep"),
        });
    }
    let converted = match value.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            i64::from_str_radix(&digits, i.radix()).map_or(Value::Str(digits), Value::Int)
        }
        DeValue::Float(f) => parse_float(f.as_str()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Seq(
            items
                .iter()
                .map(|v| convert(v, lines, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(table) => {
            return Ok(Node {
                at,
                ..convert_table(table, lines, depth + 1)?
            });
        }
    };
    Ok(Node::new(at, converted))
}

fn convert_table(
    table: &DeTable<'_>,
    lines: &LineIndex<'_>,
    depth: usize,
) -> Result<Node, SyntaxError> {
    let entries = table
        .iter()
        .map(|(key, value)| {
            Ok(Entry {
                key: key.get_ref().to_string(),
                key_at: lines.at(key.span().start),
                value: convert(value, lines, depth)?,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Node::new(At::START, Value::Map(entries)))
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
