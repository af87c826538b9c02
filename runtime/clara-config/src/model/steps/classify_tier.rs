//! The `classify_tier` step: tier prefixes and the optional classifier call.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::{Tier, yes};
use crate::model::prompts;

/// Options of the `classify_tier` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyTierStep {
    /// The step's name, unique in its pipeline (default: its `type`). Work the step queues
    /// (memory extraction) finds it by this name, wherever a reload moves it.
    #[serde(default)]
    pub id: Option<String>,
    /// Message prefixes that pick a tier (case-insensitive, at the start of the message).
    #[serde(default)]
    pub prefixes: TierPrefixes,
    /// Remove the prefix from the text the model sees.
    #[serde(default = "yes")]
    pub strip_prefix: bool,
    /// Without a prefix, ask the low tier to classify the message (`AUTO_TIER_SELECTION`).
    #[serde(default)]
    pub classifier: bool,
    /// The classifier's prompt (tera template; variables `message`, `context`).
    #[serde(default = "default_classifier_prompt")]
    pub classifier_prompt: String,
    /// Earlier messages the classifier sees.
    #[serde(default = "default_classifier_context_messages")]
    pub classifier_context_messages: u32,
    /// Characters of the message the classifier sees.
    #[serde(default = "default_classifier_message_chars")]
    pub classifier_message_chars: u32,
    /// Characters of each earlier message the classifier sees.
    #[serde(default = "default_classifier_context_chars")]
    pub classifier_context_chars: u32,
    /// Tier used when the classifier fails or answers something unreadable.
    #[serde(default = "default_fallback_tier")]
    pub fallback_tier: Tier,
}

impl Default for ClassifyTierStep {
    fn default() -> Self {
        Self {
            id: None,
            prefixes: TierPrefixes::default(),
            strip_prefix: true,
            classifier: false,
            classifier_prompt: default_classifier_prompt(),
            classifier_context_messages: default_classifier_context_messages(),
            classifier_message_chars: default_classifier_message_chars(),
            classifier_context_chars: default_classifier_context_chars(),
            fallback_tier: default_fallback_tier(),
        }
    }
}

/// Prefixes per tier.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierPrefixes {
    /// Prefixes selecting the high tier.
    #[serde(default = "default_high_prefixes")]
    pub high: Vec<String>,
    /// Prefixes selecting the mid tier.
    #[serde(default = "default_mid_prefixes")]
    pub mid: Vec<String>,
    /// Prefixes selecting the low tier.
    #[serde(default = "default_low_prefixes")]
    pub low: Vec<String>,
}

impl Default for TierPrefixes {
    fn default() -> Self {
        Self {
            high: default_high_prefixes(),
            mid: default_mid_prefixes(),
            low: default_low_prefixes(),
        }
    }
}

fn default_classifier_prompt() -> String {
    prompts::CLASSIFIER.to_owned()
}
fn default_classifier_context_messages() -> u32 {
    4
}
fn default_classifier_message_chars() -> u32 {
    500
}
fn default_classifier_context_chars() -> u32 {
    200
}
fn default_fallback_tier() -> Tier {
    Tier::Mid
}
fn default_high_prefixes() -> Vec<String> {
    vec!["!high".to_owned(), "!opus".to_owned()]
}
fn default_mid_prefixes() -> Vec<String> {
    vec!["!mid".to_owned(), "!sonnet".to_owned()]
}
fn default_low_prefixes() -> Vec<String> {
    ["!low", "!haiku", "!fast"].map(str::to_owned).to_vec()
}
