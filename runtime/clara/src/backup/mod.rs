//! Backups of the stores (`clara backup`, `clara restore`): a consistent snapshot of one store,
//! packed (gzip, sealed when `[backup] encrypt`), uploaded under `[backup] prefix` to
//! S3-compatible storage or a folder, with a JSON description written last (a backup exists
//! once its description does, so a failed upload is never listed). Retention by age and
//! count, respawn protection, and restores that check the archive before touching the store.

mod archive;
mod destination;
mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clara_config::ConfigSet;
use clara_config::model::backup::BackupTarget;
use clara_core::store::Millis;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use snapshot::Kind;

use crate::connections::SecretKey;
use archive::Seal;

/// Bytes per uploaded part.
const PART: usize = 8 << 20;

/// What describes one backup, kept beside its archive as `ID.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// `STORE-YYYYMMDDTHHMMSS.mmmZ`.
    pub id: String,
    /// The store's name in clara.toml.
    pub store: String,
    /// What kind of snapshot the archive holds.
    pub kind: Kind,
    /// When it was made (Unix milliseconds).
    pub created_at: Millis,
    /// The archive's size.
    pub bytes: u64,
    /// The archive's SHA-256, lowercase hex.
    pub sha256: String,
    /// Whether the archive is sealed with the secret key.
    pub encrypted: bool,
    /// The clara that made it.
    pub clara_version: String,
}

/// Why a backup or restore did not happen. Messages name what to fix and hold no secret.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The settings or the environment are not enough.
    #[error("{0}")]
    Setup(String),
    /// The storage failed.
    #[error("{place}: {why}")]
    Storage {
        /// Which storage.
        place: String,
        /// What it said.
        why: String,
    },
    /// The store could not be snapshotted or restored.
    #[error("{0}")]
    Store(String),
    /// No backup has that id.
    #[error("there is no backup `{id}` in {place} (clara backup list shows them)")]
    Unknown {
        /// The id asked for.
        id: String,
        /// Where it was looked for.
        place: String,
    },
    /// Refused without `--force`.
    #[error("{0}")]
    Refused(String),
}

/// What `make` did.
#[derive(Debug)]
pub enum Made {
    /// A backup was made; the ids retention deleted.
    Done(BackupInfo, Vec<String>),
    /// The last backup is too recent (respawn protection).
    Skipped(BackupInfo),
}

/// What a long operation is doing, for a progress display: `(stage, done, total)`.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

/// The backups of one root at one destination.
pub struct Backups<'a> {
    set: &'a ConfigSet,
    storage: Arc<dyn ObjectStore>,
    place: String,
    prefix: String,
}

