//! Loading a root: find every file, parse it with positions, check it against its schema,
//! deserialise it, then run the cross-file checks. Every problem is collected; nothing stops
//! at the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::checks;
use crate::doc::Node;
use crate::env::Env;
use crate::files::Files;
use crate::model::{
    clara::ClaraConfig, hook::HookFile, persona::Persona, pipeline::Pipeline, tool::ToolManifest,
};
use crate::problem::{ConfigError, Problem};
use crate::schema::FileKind;

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

/// Loads `root` against the process environment and `ROOT/.env`.
pub fn load(root: &Path) -> Result<ConfigSet, ConfigError> {
    // A root that is not a folder has no `.env` to complain about either.
    let (env, problems) = match root.is_dir() {
        true => Env::load(root),
        false => (Env::default(), Vec::new()),
    };
    load_inner(root, env, problems)
}

/// Loads `root` against exactly `env` (no process environment, no `.env`).
pub fn load_with_env(root: &Path, env: Env) -> Result<ConfigSet, ConfigError> {
    load_inner(root, env, Vec::new())
}

fn load_inner(root: &Path, env: Env, mut problems: Vec<Problem>) -> Result<ConfigSet, ConfigError> {
    if !root.is_dir() {
        problems.push(Problem {
            file: String::new(),
            at: None,
            message: format!(
                "the root `{}` is not a folder: run `clara init {}` to write one there, or point --root (or CLARA_ROOT) at your root folder",
                root.display(),
                root.display()
            ),
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
    checks::run(&set, &names, &mut problems);
    problems.sort();
    problems.dedup();
    let set = match clara {
        Some(clara) if problems.is_empty() => ConfigSet {
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
        },
        _ => return Err(ConfigError::Invalid(problems)),
    };
    Ok(set.with_advice())
}

impl ConfigSet {
    /// Adds the warnings that need the whole, valid set: settings that work but are likely
    /// not what the user meant.
    fn with_advice(mut self) -> ConfigSet {
        let unread = crate::mypalclara::unread(&self);
        let memory = checks::memory_model_advice(&self);
        self.warnings.extend(unread.into_iter().chain(memory));
        self
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

/// The schema of `kind`, generated once per process.
pub(crate) fn schema_of(kind: FileKind) -> &'static serde_json::Value {
    static SCHEMAS: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| FileKind::ALL.iter().map(|k| k.schema()).collect());
    &all[FileKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in ALL")]
}
