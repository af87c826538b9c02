//! `clara schema`: write the JSON Schemas editors use, or check the checked-in ones are fresh.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clara_config::FileKind;
use clara_config::schema::render;

use crate::cli::SchemaArgs;

pub fn run(root: &Path, args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let dir = args.out.clone().unwrap_or_else(|| root.join("schema"));
    if args.check {
        return Ok(check(&dir));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for kind in FileKind::ALL {
        let path = dir.join(kind.schema_file());
        std::fs::write(&path, render(kind))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn check(dir: &Path) -> ExitCode {
    let mut stale = 0;
    for kind in FileKind::ALL {
        let path = dir.join(kind.schema_file());
        match std::fs::read_to_string(&path) {
            Ok(text) if text == render(kind) => {}
            Ok(_) => {
                println!("{}: out of date; run `clara schema`", path.display());
                stale += 1;
            }
            Err(_) => {
                println!("{}: missing; run `clara schema`", path.display());
                stale += 1;
            }
        }
    }
    if stale == 0 {
        println!("ok: {} schemas are current", FileKind::ALL.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