impl<'a> Backups<'a> {
    /// The backups `set` keeps at `[backup] to` (or `target`).
    pub fn open(
        set: &'a ConfigSet,
        target: Option<BackupTarget>,
    ) -> Result<Backups<'a>, BackupError> {
        let config = &set.clara.value.backup;
        let target = target.unwrap_or(config.to);
        let (storage, place) =
            destination::open(config, target, &set.root, &set.env).map_err(BackupError::Setup)?;
        // Names are `PREFIX/ID.…`: a prefix is a folder, whether or not it ends with `/`.
        let mut prefix = config.prefix.trim_start_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Backups {
            set,
            storage,
            place,
            prefix,
        })
    }

    /// Where they are, for people.
    pub fn place(&self) -> &str {
        &self.place
    }

    fn key(&self, id: &str, suffix: &str) -> Key {
        Key::from(format!("{}{id}.{suffix}", self.prefix))
    }

    fn storage_error(&self, e: impl std::fmt::Display) -> BackupError {
        BackupError::Storage {
            place: self.place.clone(),
            why: e.to_string(),
        }
    }

    /// Every backup, newest first.
    pub async fn list(&self) -> Result<Vec<BackupInfo>, BackupError> {
        let under = self.prefix.trim_end_matches('/');
        let under = (!under.is_empty()).then(|| Key::from(under));
        let mut listing = self.storage.list(under.as_ref());
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.storage_error(e))?;
            if meta.location.extension() != Some("json") {
                continue;
            }
            let body = self
                .storage
                .get(&meta.location)
                .await
                .map_err(|e| self.storage_error(e))?
                .bytes()
                .await
                .map_err(|e| self.storage_error(e))?;
            match serde_json::from_slice::<BackupInfo>(&body) {
                Ok(info) => found.push(info),
                Err(e) => tracing::warn!(object = %meta.location, "not a backup description: {e}"),
            }
        }
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(found)
    }

    /// Backs up store `name` (default: `[defaults] store`), unless its last backup is younger
    /// than `[backup] min_interval_hours` and not `force`; then applies retention.
    pub async fn make(
        &self,
        name: Option<&str>,
        force: bool,
        now: Millis,
        progress: Progress<'_>,
    ) -> Result<Made, BackupError> {
        let clara = &self.set.clara.value;
        let name = name.unwrap_or(&clara.defaults.store);
        let store = clara.stores.get(name).ok_or_else(|| {
            BackupError::Setup(format!("there is no store `{name}` in clara.toml"))
        })?;
        let config = &clara.backup;
        let mine: Vec<BackupInfo> = self
            .list()
            .await?
            .into_iter()
            .filter(|b| b.store == name)
            .collect();
        let interval = i64::from(config.min_interval_hours) * 3_600_000;
        if let Some(last) = mine.first()
            && !force
            && now - last.created_at < interval
        {
            return Ok(Made::Skipped(last.clone()));
        }
        let key = if config.encrypt {
            Some(self.secret_key()?)
        } else {
            None
        };
        let stamp = chrono::DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%S%.3fZ");
        let id = format!("{name}-{stamp}");
        let work = WorkDir::new(&self.set.root.join(".clara"))?;
        let snapshot = work.path("snapshot");
        progress("snapshot", 0, 0);
        snapshot::take(store, &self.set.root, &self.set.env, &snapshot)
            .await
            .map_err(BackupError::Store)?;
        let archive_file = work.path("archive");
        let packed = {
            let (snapshot, archive_file, id) = (snapshot.clone(), archive_file.clone(), id.clone());
            tokio::task::spawn_blocking(move || {
                let seal = key.as_ref().map(|key| Seal { key, id: &id });
                archive::pack(&snapshot, &archive_file, seal)
            })
            .await
            .expect("packing does not panic")
            .map_err(|e| BackupError::Store(format!("cannot pack the snapshot: {e}")))?
        };
        self.upload(
            &archive_file,
            &self.key(&id, "archive"),
            packed.bytes,
            progress,
        )
        .await?;
        let info = BackupInfo {
            id: id.clone(),
            store: name.to_owned(),
            kind: snapshot::kind(store),
            created_at: now,
            bytes: packed.bytes,
            sha256: packed.sha256,
            encrypted: config.encrypt,
            clara_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let description = serde_json::to_vec_pretty(&info).expect("a description serializes");
        self.storage
            .put(&self.key(&id, "json"), description.into())
            .await
            .map_err(|e| self.storage_error(e))?;
        let mut kept = vec![info.clone()];
        kept.extend(mine);
        let pruned = self.prune(&kept, now).await?;
        Ok(Made::Done(info, pruned))
    }

    /// Deletes what retention lets go of among `backups` (one store's, newest first; the
    /// newest always stays); their ids.
    async fn prune(&self, backups: &[BackupInfo], now: Millis) -> Result<Vec<String>, BackupError> {
        let config = &self.set.clara.value.backup;
        let oldest = now - i64::from(config.keep_days) * 86_400_000;
        let mut pruned = Vec::new();
        for (i, backup) in backups.iter().enumerate().skip(1) {
            let too_many = config.keep_count > 0 && i >= config.keep_count as usize;
            let too_old = config.keep_days > 0 && backup.created_at < oldest;
            if !(too_many || too_old) {
                continue;
            }
            // The description goes first: a backup half-deleted is no longer listed.
            for suffix in ["json", "archive"] {
                match self.storage.delete(&self.key(&backup.id, suffix)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.storage_error(e)),
                }
            }
            pruned.push(backup.id.clone());
        }
        Ok(pruned)
    }

    /// Puts backup `id` back as its store (or `into`), after checking its archive. Refuses a
    /// store that holds messages or memories unless `force`.
    pub async fn restore(
        &self,
        id: &str,
        into: Option<&str>,
        force: bool,
        progress: Progress<'_>,
    ) -> Result<BackupInfo, BackupError> {
        let info = self
            .list()
            .await?
            .into_iter()
            .find(|b| b.id == id)
            .ok_or_else(|| BackupError::Unknown {
                id: id.to_owned(),
                place: self.place.clone(),
            })?;
        let clara = &self.set.clara.value;
        let name = into.unwrap_or(&info.store);
        let store = clara.stores.get(name).ok_or_else(|| {
            BackupError::Setup(format!("there is no store `{name}` in clara.toml"))
        })?;
        if snapshot::kind(store) != info.kind {
            return Err(BackupError::Refused(format!(
                "`{id}` is a {:?} backup and the store `{name}` is not",
                info.kind
            )));
        }
        let key = if info.encrypted {
            Some(self.secret_key()?)
        } else {
            None
        };
        let root = &self.set.root;
        if let Some(at) = running_clara(self.set).await {
            return Err(BackupError::Refused(format!(
                "a clara is running from this root (its status endpoint answers at {at}): stop it, then restore"
            )));
        }
        if !force
            && snapshot::holds_data(store, root, &self.set.env)
                .await
                .map_err(BackupError::Store)?
        {
            return Err(BackupError::Refused(format!(
                "the store `{name}` holds messages or memories: restoring would replace them; stop clara and add --force to do it anyway"
            )));
        }
        // Beside the database, so that the restored file is moved in, not copied.
        let work = WorkDir::new(&restore_dir(store, root))?;
        let archive_file = work.path("archive");
        self.download(
            &self.key(id, "archive"),
            &archive_file,
            info.bytes,
            progress,
        )
        .await?;
        let snapshot = work.path("snapshot");
        {
            let (archive_file, snapshot, owned_id, sha) = (
                archive_file.clone(),
                snapshot.clone(),
                id.to_owned(),
                info.sha256.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let seal = key.as_ref().map(|key| Seal { key, id: &owned_id });
                archive::unpack(&archive_file, &snapshot, &sha, seal)
            })
            .await
            .expect("unpacking does not panic")
            .map_err(|why| BackupError::Refused(format!("`{id}` cannot be restored: {why}")))?;
        }
        progress("restore", 0, 0);
        snapshot::put_back(store, root, &self.set.env, &snapshot)
            .await
            .map_err(BackupError::Store)?;
        Ok(info)
    }

    fn secret_key(&self) -> Result<SecretKey, BackupError> {
        let var = &self.set.clara.value.runtime.secret_key_env;
        self.set
            .env
            .get(var)
            .and_then(SecretKey::from_secret)
            .ok_or_else(|| {
                BackupError::Setup(format!(
                    "encrypted backups need the variable `{var}` ([runtime] secret_key_env, at least 16 characters)"
                ))
            })
    }

    /// Uploads `file` in parts; a failed upload is aborted, so no partial object stays.
    async fn upload(
        &self,
        file: &Path,
        key: &Key,
        total: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackupError> {
        let upload = self
            .storage
            .put_multipart(key)
            .await
            .map_err(|e| self.storage_error(e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let sent = async {
            let mut input = tokio::fs::File::open(file)
                .await
                .map_err(|e| e.to_string())?;
            let mut done = 0u64;
            let mut buf = vec![0; PART];
            loop {
                let n = read_full(&mut input, &mut buf)
                    .await
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                writer
                    .wait_for_capacity(4)
                    .await
                    .map_err(|e| e.to_string())?;
                writer.write(&buf[..n]);
                done += n as u64;
                progress("upload", done, total);
            }
            Ok::<_, String>(())
        }
        .await;
        match sent {
            Ok(()) => writer
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| self.storage_error(e)),
            Err(why) => {
                let _ = writer.abort().await;
                Err(self.storage_error(why))
            }
        }
    }

    async fn download(
        &self,
        key: &Key,
        file: &Path,
        total: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackupError> {
        let mut stream = self
            .storage
            .get(key)
            .await
            .map_err(|e| self.storage_error(e))?
            .into_stream();
        let mut output = tokio::fs::File::create(file)
            .await
            .map_err(|e| BackupError::Store(e.to_string()))?;
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.storage_error(e))?;
            output
                .write_all(&chunk)
                .await
                .map_err(|e| BackupError::Store(e.to_string()))?;
            done += chunk.len() as u64;
            progress("download", done, total);
        }
        output
            .sync_all()
            .await
            .map_err(|e| BackupError::Store(e.to_string()))
    }
}

