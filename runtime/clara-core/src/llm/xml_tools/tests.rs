use serde_json::{Value, json};

use super::*;
use crate::config::model::common::Tier;

fn call(id: &str, name: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments,
    }
}

fn tool(name: &str, description: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    }
}

// ---- coercion ----

#[test]
fn coerces_values_by_the_rules() {
    let cases: &[(&str, Value)] = &[
        ("007", json!(7)),
        ("42", json!(42)),
        ("-3", json!(-3)),
        ("+5", json!(5)),
        ("  42 \n", json!(42)),
        ("-3.5", json!(-3.5)),
        ("3.", json!(3.0)),
        (".5", json!(0.5)),
        ("1.5e3", json!(1500.0)),
        ("TRUE", json!(true)),
        ("true", json!(true)),
        (" tRuE ", json!(true)),
        ("False", json!(false)),
        ("1e5", json!("1e5")),
        ("1.2.3", json!("1.2.3")),
        ("v1.2", json!("v1.2")),
        ("NaN", json!("NaN")),
        ("inf", json!("inf")),
        ("yes", json!("yes")),
        ("9223372036854775808", json!("9223372036854775808")),
        ("", json!("")),
        ("   ", json!("")),
        ("  hello world  ", json!("hello world")),
        ("line one\nline two", json!("line one\nline two")),
        (
            r#"{"a": [1, {"b": null}], "c": "d"}"#,
            json!({"a": [1, {"b": null}], "c": "d"}),
        ),
        ("[1, 2, \"x\"]", json!([1, 2, "x"])),
        ("[]", json!([])),
        ("{not json", json!("{not json")),
        ("[1, 2", json!("[1, 2")),
        (
            "{&quot;a&quot;: &quot;&lt;b&gt;&quot;}",
            json!({"a": "<b>"}),
        ),
        ("&lt;b&gt;", json!("<b>")),
        ("&quot;hi&apos;", json!("\"hi'")),
        ("fish &amp; chips", json!("fish & chips")),
        ("&amp;lt;", json!("&lt;")),
        ("&amp;amp;", json!("&amp;")),
        ("&lt;1.5&gt;", json!("<1.5>")),
        ("&#39;", json!("&#39;")),
    ];
    for (raw, expected) in cases {
        assert_eq!(&coerce(raw), expected, "coerce({raw:?})");
    }
}

#[test]
fn escape_and_unescape_round_trip() {
    for text in [
        "plain",
        "a < b > c & d",
        "&lt; literal",
        "&amp;",
        "\"quotes\" 'too'",
        "",
    ] {
        assert_eq!(unescape(&escape(text)), text);
    }
    assert_eq!(
        escape("<a href=\"x\">&</a>"),
        "&lt;a href=\"x\"&gt;&amp;&lt;/a&gt;"
    );
}

// ---- parse ----

struct ParseCase {
    what: &'static str,
    text: &'static str,
    first_id: usize,
    content: &'static str,
    calls: Vec<(&'static str, &'static str, Value)>,
}

