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
        let problems = env.merge_dotenv(&root.join(DOTENV), DOTENV);
        (env, problems)
    }

    /// The variables of one dotenv file alone (a MyPalClara `.env` being converted, say).
    pub fn from_dotenv(path: &Path) -> Result<Env, Vec<Problem>> {
        let mut env = Env::default();
        let name = path.display().to_string();
        if !path.exists() {
            return Err(vec![Problem {
                file: name,
                at: None,
                message: "not found".to_owned(),
            }]);
        }
        let problems = env.merge_dotenv(path, &name);
        if problems.is_empty() {
            Ok(env)
        } else {
            Err(problems)
        }
    }

    /// An environment made of exactly these variables.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Env {
        Env {
            vars: vars.into_iter().collect(),
        }
    }

    fn merge_dotenv(&mut self, path: &Path, name: &str) -> Vec<Problem> {
        let text = match read::read_text(path) {
            Ok(text) => text,
            Err(err) if err.is_not_found() => return Vec::new(),
            Err(err) => {
                return vec![Problem {
                    file: name.to_owned(),
                    at: None,
                    message: err.to_string(),
                }];
            }
        };
        let text = quote_spaced_values(&text);
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((key, value)) => {
                    self.vars.entry(key).or_insert(value);
                }
                Err(dotenvy::Error::LineParse(line, _)) => {
                    return vec![unparsable(name, &text, &line)];
                }
                Err(err) => return vec![Problem::at(name, At::START, err.to_string())],
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

/// python-dotenv (MyPalClara's reader) takes an unquoted value with spaces or an apostrophe,
/// such as `DISCORD_ALLOWED_CHANNELS=123, 456`, up to an inline ` #` comment; dotenvy refuses
/// it. Such values are quoted here so the same file keeps working. Lines keep their numbers.
fn quote_spaced_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        out.push_str(quoted(body).as_deref().unwrap_or(body));
        out.push_str(ending);
    }
    out
}

/// `body` with its value quoted, when it is an unquoted value holding whitespace.
fn quoted(body: &str) -> Option<String> {
    let (key, value) = body.split_once('=')?;
    let name = key.trim();
    let name = name.strip_prefix("export ").unwrap_or(name).trim();
    let value = value.trim_start();
    // Quoted values, comments and empty values are dotenvy's to read as they are.
    if !is_variable_name(name) || value.is_empty() || value.starts_with(['"', '\'', '#']) {
        return None;
    }
    let value = value.split(" #").next().unwrap_or(value).trim_end();
    if !value.contains(|c: char| c.is_whitespace() || c == '\'') {
        return None;
    }
    Some(if value.contains('\'') {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{key}=\"{escaped}\"")
    } else {
        format!("{key}='{value}'")
    })
}

/// The problem with a `.env` line that does not parse: where it is and which variable it
/// sets, never the text itself — the value on that line is usually a secret.
fn unparsable(file: &str, text: &str, line: &str) -> Problem {
    let first = line.lines().next().unwrap_or(line).trim();
    let found = text
        .lines()
        .enumerate()
        .find(|(_, l)| !first.is_empty() && l.trim() == first)
        .or_else(|| text.lines().enumerate().find(|(_, l)| l.contains(first)));
    let Some((number, physical)) = found else {
        return Problem::at(
            file,
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
                file,
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
            file,
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
        env.merge_dotenv(&dir.path().join(DOTENV), DOTENV)
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

    #[test]
    fn unquoted_values_with_spaces_read_as_python_dotenv_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mypalclara.env");
        std::fs::write(
            &path,
            "DISCORD_ALLOWED_CHANNELS=123, 456\nexport TITLE = My Pal Clara # shown in OpenRouter\nQUOTED=\"a b\"\nPLAIN=x#y\nEMPTY=  # optional\nAPOSTROPHE=Clara's \"Bot\" \\o/\n",
        )
        .unwrap();
        let env = Env::from_dotenv(&path).unwrap();
        assert_eq!(env.get("DISCORD_ALLOWED_CHANNELS"), Some("123, 456"));
        assert_eq!(env.get("TITLE"), Some("My Pal Clara"));
        assert_eq!(env.get("QUOTED"), Some("a b"));
        assert_eq!(env.get("PLAIN"), Some("x#y"));
        assert_eq!(env.get("EMPTY"), None, "a comment is not a value");
        assert_eq!(env.get("APOSTROPHE"), Some("Clara's \"Bot\" \\o/"));
    }
}
