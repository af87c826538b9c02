//! `clara plan --against DIR`: what applying the files on disk would do to the configuration
//! in DIR (a copy of what runs): each file that changes, whether the edit applies live, needs a
//! restart (and why) or is rejected (every problem at its `file:line:col`), and how personas'
//! prompts and pipelines' steps change.

use std::path::Path;
use std::process::ExitCode;

use clara_config::plan::{Plan, Verdict};

use crate::cli::PlanArgs;

pub fn run(root: &Path, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let old = match clara_config::load(&args.against) {
        Ok(set) => set,
        Err(err) => {
            for problem in err.problems() {
                eprintln!("{problem}");
            }
            anyhow::bail!(
                "the configuration to compare with, in {}, does not load: {err}",
                args.against.display()
            );
        }
    };
    let plan = match clara_config::load(root) {
        Ok(new) => Plan::between(&old, &new),
        Err(err) => Plan::rejected(&err),
    };
    print!("{plan}");
    Ok(match plan.verdict {
        Verdict::Rejected(_) => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}