fn parse_cases() -> Vec<ParseCase> {
    vec![
        ParseCase {
            what: "one invoke, double quotes",
            text: "Let me roll.\n<function_calls>\n<invoke name=\"roll\">\n<parameter name=\"sides\">6</parameter>\n</invoke>\n</function_calls>",
            first_id: 0,
            content: "Let me roll.",
            calls: vec![("call_0", "roll", json!({"sides": 6}))],
        },
        ParseCase {
            what: "single quotes",
            text: "<function_calls><invoke name='search'><parameter name='q'>rust</parameter></invoke></function_calls>",
            first_id: 0,
            content: "",
            calls: vec![("call_0", "search", json!({"q": "rust"}))],
        },
        ParseCase {
            what: "mixed-case tags and attributes",
            text: "Hi <Function_Calls><INVOKE NAME=\"x\"><Parameter Name=\"a\">1</PARAMETER></Invoke></FUNCTION_CALLS>",
            first_id: 0,
            content: "Hi",
            calls: vec![("call_0", "x", json!({"a": 1}))],
        },
        ParseCase {
            what: "several invokes in one block, several parameters each",
            text: "<function_calls>\
                   <invoke name=\"a\"><parameter name=\"x\">1</parameter><parameter name=\"y\">two</parameter></invoke>\
                   <invoke name=\"b\"><parameter name=\"flag\">false</parameter></invoke>\
                   <invoke name=\"c\"></invoke>\
                   </function_calls>",
            first_id: 0,
            content: "",
            calls: vec![
                ("call_0", "a", json!({"x": 1, "y": "two"})),
                ("call_1", "b", json!({"flag": false})),
                ("call_2", "c", json!({})),
            ],
        },
        ParseCase {
            what: "several blocks; text between and after dropped",
            text: "First.\n<function_calls><invoke name=\"a\"></invoke></function_calls>\nmiddle\n<function_calls><invoke name=\"b\"><parameter name=\"k\">v</parameter></invoke></function_calls>\ntrailing",
            first_id: 0,
            content: "First.",
            calls: vec![
                ("call_0", "a", json!({})),
                ("call_1", "b", json!({"k": "v"})),
            ],
        },
        ParseCase {
            what: "ids count from first_id",
            text: "<function_calls><invoke name=\"a\"></invoke><invoke name=\"b\"></invoke></function_calls><tool_call>c</tool_call>",
            first_id: 5,
            content: "",
            calls: vec![
                ("call_5", "a", json!({})),
                ("call_6", "b", json!({})),
                ("call_7", "c", json!({})),
            ],
        },
        ParseCase {
            what: "multi-line values, entities, nested JSON, empty value",
            text: "<function_calls>\n<invoke name=\"write\">\n<parameter name=\"body\">\nline 1\nline 2 &lt;b&gt; &amp;lt;\n</parameter>\n<parameter name=\"meta\">{\"tags\": [\"a\", {\"deep\": [1, 2.5, null]}]}</parameter>\n<parameter name=\"empty\"></parameter>\n<parameter name=\"blank\">  \n </parameter>\n</invoke>\n</function_calls>",
            first_id: 0,
            content: "",
            calls: vec![(
                "call_0",
                "write",
                json!({
                    "body": "line 1\nline 2 <b> &lt;",
                    "meta": {"tags": ["a", {"deep": [1, 2.5, null]}]},
                    "empty": "",
                    "blank": "",
                }),
            )],
        },
        ParseCase {
            what: "parameters are matched non-greedily; a repeated name keeps the last",
            text: "<function_calls><invoke name=\"a\"><parameter name=\"k\">1</parameter><parameter name=\"k\">2</parameter></invoke></function_calls>",
            first_id: 0,
            content: "",
            calls: vec![("call_0", "a", json!({"k": 2}))],
        },
        ParseCase {
            what: "content is trimmed when there are calls",
            text: "  \n Let me check.  \n\n<function_calls><invoke name=\"a\"></invoke></function_calls>",
            first_id: 0,
            content: "Let me check.",
            calls: vec![("call_0", "a", json!({}))],
        },
        ParseCase {
            what: "GLM with arguments",
            text: "Rolling.\n<tool_call>roll\n<arg_key>sides</arg_key>\n<arg_value>20</arg_value>\n<arg_key> label </arg_key><arg_value>d20 &amp; more</arg_value>\n</tool_call>",
            first_id: 0,
            content: "Rolling.",
            calls: vec![(
                "call_0",
                "roll",
                json!({"sides": 20, "label": "d20 & more"}),
            )],
        },
        ParseCase {
            what: "GLM bare, mixed case, several",
            text: "<TOOL_CALL> list_files </Tool_Call><tool_call>search<ARG_KEY>q</Arg_Key><Arg_Value>[1]</ARG_VALUE></tool_call>",
            first_id: 2,
            content: "",
            calls: vec![
                ("call_2", "list_files", json!({})),
                ("call_3", "search", json!({"q": [1]})),
            ],
        },
        ParseCase {
            what: "GLM without a name is skipped",
            text: "x <tool_call> <arg_key>a</arg_key><arg_value>1</arg_value></tool_call>",
            first_id: 0,
            content: "x <tool_call> <arg_key>a</arg_key><arg_value>1</arg_value></tool_call>",
            calls: vec![],
        },
        ParseCase {
            what: "both formats come out in text order",
            text: "<tool_call>first</tool_call> <function_calls><invoke name=\"second\"></invoke></function_calls>",
            first_id: 0,
            content: "",
            calls: vec![
                ("call_0", "first", json!({})),
                ("call_1", "second", json!({})),
            ],
        },
        ParseCase {
            what: "unclosed block: no calls, text unchanged",
            text: "Let me look.\n<function_calls>\n<invoke name=\"a\"><parameter name=\"k\">v</parameter></invoke>\n",
            first_id: 0,
            content: "Let me look.\n<function_calls>\n<invoke name=\"a\"><parameter name=\"k\">v</parameter></invoke>\n",
            calls: vec![],
        },
        ParseCase {
            what: "unclosed invoke inside a closed block: no calls",
            text: "<function_calls><invoke name=\"a\"></function_calls>",
            first_id: 0,
            content: "<function_calls><invoke name=\"a\"></function_calls>",
            calls: vec![],
        },
        ParseCase {
            what: "closed block with no invoke: no calls",
            text: " hmm <function_calls></function_calls> ",
            first_id: 0,
            content: " hmm <function_calls></function_calls> ",
            calls: vec![],
        },
        ParseCase {
            what: "an unclosed block before a closed GLM call still bounds the content",
            text: "Hi <function_calls> oops <tool_call>a</tool_call>",
            first_id: 0,
            content: "Hi",
            calls: vec![("call_0", "a", json!({}))],
        },
        ParseCase {
            what: "no calls: text unchanged, not trimmed",
            text: "  Just an answer, 1 < 2.\n\n",
            first_id: 3,
            content: "  Just an answer, 1 < 2.\n\n",
            calls: vec![],
        },
        ParseCase {
            what: "invoke without a name attribute is ignored",
            text: "<function_calls><invoke><parameter name=\"k\">v</parameter></invoke></function_calls>",
            first_id: 0,
            content: "<function_calls><invoke><parameter name=\"k\">v</parameter></invoke></function_calls>",
            calls: vec![],
        },
    ]
}

