//! JSON Schemas (draft-07) for every file kind, generated from the model types.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;

use crate::model::email_rule::EmailRule;
use crate::model::fixture::Fixture;
use crate::model::{
    clara::ClaraConfig, hook::HookFile, persona::Persona, pipeline::Pipeline, tool::ToolManifest,
};

/// The kinds of file under a root, each with its own schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// `clara.toml`
    Clara,
    /// `personas/*.toml`
    Persona,
    /// `pipelines/*.toml|yaml`
    Pipeline,
    /// `tools.d/*.toml|yaml`
    Tool,
    /// `hooks/*.toml|yaml`
    Hook,
    /// `tests/*.toml|yaml`: conversation fixtures for `clara test`
    Fixture,
    /// `email/presets/*.toml|yaml`: email rules users apply by name
    EmailPreset,
}

impl FileKind {
    /// Every kind.
    pub const ALL: [FileKind; 7] = [
        FileKind::Clara,
        FileKind::Persona,
        FileKind::Pipeline,
        FileKind::Tool,
        FileKind::Hook,
        FileKind::Fixture,
        FileKind::EmailPreset,
    ];

    /// The schema's file name in `schema/`.
    pub fn schema_file(self) -> &'static str {
        match self {
            FileKind::Clara => "clara.schema.json",
            FileKind::Persona => "persona.schema.json",
            FileKind::Pipeline => "pipeline.schema.json",
            FileKind::Tool => "tool.schema.json",
            FileKind::Hook => "hook.schema.json",
            FileKind::Fixture => "fixture.schema.json",
            FileKind::EmailPreset => "email-preset.schema.json",
        }
    }

    /// The schema as a JSON value.
    pub fn schema(self) -> serde_json::Value {
        match self {
            FileKind::Clara => generate::<ClaraConfig>(),
            FileKind::Persona => generate::<Persona>(),
            FileKind::Pipeline => generate::<Pipeline>(),
            FileKind::Tool => generate::<ToolManifest>(),
            FileKind::Hook => generate::<HookFile>(),
            FileKind::Fixture => generate::<Fixture>(),
            FileKind::EmailPreset => generate::<EmailRule>(),
        }
    }
}

fn generate<T: JsonSchema>() -> serde_json::Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.to_value()
}

/// The schema file's text as written to `schema/`: pretty JSON with a final newline.
pub fn render(kind: FileKind) -> String {
    let mut text = serde_json::to_string_pretty(&kind.schema()).expect("schemas always serialise");
    text.push('\n');
    text
}

/// The schema of `kind`, generated once per process.
pub(crate) fn schema_of(kind: FileKind) -> &'static serde_json::Value {
    static SCHEMAS: std::sync::OnceLock<Vec<serde_json::Value>> = std::sync::OnceLock::new();
    let all = SCHEMAS.get_or_init(|| FileKind::ALL.iter().map(|k| k.schema()).collect());
    &all[FileKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in ALL")]
}
