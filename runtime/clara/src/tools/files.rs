//! The built-in file tools: each user has a folder under `[files] dir` where the model can
//! save, list, read and delete files for them, and send one into the conversation. A file name is one plain name: no folders, no
//! `..`, no absolute paths, and symlinks are neither followed nor replaced, so nothing a
//! model writes can reach outside the user's folder.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clara_core::engine::{SentFile, SentFiles, Tool, ToolContext, ToolError};
use clara_core::llm::{BoxFuture, ToolSpec};
use serde_json::{Value, json};

/// Where users' folders live, and the size cap.
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
    max_bytes: u64,
}

impl FileStore {
    /// Files under `dir` (created on first save), none larger than `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> FileStore {
        FileStore { dir, max_bytes }
    }

    /// The five tools over this store.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let file = |action, description: &str, parameters| {
            Arc::new(FileTool {
                store: self.clone(),
                action,
                spec: ToolSpec {
                    name: action.name().to_owned(),
                    description: description.to_owned(),
                    parameters,
                },
            }) as Arc<dyn Tool>
        };
        let name = json!({"type": "string", "description": "A plain file name, e.g. notes.md."});
        vec![
            file(
                Action::Save,
                "Save a text file in the user's own folder (replacing one of the same name).",
                json!({"type": "object", "required": ["filename", "content"], "properties": {
                    "filename": name, "content": {"type": "string"}}}),
            ),
            file(
                Action::List,
                "List the files in the user's folder, with their sizes.",
                json!({"type": "object", "properties": {}}),
            ),
            file(
                Action::Read,
                "Read a file from the user's folder.",
                json!({"type": "object", "required": ["filename"], "properties": {"filename": name}}),
            ),
            file(
                Action::Delete,
                "Delete a file from the user's folder.",
                json!({"type": "object", "required": ["filename"], "properties": {"filename": name}}),
            ),
            file(
                Action::Send,
                "Send a file from the user's folder into this conversation, as an attachment \
                 after your reply. Save it first if it does not exist yet.",
                json!({"type": "object", "required": ["filename"], "properties": {"filename": name}}),
            ),
        ]
    }

    /// Saves `bytes` as `name` in `user`'s folder, replacing a file of that name (never
    /// following a symlink). `name` must be one plain file name.
    pub fn save(&self, user: &str, name: &str, bytes: &[u8]) -> Result<String, ToolError> {
        check_name(name)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(ToolError(format!(
                "the file is {} bytes; the limit is {}",
                bytes.len(),
                self.max_bytes
            )));
        }
        let path = self.user_folder(user)?.join(name);
        regular_file(&path, name)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        no_follow(&mut options);
        let mut file = options.open(&path).map_err(|e| io_error(&e))?;
        file.write_all(bytes).map_err(|e| io_error(&e))?;
        Ok(format!("saved {name} ({} bytes)", bytes.len()))
    }

    /// The user's folder, created when missing; never a symlink.
    pub fn user_folder(&self, user: &str) -> Result<PathBuf, ToolError> {
        match self.existing_user_dir(user)? {
            Some(dir) => Ok(dir),
            None => {
                let dir = self.user_dir(user);
                std::fs::create_dir_all(&dir).map_err(|e| io_error(&e))?;
                Ok(dir)
            }
        }
    }

    /// The largest file a user may keep.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The file `name` of `user`'s folder, whole (up to the size cap). Blocking: call it off
    /// the async threads.
    pub fn read(&self, user: &str, name: &str) -> Result<SentFile, ToolError> {
        check_name(name)?;
        let missing = || ToolError(format!("there is no file `{name}`"));
        let dir = self.existing_user_dir(user)?.ok_or_else(missing)?;
        let path = dir.join(name);
        let size = regular_file(&path, name)?.ok_or_else(missing)?;
        // A cut file would be read, sent or uploaded as if whole.
        if size > self.max_bytes {
            return Err(ToolError(format!(
                "`{name}` is {size} bytes; the limit is {}",
                self.max_bytes
            )));
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        no_follow(&mut options);
        let file = options.open(&path).map_err(|e| io_error(&e))?;
        let mut bytes = Vec::new();
        file.take(self.max_bytes)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(&e))?;
        Ok(SentFile::new(name, bytes, Some(path)))
    }

    /// The user's folder: their id spelt so that no two ids share one (`a/b`, `a_b` and `a:b`
    /// are three folders). Letters, digits, `-` and `.` stay; `_` becomes `__`; any other
    /// byte (and a leading `.`) becomes `_XX` in hex.
    fn user_dir(&self, user: &str) -> PathBuf {
        self.dir.join(folder_name(user))
    }

    /// The user's folder, which must be a real folder (not a symlink) if it exists.
    fn existing_user_dir(&self, user: &str) -> Result<Option<PathBuf>, ToolError> {
        let dir = self.user_dir(user);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => Ok(Some(dir)),
            Ok(_) => Err(ToolError(
                "the user's folder is not a plain folder".to_owned(),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&e)),
        }
    }
}

