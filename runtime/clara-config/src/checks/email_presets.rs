//! Email preset checks: each preset is a rule that can match something.

use crate::path;
use crate::set::Partial;

use super::Report;

pub(crate) fn check_all(set: &Partial<'_>, report: &mut Report<'_>) {
    for preset in set.email_presets.values().flatten() {
        for problem in preset.value.problems() {
            match problem.condition {
                Some(condition) => report.value(
                    &preset.source,
                    &path!["conditions", condition],
                    problem.message,
                ),
                None => report.key(&preset.source, &path!["conditions"], problem.message),
            }
        }
    }
}
