//! `[backup]`: where `clara backup` puts snapshots of the stores (S3-compatible object storage
//! or a folder), how long they are kept, and how soon another may follow.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where backups go and how long they stay.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups go: `s3` (a bucket of S3-compatible storage) or `dir` (a folder).
    #[serde(default)]
    pub to: BackupTarget,
    /// The folder for `to = "dir"`, relative to the root (or absolute).
    #[serde(default = "default_dir")]
    pub dir: String,
    /// The bucket for `to = "s3"`. Unset, scheduled backups do nothing.
    #[serde(default)]
    pub bucket: Option<String>,
    /// The S3-compatible endpoint (`https://s3.wasabisys.com`, a MinIO URL); unset: AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The bucket's region.
    #[serde(default = "default_region")]
    pub region: String,
    /// The variable holding the access key id.
    #[serde(default = "default_access_key_env")]
    pub access_key_env: String,
    /// The variable holding the secret access key.
    #[serde(default = "default_secret_key_env")]
    pub secret_key_env: String,
    /// Names of backups start with this (a folder in the bucket or in `dir`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Backups older than this many days are deleted after a new one is made (0: never by
    /// age). The newest is always kept.
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    /// At most this many backups of each store are kept (0: no limit).
    #[serde(default = "default_keep_count")]
    pub keep_count: u32,
    /// A backup younger than this many hours makes the next one a no-op (respawn
    /// protection: a restarted scheduler does not back up twice); `--force` overrides.
    #[serde(default = "default_min_interval_hours")]
    pub min_interval_hours: u32,
    /// Encrypt archives with the key of `[runtime] secret_key_env` (restoring needs the same
    /// key).
    #[serde(default)]
    pub encrypt: bool,
}

/// Where backups go.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackupTarget {
    /// S3-compatible object storage.
    #[default]
    S3,
    /// A folder.
    Dir,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            to: BackupTarget::default(),
            dir: default_dir(),
            bucket: None,
            endpoint: None,
            region: default_region(),
            access_key_env: default_access_key_env(),
            secret_key_env: default_secret_key_env(),
            prefix: default_prefix(),
            keep_days: default_keep_days(),
            keep_count: default_keep_count(),
            min_interval_hours: default_min_interval_hours(),
            encrypt: false,
        }
    }
}

fn default_dir() -> String {
    "backups".to_owned()
}
fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_access_key_env() -> String {
    "S3_ACCESS_KEY".to_owned()
}
fn default_secret_key_env() -> String {
    "S3_SECRET_KEY".to_owned()
}
fn default_prefix() -> String {
    "clara/".to_owned()
}
fn default_keep_days() -> u32 {
    7
}
fn default_keep_count() -> u32 {
    30
}
fn default_min_interval_hours() -> u32 {
    23
}
