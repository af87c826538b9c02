//! `budget`: the pipeline's own caps join `[budgets]` for the rest of the turn, and a turn
//! whose refusing budget is already spent is answered here, before any prompt is built.

use std::sync::Arc;

use clara_config::model::steps::BudgetStep;

use super::site::Site;
use crate::engine::EngineError;
use crate::engine::meter::{NamedBudget, Spend};
use crate::engine::run::Run;
use crate::engine::turn::Turn;

/// The built `budget` step.
pub(crate) struct Budget {
    limits: Vec<Arc<NamedBudget>>,
}

impl Budget {
    pub(crate) fn build(options: &BudgetStep, site: &Site<'_>) -> Budget {
        let limits = options
            .limits
            .iter()
            .map(|(name, budget)| {
                Arc::new(NamedBudget {
                    name: format!("{}.{}.{name}", site.pipeline, site.id),
                    owner: Some(site.pipeline.to_owned()),
                    budget: budget.clone(),
                })
            })
            .collect();
        Budget { limits }
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        turn.budgets = self.limits.clone();
        let services = run.services;
        if !services
            .budgets
            .any(&turn.meter(run.pipeline, turn.purpose()))
        {
            return Ok(());
        }
        // A call that would cost the least possible amount is refused only by a budget with
        // nothing left; its reservation is given back at once.
        let least = Spend {
            tokens: 1,
            micros: 1,
        };
        services
            .budgets
            .admit(
                &turn.meter(run.pipeline, turn.purpose()),
                least,
                services.clock.now(),
                services.store.as_ref(),
                services.events.as_ref(),
            )
            .await
            .map(drop)
    }
}
