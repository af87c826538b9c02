//! `clara plan [--against DIR]`: what applying the files on disk would do to the configuration
//! `clara run` last applied (or the one in DIR): each file that changes, whether the edit applies live, needs a
//! restart (and why) or is rejected (every problem at its `file:line:col`), and how personas'
//! prompts and pipelines' steps change.

use std::path::Path;
use std::process::ExitCode;

use clara_config::plan::{Plan, Verdict};

use crate::cli::PlanArgs;

pub fn run(root: &Path, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let old = match &args.against {
        Some(dir) => match clara_config::load(dir) {
            Ok(set) => set,
            Err(err) => {
                for problem in err.problems() {
                    eprintln!("{problem}");
                }
                anyhow::bail!(
                    "the configuration to compare with, in {}, does not load: {err}",
                    dir.display()
                );
            }
        },
        // The copy has no `.env`: it is read against the root's environment, as the files
        // on disk are.
        None => {
            let (env, _) = clara_config::Env::load(root);
            clara::live::applied::load(root, env)?
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