/// What a file tool does.
#[derive(Clone, Copy, Debug)]
enum Action {
    Save,
    List,
    Read,
    Delete,
    Send,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Save => "save_to_local",
            Action::List => "list_local_files",
            Action::Read => "read_local_file",
            Action::Delete => "delete_local_file",
            Action::Send => "send_local_file",
        }
    }
}

#[derive(Clone)]
struct FileTool {
    store: FileStore,
    action: Action,
    spec: ToolSpec,
}

/// The `filename` argument when it is one plain file name, else why not.
fn plain_name(arguments: &Value) -> Result<&str, ToolError> {
    let name = arguments
        .get("filename")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if name.is_empty() {
        return Err(ToolError("missing argument `filename`".to_owned()));
    }
    check_name(name)?;
    Ok(name)
}

/// Refuses anything but one plain file name.
fn check_name(name: &str) -> Result<(), ToolError> {
    let refuse = |why: &str| Err(ToolError(format!("`{name}` is not allowed: {why}")));
    if name.is_empty() {
        return refuse("the name is empty");
    }
    if name.contains(['/', '\\', '\0']) {
        return refuse("use a plain file name, without folders");
    }
    if name.starts_with('.') {
        return refuse("names may not start with a dot");
    }
    if name.len() > 255 {
        return refuse("the name is too long");
    }
    Ok(())
}

fn io_error(error: &std::io::Error) -> ToolError {
    ToolError(format!("file error: {error}"))
}

/// Refuses anything at `path` that is not a regular file (a symlink above all).
fn regular_file(path: &Path, name: &str) -> Result<Option<u64>, ToolError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(Some(meta.len())),
        Ok(_) => Err(ToolError(format!("`{name}` is not a regular file"))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&e)),
    }
}

#[cfg(unix)]
fn no_follow(options: &mut std::fs::OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_NOFOLLOW);
}

#[cfg(not(unix))]
fn no_follow(_: &mut std::fs::OpenOptions) {}

impl FileTool {
    fn run(&self, arguments: &Value, user: &str) -> Result<String, ToolError> {
        match self.action {
            Action::Save => self.save(arguments, user),
            Action::List => self.list(user),
            Action::Read => self.read(arguments, user),
            Action::Delete => self.delete(arguments, user),
            Action::Send => unreachable!("sending needs the turn: see `send`"),
        }
    }