#[test]
fn parses_by_the_rules() {
    for case in parse_cases() {
        let (content, calls) = parse(case.text, case.first_id);
        assert_eq!(content, case.content, "content: {}", case.what);
        let expected: Vec<ToolCall> = case
            .calls
            .iter()
            .map(|(id, name, args)| call(id, name, args.clone()))
            .collect();
        assert_eq!(calls, expected, "calls: {}", case.what);
    }
}

// ---- tools_prompt ----

#[test]
fn tools_prompt_escapes_descriptions_and_pretty_prints_schemas() {
    let tools = [
        tool(
            "roll_dice",
            "Rolls <n> dice & sums \"them\"",
            json!({"type": "object", "properties": {"sides": {"type": "integer"}}, "required": ["sides"]}),
        ),
        tool("now", "The time.", json!({"type": "object"})),
    ];
    let expected = format!(
        "<functions>\n{INSTRUCTIONS}\
         <function>\n<name>roll_dice</name>\n<description>Rolls &lt;n&gt; dice &amp; sums \"them\"</description>\n\
         <parameters>{{\n  \"properties\": {{\n    \"sides\": {{\n      \"type\": \"integer\"\n    }}\n  }},\n  \"required\": [\n    \"sides\"\n  ],\n  \"type\": \"object\"\n}}</parameters>\n</function>\n\
         <function>\n<name>now</name>\n<description>The time.</description>\n<parameters>{{\n  \"type\": \"object\"\n}}</parameters>\n</function>\n\
         </functions>"
    );
    assert_eq!(tools_prompt(&tools), expected);
}

