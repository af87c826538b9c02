//! Positions from both front ends, and environment overrides.

use super::*;

fn pos(line: u32, col: u32) -> At {
    At::Pos { line, col }
}

#[test]
fn toml_keys_and_values_keep_their_positions() {
    let doc =
        parse_toml("a = 1\n[providers.local]\nkind = \"openai\"\n\n[[steps]]\ntype = \"ingest\"\n")
            .unwrap();
    assert_eq!(doc.key_at(&path!["a"]), pos(1, 1));
    assert_eq!(doc.value_at(&path!["a"]), pos(1, 5));
    assert_eq!(doc.key_at(&path!["providers", "local", "kind"]), pos(3, 1));
    assert_eq!(
        doc.value_at(&path!["providers", "local", "kind"]),
        pos(3, 8)
    );
    assert_eq!(doc.value_at(&path!["steps", 0, "type"]), pos(6, 8));
    assert_eq!(doc.get(&path!["a"]).unwrap().value, Value::Int(1));
}

#[test]
fn toml_columns_count_characters_not_bytes() {
    let doc = parse_toml("name = \"héllo\" # ü\nx = 1\ny = \"é\"").unwrap();
    assert_eq!(doc.value_at(&path!["y"]), pos(3, 5));
    let err = parse_toml("é = \"a\" x").unwrap_err();
    assert_eq!(err.at, pos(1, 9));
}

#[test]
fn toml_syntax_errors_point_at_the_problem() {
    let err = parse_toml("a = 1\nb = \n").unwrap_err();
    assert_eq!(err.at, pos(2, 5));
    assert!(!err.message.is_empty());
}

#[test]
fn missing_paths_fall_back_to_the_nearest_written_ancestor() {
    let doc = parse_toml("x = 1\n[sessions]\nidle = 2\n").unwrap();
    assert_eq!(
        doc.value_at(&path!["sessions", "nope", "deeper"]),
        pos(2, 1)
    );
    assert_eq!(doc.value_at(&path!["missing"]), At::START);
}

#[test]
fn yaml_positions_and_yaml_1_2_keys() {
    let doc = parse_yaml("hooks:\n  - name: a\n    on: [tool:error]\n").unwrap();
    assert_eq!(doc.key_at(&path!["hooks", 0, "name"]), pos(2, 5));
    assert_eq!(doc.value_at(&path!["hooks", 0, "name"]), pos(2, 11));
    let on = doc
        .get(&path!["hooks", 0, "on"])
        .expect("`on` stays a key in YAML 1.2");
    assert_eq!(on.to_json(), serde_json::json!(["tool:error"]));
    assert_eq!(doc.value_at(&path!["hooks", 0, "on", 0]), pos(3, 10));
}

#[test]
fn yaml_errors_and_documents() {
    let err = parse_yaml("a: b: c\n").unwrap_err();
    assert_eq!(err.at, pos(1, 5));
    assert_eq!(
        parse_yaml("a: 1\n---\nb: 2\n").unwrap_err().message,
        "only one YAML document per file"
    );
    assert_eq!(parse_yaml("").unwrap().value, Value::Map(vec![]));
    let aliased = parse_yaml("a: &x 1\nb: *x\n").unwrap();
    assert_eq!(
        aliased.to_json(),
        serde_json::json!({"a": 1, "b": 1}),
        "anchors and aliases resolve"
    );
}

#[test]
fn env_overrides_parse_values_and_create_tables() {
    let mut doc = parse_toml("[sessions]\nidle_timeout_minutes = 30\n").unwrap();
    let problems = apply_env_overrides(
        &mut doc,
        [
            ("CLARA_SESSIONS__IDLE_TIMEOUT_MINUTES", "60"),
            ("CLARA_DEFAULTS__PROVIDER", "anthropic"),
            ("CLARA_ADAPTERS__DISCORD__ALLOWED_SERVERS", "[\"1\", \"2\"]"),
            ("CLARA_ROOT", "/elsewhere"),
            ("HOME", "/root"),
        ],
    );
    assert!(problems.is_empty());
    let json = doc.to_json();
    assert_eq!(json["sessions"]["idle_timeout_minutes"], 60);
    assert_eq!(json["defaults"]["provider"], "anthropic");
    assert_eq!(
        json["adapters"]["discord"]["allowed_servers"],
        serde_json::json!(["1", "2"])
    );
    assert!(json.get("root").is_none());
    assert_eq!(
        doc.value_at(&path!["sessions", "idle_timeout_minutes"]),
        At::Env("CLARA_SESSIONS__IDLE_TIMEOUT_MINUTES".into())
    );
}

#[test]
fn env_override_into_a_non_table_is_reported() {
    let mut doc = parse_toml("[defaults]\npersona = \"clara\"\n").unwrap();
    let problems = apply_env_overrides(&mut doc, [("CLARA_DEFAULTS__PERSONA__NAME", "x")]);
    assert_eq!(
        problems,
        vec![(
            At::Env("CLARA_DEFAULTS__PERSONA__NAME".into()),
            "`persona` is not a table, so it has no keys to override".to_owned()
        )]
    );
}
