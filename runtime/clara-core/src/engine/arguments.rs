//! A tool call's arguments, checked against the tool's own schema before anything runs, and
//! cut down to what the schema declares. Every runner (command, HTTP, MCP, the built-ins)
//! goes through here, so a model — or a prompt injection steering it — cannot hand a tool
//! values its manifest forbids or arguments it never declared.

use clara_config::model::common::shorten;
use serde_json::{Map, Value};

use crate::llm::ToolSpec;

/// Most schema violations quoted back to the model for one call.
const MAX_REPORTED: usize = 5;

/// How much of an offending value a message shows.
const VALUE_CHARS: usize = 40;

/// The arguments the tool may receive, or why the call must not run (worded for the model).
pub(crate) fn check(spec: &ToolSpec, arguments: &Value) -> Result<Value, String> {
    // Models send `null` or nothing for a tool without parameters.
    let arguments = match arguments {
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    };
    let validator = jsonschema::options()
        .build(&spec.parameters)
        .map_err(|e| format!("the tool's argument schema cannot be used ({e}); nothing was run"))?;
    let problems: Vec<String> = validator
        .iter_errors(&arguments)
        .take(MAX_REPORTED)
        .map(|error| {
            let shown = shorten(&error.instance().to_string(), VALUE_CHARS);
            let message = error.masked_with(shown).to_string();
            match error.instance_path().as_str() {
                "" => message,
                path => format!("`{path}`: {message}"),
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(format!(
            "the arguments do not fit the tool's parameters, so nothing was run: {}",
            problems.join("; ")
        ));
    }
    Ok(only_declared(&spec.parameters, arguments))
}

/// Drops the properties the schema does not declare, unless it says others are welcome
/// (`additionalProperties` set to `true` or a schema).
fn only_declared(schema: &Value, arguments: Value) -> Value {
    let Value::Object(mut map) = arguments else {
        return arguments;
    };
    let declared = schema.get("properties").and_then(Value::as_object);
    let open = schema
        .get("additionalProperties")
        .is_some_and(|extra| extra != &Value::Bool(false));
    if !open {
        map.retain(|name, _| declared.is_some_and(|d| d.contains_key(name)));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(parameters: Value) -> ToolSpec {
        ToolSpec {
            name: "roll_dice".to_owned(),
            description: String::new(),
            parameters,
        }
    }

    fn dice() -> ToolSpec {
        spec(json!({
            "type": "object",
            "required": ["count"],
            "properties": {
                "count": { "type": "integer", "minimum": 1, "maximum": 100 },
                "sides": { "type": "integer" },
                "label": { "type": "string", "maxLength": 8, "pattern": "^[a-z]+$" }
            }
        }))
    }

    #[test]
    fn values_the_schema_forbids_are_refused_with_the_reason() {
        let err = check(&dice(), &json!({ "count": 100000, "sides": "2" })).unwrap_err();
        assert!(err.contains("nothing was run"), "{err}");
        assert!(
            err.contains("`/count`: 100000 is greater than the maximum of 100"),
            "{err}"
        );
        assert!(
            err.contains("`/sides`: \"2\" is not of type \"integer\""),
            "{err}"
        );
        let err = check(&dice(), &json!({})).unwrap_err();
        assert!(err.contains("\"count\" is a required property"), "{err}");
        let err = check(&dice(), &json!({ "count": 1, "label": "x".repeat(500) })).unwrap_err();
        assert!(err.contains("is longer than 8 characters"), "{err}");
        assert!(err.len() < 300, "a long value is not quoted whole: {err}");
        assert!(check(&dice(), &json!({ "count": 1, "label": "AB" })).is_err());
    }

    #[test]
    fn only_declared_arguments_get_through() {
        let checked = check(
            &dice(),
            &json!({ "count": 2, "sides": 6, "owner": "x", "body": "injected" }),
        )
        .unwrap();
        assert_eq!(checked, json!({ "count": 2, "sides": 6 }));
        let closed =
            spec(json!({ "type": "object", "properties": {}, "additionalProperties": false }));
        assert!(check(&closed, &json!({ "x": 1 })).is_err());
        let open = spec(json!({ "type": "object", "additionalProperties": true }));
        assert_eq!(check(&open, &json!({ "x": 1 })).unwrap(), json!({ "x": 1 }));
        let none = spec(json!({ "type": "object", "properties": {} }));
        assert_eq!(check(&none, &Value::Null).unwrap(), json!({}));
    }

    #[test]
    fn a_schema_that_cannot_be_used_runs_nothing() {
        let broken = spec(
            json!({ "type": "object", "properties": { "x": { "$ref": "https://example.com/s.json" } } }),
        );
        let err = check(&broken, &json!({ "x": 1 })).unwrap_err();
        assert!(err.contains("cannot be used"), "{err}");
    }
}