#[test]
fn tools_prompt_shows_the_call_format() {
    let prompt = tools_prompt(&[]);
    assert!(prompt.starts_with("<functions>\n"));
    assert!(prompt.ends_with("</functions>"));
    for line in [
        "<function_calls>",
        "<invoke name=\"$FUNCTION_NAME\">",
        "<parameter name=\"$PARAMETER_NAME\">$PARAMETER_VALUE</parameter>",
        "</invoke>",
        "</function_calls>",
    ] {
        assert!(prompt.lines().any(|l| l == line), "missing line {line:?}");
    }
    assert!(prompt.contains("lists and objects as JSON"));
}

// ---- prepare ----

fn request(messages: Vec<Message>, tools: Vec<ToolSpec>) -> ChatRequest {
    let mut request = ChatRequest::new(messages);
    request.tools = tools;
    request.tier = Some(Tier::High);
    request.max_tokens = Some(512);
    request.temperature = Some(0.3);
    request.stream = false;
    request
}

fn roll_tool() -> ToolSpec {
    tool("roll", "Rolls dice.", json!({"type": "object"}))
}

#[test]
fn prepare_appends_to_the_first_system_message() {
    let req = request(
        vec![
            Message::system("You are Clara."),
            Message::user("hi"),
            Message::system("Later context."),
        ],
        vec![roll_tool()],
    );
    let out = prepare(&req);
    let prompt = tools_prompt(&[roll_tool()]);
    assert_eq!(
        out,
        ChatRequest {
            messages: vec![
                Message::system(format!("You are Clara.\n\n{prompt}")),
                Message::user("hi"),
                Message::system("Later context."),
            ],
            tools: vec![],
            ..req.clone()
        }
    );
}

#[test]
fn prepare_appends_to_the_last_text_part_of_the_system_message() {
    let mut system = Message::system("one");
    system.parts.push(Part::Text("two".into()));
    let out = prepare(&request(
        vec![Message::user("hi"), system],
        vec![roll_tool()],
    ));
    let prompt = tools_prompt(&[roll_tool()]);
    assert_eq!(
        out.messages[1].parts,
        vec![
            Part::Text("one".into()),
            Part::Text(format!("two\n\n{prompt}"))
        ]
    );
    assert_eq!(out.messages[0], Message::user("hi"));
}

#[test]
fn prepare_inserts_a_system_message_when_there_is_none() {
    let user = Message::user("look").with_image("image/png", "AAAA");
    let out = prepare(&request(vec![user.clone()], vec![roll_tool()]));
    assert_eq!(
        out.messages,
        vec![Message::system(tools_prompt(&[roll_tool()])), user]
    );
    assert!(out.tools.is_empty());
    assert_eq!(
        (out.tier, out.max_tokens, out.temperature, out.stream),
        (Some(Tier::High), Some(512), Some(0.3), false)
    );
}

#[test]
fn prepare_without_tools_adds_no_prompt() {
    let messages = vec![Message::system("S"), Message::user("hi")];
    let out = prepare(&request(messages.clone(), vec![]));
    assert_eq!(out.messages, messages);
    let out = prepare(&request(vec![Message::user("hi")], vec![]));
    assert_eq!(out.messages, vec![Message::user("hi")]);
}

