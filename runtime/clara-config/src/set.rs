//! The loaded configuration: every typed file of a root with its source, the folders a root
//! holds, and the partial set the cross-file checks see while loading.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::doc::Node;
use crate::env::Env;
use crate::model::email_rule::EmailRule;
use crate::model::{
    clara::ClaraConfig, hook::HookFile, persona::Persona, pipeline::Pipeline, tool::ToolManifest,
};
use crate::problem::Problem;

/// The folders of a root and the file kinds they hold.
pub const PERSONAS_DIR: &str = "personas";
/// Pipelines folder.
pub const PIPELINES_DIR: &str = "pipelines";
/// Tool manifests folder.
pub const TOOLS_DIR: &str = "tools.d";
/// Hooks and scheduled tasks folder.
pub const HOOKS_DIR: &str = "hooks";
/// Email rule presets, one per file.
pub const EMAIL_PRESETS_DIR: &str = "email/presets";
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
    /// Email rule presets by name (the file stem).
    pub email_presets: BTreeMap<String, Loaded<EmailRule>>,
    /// What is fine but worth saying (a retired key), by file and position.
    pub warnings: Vec<Problem>,
}

impl ConfigSet {
    /// Every file the set was read from, by path in the root, with its text as read.
    pub fn source_files(&self) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        files.insert(
            self.clara.source.rel.clone(),
            self.clara.source.text.clone(),
        );
        for persona in self.personas.values() {
            files.insert(
                persona.file.source.rel.clone(),
                persona.file.source.text.clone(),
            );
            // An inline prompt is part of the persona file's own text.
            if persona.prompt_file != persona.file.source.rel {
                files.insert(persona.prompt_file.clone(), persona.prompt.clone());
            }
        }
        let sources = self
            .pipelines
            .values()
            .map(|p| &p.source)
            .chain(self.tools.values().map(|t| &t.source))
            .chain(self.hook_files.values().map(|h| &h.source))
            .chain(self.email_presets.values().map(|e| &e.source));
        for source in sources {
            files.insert(source.rel.clone(), source.text.clone());
        }
        files
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
    pub email_presets: &'a BTreeMap<String, Option<Loaded<EmailRule>>>,
}

impl Partial<'_> {
    /// Every file that parsed, whatever its later checks found.
    pub(crate) fn sources(&self) -> impl Iterator<Item = &Source> {
        let clara = self.clara.map(|c| &c.source);
        let personas = self.personas.values().map(|p| &p.file.source);
        let pipelines = self.pipelines.values().flatten().map(|p| &p.source);
        let tools = self.tools.values().map(|t| &t.source);
        let hooks = self.hook_files.values().flatten().map(|h| &h.source);
        let presets = self.email_presets.values().flatten().map(|e| &e.source);
        clara
            .into_iter()
            .chain(personas)
            .chain(pipelines)
            .chain(tools)
            .chain(hooks)
            .chain(presets)
    }
}
