//! The environment a config is checked and run against: the process environment plus the
//! root's `.env` file (the process wins, as with every dotenv tool).

use std::collections::BTreeMap;
use std::path::Path;

use crate::doc::At;
use crate::problem::Problem;

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
        let problems = env.merge_dotenv(&root.join(".env"));
        (env, problems)
    }

    /// An environment made of exactly these variables.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Env {
        Env {
            vars: vars.into_iter().collect(),
        }
    }

    fn merge_dotenv(&mut self, path: &Path) -> Vec<Problem> {
        let iter = match dotenvy::from_path_iter(path) {
            Ok(iter) => iter,
            Err(err) if err.not_found() => return Vec::new(),
            Err(err) => return vec![Problem::at(".env", At::START, err.to_string())],
        };
        let mut problems = Vec::new();
        for item in iter {
            match item {
                Ok((key, value)) => {
                    self.vars.entry(key).or_insert(value);
                }
                Err(dotenvy::Error::LineParse(line, index)) => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let number = text.lines().position(|l| l == line).map_or(1, |n| n + 1);
                    let at = At::Pos {
                        line: number as u32,
                        col: index as u32 + 1,
                    };
                    problems.push(Problem::at(".env", at, format!("cannot parse `{line}`")));
                    break;
                }
                Err(err) => {
                    problems.push(Problem::at(".env", At::START, err.to_string()));
                    break;
                }
            }
        }
        problems
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
