//! The environment a config is checked and run against: the process environment plus the
//! root's `.env` file (the process wins, as with every dotenv tool).

use std::collections::BTreeMap;
use std::path::Path;

use crate::doc::At;
use crate::problem::Problem;
use crate::read;

/// The dotenv file of a root.
const DOTENV: &str = ".env";

/// A snapshot of environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment plus `ROOT/.env`. A broken `.env` is reported, not fatal.
    pub fn load(root: &Path) -> (Env, Vec<Problem>) {
        let mut env = Env::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        );
        let problems = env.merge_dotenv(&root.join(DOTENV));
        (env, problems)
    }

    /// An environment made of exactly these variables.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Env {
        Env {
            vars: vars.into_iter().collect(),
        }
    }

    fn merge_dotenv(&mut self, path: &Path) -> Vec<Problem> {
        let text = match read::read_text(path) {
            Ok(text) => text,
            Err(err) if err.is_not_found() => return Vec::new(),
            Err(err) => {
                return vec![Problem {
                    file: DOTENV.to_owned(),
                    at: None,
                    message: err.to_string(),
                }];
            }
        };
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((key, value)) => {
                    self.vars.entry(key).or_insert(value);
                }
                Err(dotenvy::Error::LineParse(line, _)) => return vec![unparsable(&text, &line)],
                Err(err) => return vec![Problem::at(DOTENV, At::START, err.to_string())],
            }
        }
        Vec::new()
    }

    /// The value of `name`, when it is set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every variable, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The problem with a `.env` line that does not parse: where it is and which variable it
/// sets, never the text itself — the value on that line is usually a secret.
fn unparsable(text: &str, line: &str) -> Problem {
    let first = line.lines().next().unwrap_or(line).trim();
    let found = text
        .lines()
        .enumerate()
        .find(|(_, l)| !first.is_empty() && l.trim() == first)
        .or_else(|| text.lines().enumerate().find(|(_, l)| l.contains(first)));
    let Some((number, physical)) = found else {
        return Problem::at(
            DOTENV,
            At::START,
            "a line cannot be parsed (expected NAME=value)",
        );
    };
    let indent = physical.len() - physical.trim_start().len();
    let rest = &physical[indent..];
    let rest = rest.strip_prefix("export ").unwrap_or(rest);
    let name = rest.split_once('=').map(|(name, _)| name.trim());
    let line_number = number as u32 + 1;
    match name.filter(|n| is_variable_name(n)) {
        Some(name) => {
            let col = physical
                .find('=')
                .map_or(0, |i| physical[..=i].chars().count());
            Problem::at(
                DOTENV,
                At::Pos {
                    line: line_number,
                    col: col as u32 + 1,
                },
                format!(
                    "the value of `{name}` cannot be parsed (is a quote left open?); the value is not shown"
                ),
            )
        }
        None => Problem::at(
            DOTENV,
            At::Pos {
                line: line_number,
                col: indent as u32 + 1,
            },
            "this line cannot be parsed (expected NAME=value); the line is not shown",
        ),
    }
}

/// Whether `name` can be an environment variable's name (`OPENROUTER_API_KEY`).
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(dotenv: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DOTENV), dotenv).unwrap();
        let mut env = Env::default();
        env.merge_dotenv(&dir.path().join(DOTENV))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_line_that_does_not_parse_is_named_by_its_variable_never_its_value() {
        let secret = "sk-or-v1-0123456789abcdef";
        let reported = problems(&format!(
            "# keys\nDISCORD_BOT_TOKEN=abc\nOPENROUTER_API_KEY=\"{secret}\nOTHER=1\n"
        ));
        assert_eq!(
            reported,
            [
                ".env:3:20: the value of `OPENROUTER_API_KEY` cannot be parsed (is a quote left open?); the value is not shown"
            ]
        );
        let reported = problems(&format!("A=1\n{secret}\n"));
        assert_eq!(reported.len(), 1);
        assert!(reported[0].starts_with(".env:2:1: this line cannot be parsed"));
        assert!(!reported[0].contains(secret));
    }
}
