//! Loading the conversation fixtures of `tests/` for `clara test` and `clara validate`: the
//! same parsing, schema check and `file:line:col` problems as every other file, plus what a
//! fixture refers to in the config (its pipeline, its regular expressions). Fixtures are not
//! part of the running config: a broken one never stops a reload.

use std::collections::BTreeMap;

use crate::doc::{At, Seg};
use crate::files::Files;
use crate::model::fixture::{Expect, Fixture};
use crate::path;
use crate::problem::Problem;
use crate::schema::FileKind;
use crate::set::{ConfigSet, Loaded};

/// The fixtures folder.
pub const TESTS_DIR: &str = "tests";

/// Every fixture of `set`'s root that loads and checks cleanly, by file stem, and the
/// problems of the others.
pub fn load_fixtures(set: &ConfigSet) -> (BTreeMap<String, Loaded<Fixture>>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut files = Files {
        root: &set.root,
        problems: &mut problems,
        warnings: Vec::new(),
        listed: BTreeMap::new(),
    };
    let loaded = files.named::<Fixture>(TESTS_DIR, FileKind::Fixture, "fixture");
    let mut fixtures = BTreeMap::new();
    for (stem, fixture) in loaded {
        let Some(fixture) = fixture else {
            continue;
        };
        let found = check(set, &fixture);
        if found.is_empty() {
            fixtures.insert(stem, fixture);
        } else {
            problems.extend(found);
        }
    }
    problems.sort();
    (fixtures, problems)
}

fn check(set: &ConfigSet, fixture: &Loaded<Fixture>) -> Vec<Problem> {
    let doc = &fixture.source.doc;
    let rel = &fixture.source.rel;
    let mut problems = Vec::new();
    if let Some(name) = &fixture.value.pipeline
        && !set.pipelines.contains_key(name)
    {
        problems.push(Problem::at(
            rel,
            doc.value_at(&path!["pipeline"]),
            format!(
                "no pipeline `{name}` in pipelines/ (there are: {})",
                names(set.pipelines.keys())
            ),
        ));
    }
    if chrono::DateTime::parse_from_rfc3339(&fixture.value.start).is_err() {
        problems.push(Problem::at(
            rel,
            doc.value_at(&path!["start"]),
            "`start` is not an RFC 3339 time, like 2026-01-05T09:00:00Z",
        ));
    }
    if let Some(name) = &fixture.value.cassette
        && (name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c))
            || name.starts_with('.'))
    {
        problems.push(Problem::at(
            rel,
            doc.value_at(&path!["cassette"]),
            "a cassette's name is a file stem in tests/cassettes/: letters, digits, `-`, `_` and `.`",
        ));
    }
    for (index, turn) in fixture.value.turns.iter().enumerate() {
        if fixture.value.cassette.is_some() && !turn.model.is_empty() {
            problems.push(Problem::at(
                rel,
                doc.value_at(&path!["turns", index, "model"]),
                "this fixture plays its answers from a cassette: a turn's `model` would never be used (remove it, or remove `cassette`)",
            ));
        }
        let expect_at = |key: &str| doc.value_at(&path!["turns", index, "expect", key]);
        for (key, pattern) in patterns(&turn.expect) {
            if let Err(err) = regex::Regex::new(pattern) {
                problems.push(Problem::at(
                    rel,
                    expect_at(key),
                    format!("`{key}` is not a regular expression: {err}"),
                ));
            }
        }
        for (call, answer) in turn.model.iter().enumerate() {
            let at = || doc.value_at(&path!["turns", index, "model", call]);
            if answer.error.is_none() && answer.status.is_some() {
                problems.push(Problem::at(
                    rel,
                    at(),
                    "`status` goes with `error`: add the error's message",
                ));
            }
            if answer.error.is_some() && (!answer.reply.is_empty() || !answer.tool_calls.is_empty())
            {
                problems.push(Problem::at(
                    rel,
                    at(),
                    "an answer is an `error` or a `reply` with `tool_calls`, not both",
                ));
            }
        }
    }
    problems
}

fn patterns(expect: &Expect) -> impl Iterator<Item = (&'static str, &String)> {
    let reply = expect.reply_matches.iter().map(|p| ("reply_matches", p));
    let prompt = expect.prompt_matches.iter().map(|p| ("prompt_matches", p));
    reply.chain(prompt)
}

fn names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Where a turn's field is written in its fixture, for failures that point at the fixture.
pub fn turn_at(fixture: &Loaded<Fixture>, turn: usize, key: &[&str]) -> At {
    let mut segments = vec![Seg::from("turns"), Seg::from(turn)];
    segments.extend(key.iter().map(|k| Seg::from(*k)));
    fixture.source.doc.value_at(&segments)
}
