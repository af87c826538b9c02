//! Budget checks, for `[budgets.NAME]` and a `budget` step's `limits` alike: a cap is set, a
//! downgrade says where to, and every pipeline, persona and provider named exists.

use crate::doc::Seg;
use crate::model::budget::{Budget, BudgetAction};
use crate::set::Source;

use super::{Names, Report};

/// Checks the budget at `at` in `source`.
pub(crate) fn check(
    report: &mut Report<'_>,
    source: &Source,
    at: &[Seg],
    budget: &Budget,
    names: &Names,
) {
    let field = |name: &str| {
        let mut path = at.to_vec();
        path.push(Seg::from(name));
        path
    };
    let item = |name: &str, i: usize| {
        let mut path = field(name);
        path.push(Seg::from(i));
        path
    };
    if budget.tokens.is_none() && budget.dollars.is_none() {
        report.key(
            source,
            at,
            "a budget needs a cap: set `tokens` or `dollars`",
        );
    }
    let downgrade = budget.downgrade.as_ref();
    if budget.action == BudgetAction::Downgrade
        && downgrade.is_none_or(|d| d.tier.is_none() && d.provider.is_none())
    {
        report.value(
            source,
            &field("action"),
            "`downgrade` needs somewhere to go: set `downgrade = { tier = \"low\" }` or a `provider`",
        );
    }
    if let (Some(provider), Some(providers)) = (
        downgrade.and_then(|d| d.provider.as_ref()),
        &names.providers,
    ) {
        let mut path = field("downgrade");
        path.push(Seg::from("provider"));
        report.reference(source, &path, "provider", provider, providers);
    }
    for (i, pipeline) in budget.pipelines.iter().enumerate() {
        report.reference(
            source,
            &item("pipelines", i),
            "pipeline",
            pipeline,
            &names.pipelines,
        );
    }
    for (i, persona) in budget.personas.iter().enumerate() {
        report.reference(
            source,
            &item("personas", i),
            "persona",
            persona,
            &names.personas,
        );
    }
}