#[test]
fn prepare_rewrites_tool_history_as_text() {
    let user = Message::user("roll for me").with_image("image/jpeg", "/9j/");
    let first_calls = vec![
        call(
            "call_0",
            "roll",
            json!({"sides": 6, "label": "a<b & c", "opts": {"x": [1, 2], "s": "<i>"}, "again": true, "n": null}),
        ),
        call("call_1", "search", json!({"q": "x & y"})),
    ];
    let req = request(
        vec![
            Message::system("You are Clara."),
            user.clone(),
            Message::assistant_with_calls("Let me roll.", first_calls),
            Message::tool_result("call_0", "4"),
            Message::tool_result("call_1", "<html>&amp;</html>"),
            Message::assistant("You rolled 4."),
            Message::user("again"),
            Message::assistant_with_calls("", vec![call("call_2", "roll", json!({}))]),
            Message::tool_result("call_2", "5"),
            Message::tool_result("call_9", "orphan"),
            Message {
                tool_call_id: None,
                ..Message::tool_result("x", "no id")
            },
        ],
        vec![],
    );
    let out = prepare(&req);
    let expected = vec![
        Message::system("You are Clara."),
        user,
        Message::assistant(
            "Let me roll.\n\n<function_calls>\n\
             <invoke name=\"roll\">\n\
             <parameter name=\"again\">true</parameter>\n\
             <parameter name=\"label\">a&lt;b &amp; c</parameter>\n\
             <parameter name=\"n\">null</parameter>\n\
             <parameter name=\"opts\">{\"s\":\"&lt;i&gt;\",\"x\":[1,2]}</parameter>\n\
             <parameter name=\"sides\">6</parameter>\n\
             </invoke>\n\
             <invoke name=\"search\">\n\
             <parameter name=\"q\">x &amp; y</parameter>\n\
             </invoke>\n\
             </function_calls>",
        ),
        Message::user(
            "<function_results>\n\
             <result>\n<name>roll</name>\n<output>4</output>\n</result>\n\
             <result>\n<name>search</name>\n<output>&lt;html&gt;&amp;amp;&lt;/html&gt;</output>\n</result>\n\
             </function_results>",
        ),
        Message::assistant("You rolled 4."),
        Message::user("again"),
        Message::assistant(
            "<function_calls>\n<invoke name=\"roll\">\n</invoke>\n</function_calls>",
        ),
        Message::user(
            "<function_results>\n\
             <result>\n<name>roll</name>\n<output>5</output>\n</result>\n\
             <result>\n<name>call_9</name>\n<output>orphan</output>\n</result>\n\
             <result>\n<name>unknown</name>\n<output>no id</output>\n</result>\n\
             </function_results>",
        ),
    ];
    assert_eq!(out.messages, expected);
    for message in &out.messages {
        assert!(message.tool_calls.is_empty() && message.tool_call_id.is_none());
        assert_ne!(message.role, Role::Tool);
    }
}

#[test]
fn prepare_names_results_after_the_latest_call_with_that_id() {
    let req = request(
        vec![
            Message::assistant_with_calls("", vec![call("call_0", "first", json!({}))]),
            Message::tool_result("call_0", "a"),
            Message::assistant_with_calls("", vec![call("call_0", "second", json!({}))]),
            Message::tool_result("call_0", "b"),
        ],
        vec![],
    );
    let out = prepare(&req);
    assert!(out.messages[1].text().contains("<name>first</name>"));
    assert!(out.messages[3].text().contains("<name>second</name>"));
}

#[test]
fn rendered_calls_parse_back_to_the_same_arguments() {
    let calls = vec![
        call(
            "call_3",
            "write",
            json!({"path": "a & b <c>.txt", "lines": [1, "two", {"three": 3.5}], "force": false, "n": 7}),
        ),
        call("call_4", "empty", json!({})),
    ];
    let message = Message::assistant_with_calls("ok", calls.clone());
    let text = prepare(&request(vec![message], vec![])).messages[0].text();
    let (content, parsed) = parse(&text, 3);
    assert_eq!(content, "ok");
    assert_eq!(parsed, calls);
}

// ---- stream filter ----

fn stream(chunks: &[&str]) -> String {
    let mut filter = XmlStreamFilter::new();
    let mut out: String = chunks.iter().map(|c| filter.push(c)).collect();
    out.push_str(&filter.finish());
    out
}