    fn save(&self, arguments: &Value, user: &str) -> Result<String, ToolError> {
        let name = plain_name(arguments)?;
        let content = arguments
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError("missing argument `content` (a string)".to_owned()))?;
        self.store.save(user, name, content.as_bytes())
    }

    fn list(&self, user: &str) -> Result<String, ToolError> {
        let Some(dir) = self.store.existing_user_dir(user)? else {
            return Ok("no files yet".to_owned());
        };
        let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
            .map_err(|e| io_error(&e))?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let meta = entry.path().symlink_metadata().ok()?;
                let name = entry.file_name().into_string().ok()?;
                meta.file_type().is_file().then_some((name, meta.len()))
            })
            .collect();
        if files.is_empty() {
            return Ok("no files yet".to_owned());
        }
        files.sort();
        Ok(files
            .iter()
            .map(|(name, size)| format!("{name} ({size} bytes)"))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    fn read(&self, arguments: &Value, user: &str) -> Result<String, ToolError> {
        let file = self.load(arguments, user)?;
        Ok(String::from_utf8_lossy(&file.bytes).into_owned())
    }

    /// The file the `filename` argument names, whole (up to the size cap).
    fn load(&self, arguments: &Value, user: &str) -> Result<SentFile, ToolError> {
        self.store.read(user, plain_name(arguments)?)
    }

    /// Queues the named file to go out with the reply.
    async fn send(
        &self,
        arguments: &Value,
        user: &str,
        to: &SentFiles,
    ) -> Result<String, ToolError> {
        let (tool, arguments, user) = (self.clone(), arguments.clone(), user.to_owned());
        let file = tokio::task::spawn_blocking(move || tool.load(&arguments, &user))
            .await
            .map_err(|e| ToolError(format!("the file tool failed: {e}")))??;
        let (name, size) = (file.name.clone(), file.bytes.len());
        to.send(file).map_err(|_| {
            ToolError(format!(
                "`{name}` was not sent: one reply carries at most {} files",
                SentFiles::MAX
            ))
        })?;
        Ok(format!(
            "{name} ({size} bytes) will be sent to the conversation with your reply"
        ))
    }

    fn delete(&self, arguments: &Value, user: &str) -> Result<String, ToolError> {
        let name = plain_name(arguments)?;
        let missing = || ToolError(format!("there is no file `{name}`"));
        let dir = self.store.existing_user_dir(user)?.ok_or_else(missing)?;
        let path = dir.join(name);
        regular_file(&path, name)?.ok_or_else(missing)?;
        std::fs::remove_file(&path).map_err(|e| io_error(&e))?;
        Ok(format!("deleted {name}"))
    }
}

impl Tool for FileTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        if let Action::Send = self.action {
            return Box::pin(async move {
                let to = context.files.ok_or_else(|| {
                    ToolError("files can only be sent in reply to someone's message".to_owned())
                })?;
                self.send(arguments, context.user_id, to).await
            });
        }
        // Files may be large; the disk work runs on the blocking pool.
        let (tool, arguments, user) = (self.clone(), arguments.clone(), context.user_id.to_owned());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || tool.run(&arguments, &user))
                .await
                .map_err(|e| ToolError(format!("the file tool failed: {e}")))?
        })
    }
}

/// A user id as a folder name, one to one (see [`FileStore`]'s `user_dir`).
fn folder_name(user: &str) -> String {
    use std::fmt::Write;
    let mut name = String::with_capacity(user.len());
    for (i, byte) in user.bytes().enumerate() {
        match byte {
            b'_' => name.push_str("__"),
            b'.' if i == 0 => name.push_str("_2E"),
            b if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' => name.push(b as char),
            b => {
                let _ = write!(name, "_{b:02X}");
            }
        }
    }
    if name.is_empty() {
        name.push('_');
    }
    name
}

#[cfg(test)]
mod folder_tests {
    use super::folder_name;

    #[test]
    fn every_user_id_has_a_folder_of_its_own() {
        let ids = [
            "a/b",
            "a_b",
            "a:b",
            "a__b",
            "a_2Fb",
            "..",
            ".",
            "",
            "_",
            "discord-123",
            "ann.b",
        ];
        let names: std::collections::BTreeSet<String> =
            ids.iter().map(|i| folder_name(i)).collect();
        assert_eq!(names.len(), ids.len(), "{names:?}");
        assert_eq!(folder_name("discord-123"), "discord-123");
        assert_eq!(folder_name("a/b"), "a_2Fb");
        assert_eq!(folder_name("a_b"), "a__b");
        assert_eq!(folder_name(".."), "_2E.");
        for name in &names {
            assert!(!name.contains('/') && name != "." && name != ".." && !name.is_empty());
        }
    }
}
