//! `clara migrate`: brings every store in `clara.toml` up to the current schema. Opening a
//! store applies its pending migrations, so this is what start-up does, without starting.

use std::path::Path;
use std::process::ExitCode;

use clara_config::model::store::StoreConfig;

pub async fn run(root: &Path) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_or_report(root) else {
        return Ok(ExitCode::FAILURE);
    };
    let mut failed = false;
    for (name, config) in &set.clara.value.stores {
        let place = match config {
            StoreConfig::Sqlite { path, .. } => format!("sqlite {}", set.root.join(path).display()),
            StoreConfig::Postgres { url_env, .. } => format!("postgres ${url_env}"),
        };
        match clara::store::open(config, &set.root, &set.env, clara::store::Access::ReadWrite).await
        {
            Ok(_) => println!("store `{name}` ({place}): schema up to date"),
            Err(error) => {
                eprintln!("store `{name}` ({place}): {error}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