/// (reply, what the filter forwards in total)
const STREAM_CASES: &[(&str, &str)] = &[
    (
        "Hello <function_calls><invoke name=\"a\"></invoke></function_calls>",
        "Hello",
    ),
    (
        "Sure.\n\n<function_calls>\n<invoke name=\"a\">\n</invoke>\n</function_calls>\nafter",
        "Sure.",
    ),
    (
        "Hi <FUNCTION_Calls><invoke name=\"a\"></invoke></function_calls>",
        "Hi",
    ),
    ("x <tool_call>roll</tool_call> y", "x"),
    (
        "<function_calls><invoke name=\"a\"></invoke></function_calls>",
        "",
    ),
    ("  <tool_call>a</tool_call>", ""),
    (
        "<<function_calls><invoke name=\"a\"></invoke></function_calls>",
        "<",
    ),
    (
        "héllo ✓ <function_calls><invoke name=\"a\"></invoke></function_calls>",
        "héllo ✓",
    ),
    ("a < b and c <d> e", "a < b and c <d> e"),
    ("plain text\n", "plain text\n"),
    ("ends with <func", "ends with <func"),
    ("ends with <tool_call", "ends with <tool_call"),
    ("a <functionx b", "a <functionx b"),
    (
        "a <tool_callx> b <function_call> c",
        "a <tool_callx> b <function_call> c",
    ),
    (
        "spaces before an unclosed opener   <function_calls> never closed",
        "spaces before an unclosed opener",
    ),
    ("  leading and trailing  ", "  leading and trailing  "),
    ("", ""),
];

#[test]
fn stream_filter_in_one_delta() {
    for (text, expected) in STREAM_CASES {
        assert_eq!(stream(&[text]), *expected, "{text:?}");
    }
}

#[test]
fn stream_filter_at_every_split_point() {
    for (text, expected) in STREAM_CASES {
        let bounds: Vec<usize> = (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for &i in &bounds {
            assert_eq!(
                stream(&[&text[..i], &text[i..]]),
                *expected,
                "{text:?} split at {i}"
            );
            for &j in bounds.iter().filter(|&&j| j >= i) {
                let pieces = [&text[..i], &text[i..j], &text[j..]];
                assert_eq!(stream(&pieces), *expected, "{text:?} split at {i} and {j}");
            }
        }
    }
}

#[test]
fn stream_filter_char_by_char() {
    for (text, expected) in STREAM_CASES {
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(stream(&pieces), *expected, "{text:?}");
    }
}

#[test]
fn stream_filter_holds_only_what_could_be_an_opener() {
    let mut filter = XmlStreamFilter::new();
    assert_eq!(filter.push("a < b"), "a < b");
    assert_eq!(filter.push(" so <fun"), " so");
    assert_eq!(filter.push("ny"), " <funny");
    assert_eq!(filter.push(" <TOOL_"), "");
    assert_eq!(filter.push("Call>roll"), "");
    assert_eq!(filter.push(" more text </tool_call>"), "");
    assert_eq!(filter.finish(), "");

    let mut filter = XmlStreamFilter::new();
    assert_eq!(filter.push("one\n"), "one");
    assert_eq!(filter.push("\ntwo"), "\n\ntwo");
    assert_eq!(filter.push(" <"), "");
    assert_eq!(filter.finish(), " <");
}

#[test]
fn stream_filter_agrees_with_parse() {
    let texts: Vec<&str> = parse_cases()
        .iter()
        .map(|case| case.text)
        .chain(STREAM_CASES.iter().map(|(text, _)| *text))
        .collect();
    for text in texts {
        let forwarded = stream(&[text]);
        let (content, calls) = parse(text, 0);
        if calls.is_empty() {
            // Without an opener the whole reply streams; with an unclosed one the caller shows
            // parse's content (the whole text) instead of what streamed.
            if first_opener(text).is_none() {
                assert_eq!(forwarded, text, "{text:?}");
            }
        } else {
            assert_eq!(forwarded.trim_start(), content, "{text:?}");
            if !text.starts_with(char::is_whitespace) {
                assert_eq!(forwarded, content, "{text:?}");
            }
        }
    }
}
