//! Loading a root: find every file, parse it with positions, check it against its schema,
//! deserialise it, then run the cross-file checks. Every problem is collected; nothing stops
//! at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::checks;
use crate::doc::{At, Node, SyntaxError, apply_env_overrides, parse_toml, parse_yaml};
use crate::env::Env;
use crate::model::{
    clara::ClaraConfig, hook::HookFile, persona::Persona, pipeline::Pipeline, tool::ToolManifest,
};
use crate::problem::{ConfigError, Problem};
use crate::read;
use crate::schema::FileKind;
use crate::schema_check;

/// The folders of a root and the file kinds they hold.
pub const PERSONAS_DIR: &str = "personas";
/// Pipelines folder.
pub const PIPELINES_DIR: &str = "pipelines";
/// Tool manifests folder.
pub const TOOLS_DIR: &str = "tools.d";
/// Hooks and scheduled tasks folder.
pub const HOOKS_DIR: &str = "hooks";
/// The main config file.
pub const CLARA_FILE: &str = "clara.toml";

/// A file's text and its parsed document, kept so later checks can point into it.
#[derive(Clone, Debug)]
pub struct Source {
    /// Path relative to the root, with `/` separators.
    pub rel: String,
    /// The file's text.
    pub text: String,
    /// The parsed document (with `CLARA_…` overrides applied, for `clara.toml`).
    pub doc: Node,
    /// Whether the text is YAML (else TOML).
    pub yaml: bool,
}

/// A typed file with its source.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// The name it is referred to by (the file stem, or a tool's `name`).
    pub name: String,
    /// Where it came from.
    pub source: Source,
    /// The typed config.
    pub value: T,
}

/// A persona with its system prompt resolved.
#[derive(Clone, Debug)]
pub struct LoadedPersona {
    /// The persona file.
    pub file: Loaded<Persona>,
    /// The prompt template's text.
    pub prompt: String,
    /// The file the prompt came from (the persona file itself for an inline prompt).
    pub prompt_file: String,
}

/// Every file of a root, loaded and checked.
#[derive(Clone, Debug)]
pub struct ConfigSet {
    /// The root folder.
    pub root: PathBuf,
    /// The environment it was checked against.
    pub env: Env,
    /// `clara.toml`.
    pub clara: Loaded<ClaraConfig>,
    /// Personas by name.
    pub personas: BTreeMap<String, LoadedPersona>,
    /// Pipelines by name.
    pub pipelines: BTreeMap<String, Loaded<Pipeline>>,
    /// Tool manifests by tool name.
    pub tools: BTreeMap<String, Loaded<ToolManifest>>,
    /// Hook files by file stem.
    pub hook_files: BTreeMap<String, Loaded<HookFile>>,
    /// What is fine but worth saying (a retired key), by file and position.
    pub warnings: Vec<Problem>,
}

/// What to check beyond the files themselves.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Skip checks that need the environment (secret variables being set).
    pub offline: bool,
}

/// Loads `root` against the process environment and `ROOT/.env`.
pub fn load(root: &Path, options: LoadOptions) -> Result<ConfigSet, ConfigError> {
    let (env, problems) = Env::load(root);
    load_inner(root, env, options, problems)
}

/// Loads `root` against exactly `env` (no process environment, no `.env`).
pub fn load_with_env(
    root: &Path,
    env: Env,
    options: LoadOptions,
) -> Result<ConfigSet, ConfigError> {
    load_inner(root, env, options, Vec::new())
}

