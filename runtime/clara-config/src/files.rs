//! Reading a root's folders into typed files: which entries are config (the one policy in
//! [`crate::read`]), parsing each with positions, dropping retired keys, checking it against its
//! kind's schema and deserialising it. Every problem is collected; nothing stops at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::checks;
use crate::doc::{At, Node, SyntaxError, apply_env_overrides, parse_toml, parse_yaml};
use crate::env::Env;
use crate::model::{clara::ClaraConfig, persona::Persona, tool::ToolManifest};
use crate::problem::Problem;
use crate::read;
use crate::schema::{FileKind, schema_of};
use crate::schema_check;
use crate::set::{CLARA_FILE, Loaded, LoadedPersona, PERSONAS_DIR, Source, TOOLS_DIR};

pub(crate) struct Files<'a> {
    pub(crate) root: &'a Path,
    pub(crate) problems: &'a mut Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
    /// Stems of the config files found in each folder, so names resolve even for files that
    /// fail to load.
    pub(crate) listed: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Files<'_> {
    /// `clara.toml`, typed; and its document (overrides applied) even when it fails its
    /// checks, so the names it defines still resolve in other files.
    pub(crate) fn clara(&mut self, env: &Env) -> (Option<Node>, Option<Loaded<ClaraConfig>>) {
        let Some(mut source) = self.parse(CLARA_FILE, false) else {
            return (None, None);
        };
        for (at, message) in apply_env_overrides(&mut source.doc, env.iter()) {
            self.problems.push(Problem::at(CLARA_FILE, at, message));
        }
        let doc = source.doc.clone();
        (
            Some(doc),
            self.typed("clara".to_owned(), source, FileKind::Clara),
        )
    }

    pub(crate) fn personas(&mut self) -> BTreeMap<String, LoadedPersona> {
        let mut out = BTreeMap::new();
        for file in self.list(PERSONAS_DIR, false) {
            let Some(source) = self.parse(&file.rel, file.yaml) else {
                continue;
            };
            let Some(loaded) = self.typed::<Persona>(file.stem.clone(), source, FileKind::Persona)
            else {
                continue;
            };
            let (prompt, prompt_file) = checks::persona_prompt(self.root, &loaded, self.problems);
            out.insert(
                file.stem,
                LoadedPersona {
                    file: loaded,
                    prompt,
                    prompt_file,
                },
            );
        }
        out
    }

    /// Files of one folder by stem; a file with problems is kept as `None` so its name still
    /// resolves in references.
    pub(crate) fn named<T: DeserializeOwned>(
        &mut self,
        dir: &'static str,
        kind: FileKind,
        what: &str,
    ) -> BTreeMap<String, Option<Loaded<T>>> {
        let mut out = BTreeMap::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for file in self.list(dir, true) {
            if let Some(first) = seen.get(&file.stem) {
                self.problems.push(Problem::at(
                    &file.rel,
                    At::START,
                    format!("{what} `{}` is already defined in {first}", file.stem),
                ));
                continue;
            }
            seen.insert(file.stem.clone(), file.rel.clone());
            let loaded = self
                .parse(&file.rel, file.yaml)
                .and_then(|source| self.typed(file.stem.clone(), source, kind));
            out.insert(file.stem, loaded);
        }
        out
    }

    pub(crate) fn tools(&mut self) -> BTreeMap<String, Loaded<ToolManifest>> {
        let mut out: BTreeMap<String, Loaded<ToolManifest>> = BTreeMap::new();
        for file in self.list(TOOLS_DIR, true) {
            let Some(source) = self.parse(&file.rel, file.yaml) else {
                continue;
            };
            let Some(mut loaded) =
                self.typed::<ToolManifest>(file.stem.clone(), source, FileKind::Tool)
            else {
                continue;
            };
            if let Some(name) = &loaded.value.name {
                loaded.name = name.clone();
            }
            if let Some(first) = out.get(&loaded.name) {
                let at = loaded.source.doc.value_at(&crate::path!["name"]);
                let message = format!(
                    "duplicate tool name `{}`: also defined in {}",
                    loaded.name, first.source.rel
                );
                self.problems
                    .push(Problem::at(&loaded.source.rel, at, message));
                continue;
            }
            out.insert(loaded.name.clone(), loaded);
        }
        out
    }

    /// The config files of `dir`, by the one policy in [`crate::read`]: every entry with a
    /// config extension is listed (and a folder, FIFO or dangling symlink among them is
    /// reported when it is read); hidden entries and other extensions (scripts, notes, editor
    /// backups, subfolders) are not config and are left alone.
    fn list(&mut self, dir: &'static str, yaml_allowed: bool) -> Vec<Listed> {
        let entries = match std::fs::read_dir(self.root.join(dir)) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(err) => {
                let message = match std::fs::metadata(self.root.join(dir)) {
                    Ok(meta) if !meta.is_dir() => format!(
                        "is {}, not a folder: clara reads {dir}/ as a folder of config files",
                        read::kind(&meta.file_type())
                    ),
                    _ => format!("the folder cannot be read: {err}"),
                };
                self.problems.push(Problem {
                    file: format!("{dir}/"),
                    at: None,
                    message,
                });
                return Vec::new();
            }
        };
        let mut names: Vec<String> = Vec::new();
        for entry in entries {
            match entry.map(|e| e.file_name().into_string()) {
                Ok(Ok(name)) => names.push(name),
                Ok(Err(name)) => self.problems.push(Problem {
                    file: format!("{dir}/{}", name.to_string_lossy()),
                    at: None,
                    message: "the file name is not UTF-8; rename it".to_owned(),
                }),
                Err(err) => self.problems.push(Problem {
                    file: format!("{dir}/"),
                    at: None,
                    message: format!("the folder cannot be listed: {err}"),
                }),
            }
        }
        names.sort();
        let mut listed = Vec::new();
        for name in names {
            let Some((stem, ext)) = name.rsplit_once('.') else {
                continue;
            };
            if stem.is_empty() || name.starts_with('.') {
                continue;
            }
            let rel = format!("{dir}/{name}");
            let yaml = match ext {
                "toml" => false,
                "yaml" | "yml" if yaml_allowed => true,
                "yaml" | "yml" => {
                    self.problems.push(Problem::at(
                        &rel,
                        At::START,
                        format!("files in {dir}/ are TOML: rename it to `{stem}.toml`"),
                    ));
                    continue;
                }
                _ => continue,
            };
            self.listed.entry(dir).or_default().insert(stem.to_owned());
            listed.push(Listed {
                stem: stem.to_owned(),
                rel,
                yaml,
            });
        }
        listed
    }

    fn parse(&mut self, rel: &str, yaml: bool) -> Option<Source> {
        let text = match read::read_text(&self.root.join(rel)) {
            Ok(text) => text,
            Err(err) => {
                let message = if err.is_not_found() && rel == CLARA_FILE {
                    format!(
                        "not found in {}: every root needs one. Run `clara init` to write the shipped root there, or point --root (or CLARA_ROOT) at your root folder",
                        self.root.display()
                    )
                } else {
                    err.to_string()
                };
                self.problems.push(Problem {
                    file: rel.to_owned(),
                    at: None,
                    message,
                });
                return None;
            }
        };
        let parsed: Result<Node, SyntaxError> = if yaml {
            parse_yaml(&text)
        } else {
            parse_toml(&text)
        };
        match parsed {
            Ok(doc) => Some(Source {
                rel: rel.to_owned(),
                text,
                doc,
                yaml,
            }),
            Err(err) => {
                self.problems.push(Problem::at(
                    rel,
                    err.at,
                    format!("syntax error: {}", err.message),
                ));
                None
            }
        }
    }

    fn typed<T: DeserializeOwned>(
        &mut self,
        name: String,
        mut source: Source,
        kind: FileKind,
    ) -> Option<Loaded<T>> {
        let retired = crate::retired::drop_retired(kind, &source.rel, &mut source.doc);
        self.warnings.extend(retired);
        if !matches!(source.doc.value, crate::doc::Value::Map(_)) {
            self.problems.push(Problem::at(
                &source.rel,
                At::START,
                "expected a table of keys at the top of the file",
            ));
            return None;
        }
        let issues = schema_check::check(&source.doc, schema_of(kind));
        if !issues.is_empty() {
            for (at, message) in issues {
                self.problems.push(Problem::at(&source.rel, at, message));
            }
            return None;
        }
        match serde_json::from_value::<T>(source.doc.to_json()) {
            Ok(value) => Some(Loaded {
                name,
                source,
                value,
            }),
            Err(err) => {
                self.problems
                    .push(Problem::at(&source.rel, At::START, err.to_string()));
                None
            }
        }
    }
}

struct Listed {
    stem: String,
    rel: String,
    yaml: bool,
}
