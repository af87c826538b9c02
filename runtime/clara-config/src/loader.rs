//! Loading a root: find every file, parse it with positions, check it against its schema,
//! deserialise it, then run the cross-file checks. Every problem is collected; nothing stops
//! at the first.

use std::collections::BTreeMap;
use std::path::Path;

use crate::checks;
use crate::env::Env;
use crate::files::Files;
use crate::model::{email_rule::EmailRule, hook::HookFile, pipeline::Pipeline};
use crate::problem::{ConfigError, Problem};
use crate::schema::FileKind;
use crate::set::{ConfigSet, EMAIL_PRESETS_DIR, HOOKS_DIR, PIPELINES_DIR, Partial};

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
    let email_presets =
        files.named::<EmailRule>(EMAIL_PRESETS_DIR, FileKind::EmailPreset, "email preset");
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
        email_presets: &email_presets,
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
            email_presets: email_presets
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
        let cache = checks::prompt_cache_advice(&self);
        self.warnings
            .extend(unread.into_iter().chain(memory).chain(cache));
        self
    }
}