fn load_inner(
    root: &Path,
    env: Env,
    options: LoadOptions,
    mut problems: Vec<Problem>,
) -> Result<ConfigSet, ConfigError> {
    if !root.is_dir() {
        problems.push(Problem {
            file: String::new(),
            at: None,
            message: format!("the root `{}` is not a folder", root.display()),
        });
        return Err(ConfigError::Invalid(problems));
    }
    let mut files = Files {
        root,
        problems: &mut problems,
        warnings: Vec::new(),
        listed: BTreeMap::new(),
    };
    let (clara_doc, clara) = files.clara(&env);
    let personas = files.personas();
    let pipelines = files.named::<Pipeline>(PIPELINES_DIR, FileKind::Pipeline, "pipeline");
    let tools = files.tools();
    let hook_files = files.named::<HookFile>(HOOKS_DIR, FileKind::Hook, "hook file");
    let listed = std::mem::take(&mut files.listed);
    let mut warnings = std::mem::take(&mut files.warnings);
    warnings.sort();
    let names = checks::Names::new(
        &listed,
        clara_doc.as_ref(),
        &clara,
        &personas,
        &pipelines,
        &tools,
    );
    let set = Partial {
        clara: clara.as_ref(),
        personas: &personas,
        pipelines: &pipelines,
        tools: &tools,
        hook_files: &hook_files,
    };
    checks::run(&set, &names, &env, options, &mut problems);
    problems.sort();
    problems.dedup();
    match clara {
        Some(clara) if problems.is_empty() => Ok(ConfigSet {
            root: root.to_owned(),
            env,
            clara,
            personas,
            pipelines: pipelines
                .into_iter()
                .map(|(k, v)| (k, v.expect("no problems means every file loaded")))
                .collect(),
            tools,
            hook_files: hook_files
                .into_iter()
                .map(|(k, v)| (k, v.expect("no problems means every file loaded")))
                .collect(),
            warnings,
        }),
        _ => Err(ConfigError::Invalid(problems)),
    }
}

/// What has been loaded so far, for the cross-file checks (a file that failed is `None` or
/// missing; its name is still known from the file listing).
pub(crate) struct Partial<'a> {
    pub clara: Option<&'a Loaded<ClaraConfig>>,
    pub personas: &'a BTreeMap<String, LoadedPersona>,
    pub pipelines: &'a BTreeMap<String, Option<Loaded<Pipeline>>>,
    pub tools: &'a BTreeMap<String, Loaded<ToolManifest>>,
    pub hook_files: &'a BTreeMap<String, Option<Loaded<HookFile>>>,
}

impl Partial<'_> {
    /// Every file that parsed, whatever its later checks found.
    pub(crate) fn sources(&self) -> impl Iterator<Item = &Source> {
        let clara = self.clara.map(|c| &c.source);
        let personas = self.personas.values().map(|p| &p.file.source);
        let pipelines = self.pipelines.values().flatten().map(|p| &p.source);
        let tools = self.tools.values().map(|t| &t.source);
        let hooks = self.hook_files.values().flatten().map(|h| &h.source);
        clara
            .into_iter()
            .chain(personas)
            .chain(pipelines)
            .chain(tools)
            .chain(hooks)
    }
}

struct Files<'a> {
    root: &'a Path,
    problems: &'a mut Vec<Problem>,
    warnings: Vec<Problem>,
    /// Stems of the config files found in each folder, so names resolve even for files that
    /// fail to load.
    listed: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Files<'_> {
    /// `clara.toml`, typed; and its document (overrides applied) even when it fails its
    /// checks, so the names it defines still resolve in other files.
    fn clara(&mut self, env: &Env) -> (Option<Node>, Option<Loaded<ClaraConfig>>) {
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

    fn personas(&mut self) -> BTreeMap<String, LoadedPersona> {
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
    fn named<T: DeserializeOwned>(
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

    fn tools(&mut self) -> BTreeMap<String, Loaded<ToolManifest>> {
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
                    "not found: every root needs a clara.toml".to_owned()
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

/// The schema of `kind`, generated once per process.
pub(crate) fn schema_of(kind: FileKind) -> &'static serde_json::Value {
    static SCHEMAS: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| FileKind::ALL.iter().map(|k| k.schema()).collect());
    &all[FileKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in ALL")]
}
