//! Where backups are kept: a bucket of S3-compatible storage (`object_store`'s S3 client, its
//! requests retried with backoff) or a folder, behind one interface.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clara_config::Env;
use clara_config::model::backup::{BackupConfig, BackupTarget};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::{BackoffConfig, RetryConfig};

/// The storage `config` names, and how to say where it is.
pub fn open(
    config: &BackupConfig,
    target: BackupTarget,
    root: &Path,
    env: &Env,
) -> Result<(Arc<dyn ObjectStore>, String), String> {
    match target {
        BackupTarget::Dir => {
            let dir = root.join(&config.dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot make the folder {}: {e}", dir.display()))?;
            let local = LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| format!("cannot use the folder {}: {e}", dir.display()))?;
            Ok((Arc::new(local), format!("the folder {}", dir.display())))
        }
        BackupTarget::S3 => {
            // object_store builds its own reqwest client, which needs the process's provider.
            crate::llm::http::install_crypto_provider();
            let bucket = config
                .bucket
                .as_deref()
                .ok_or("no bucket is set: set [backup] bucket (or to = \"dir\")")?;
            let secret = |var: &str| {
                env.get(var)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("the variable `{var}` is not set"))
            };
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(&config.region)
                .with_access_key_id(secret(&config.access_key_env)?)
                .with_secret_access_key(secret(&config.secret_key_env)?)
                .with_retry(RetryConfig {
                    backoff: BackoffConfig::default(),
                    max_retries: 5,
                    retry_timeout: Duration::from_secs(300),
                });
            let mut place = format!("the bucket `{bucket}`");
            if let Some(endpoint) = &config.endpoint {
                // S3-compatible services are addressed by path, not by virtual host.
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false)
                    .with_allow_http(endpoint.starts_with("http://"));
                place = format!("{place} at {endpoint}");
            }
            let s3 = builder.build().map_err(|e| format!("{place}: {e}"))?;
            Ok((Arc::new(s3), place))
        }
    }
}
