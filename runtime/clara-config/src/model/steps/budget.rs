//! The `budget` step: the pipeline's own spending caps, over and above `[budgets]`; a turn
//! whose budget is already spent is answered here, before any prompt is built.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::budget::Budget;

/// Options of the `budget` step. It goes after `ingest` (a refused message is still stored)
/// and before the first model call.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetStep {
    /// The step's name, unique in its pipeline (default: its `type`).
    #[serde(default)]
    pub id: Option<String>,
    /// Caps by name, each like a `[budgets.NAME]` table, applied to this pipeline's turns.
    #[serde(default)]
    pub limits: BTreeMap<String, Budget>,
}