/// Where the status endpoint of a clara running from this root answers, if one does.
async fn running_clara(set: &ConfigSet) -> Option<String> {
    let status = &set.clara.value.status;
    if !status.enabled {
        return None;
    }
    let address = crate::status::local_address(&status.bind)?;
    let client = crate::tools::http_client();
    let url = format!("http://{address}/health");
    let answered = client
        .get(&url)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .is_ok();
    answered.then_some(url)
}

/// Reads until `buf` is full or the file ends; how much was read.
async fn read_full(input: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = input.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Where a restore of `store` unpacks: the database's own folder for SQLite (so it is moved
/// in), the root's `.clara` otherwise.
fn restore_dir(store: &clara_config::model::store::StoreConfig, root: &Path) -> PathBuf {
    match store {
        clara_config::model::store::StoreConfig::Sqlite { path, .. } => root
            .join(path)
            .parent()
            .map_or_else(|| root.to_owned(), Path::to_owned),
        clara_config::model::store::StoreConfig::Postgres { .. } => root.join(".clara"),
    }
}

/// A folder for one operation's files, removed with everything in it when dropped.
struct WorkDir(tempfile::TempDir);

impl WorkDir {
    fn new(under: &Path) -> Result<WorkDir, BackupError> {
        std::fs::create_dir_all(under)
            .and_then(|()| {
                tempfile::Builder::new()
                    .prefix(".clara-backup-")
                    .tempdir_in(under)
            })
            .map(WorkDir)
            .map_err(|e| {
                BackupError::Store(format!(
                    "cannot make a work folder in {}: {e}",
                    under.display()
                ))
            })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}
