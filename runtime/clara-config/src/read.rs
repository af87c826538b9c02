//! Reading a root's files. One policy for every file clara reads as config (`clara.toml`,
//! `.env`, personas and their prompts, pipelines, tools, hooks): a regular file, or a symlink
//! to one, of at most [`MAX_FILE_BYTES`], in UTF-8. Anything else — a folder, a FIFO, a
//! device, a socket, a dangling symlink, a runaway file — is an error naming what it is; it
//! is never waited on and never read without bound.

use std::fs::{File, FileType};
use std::io::Read;
use std::path::Path;

/// The largest config file clara reads.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing at that path.
    #[error("not found")]
    NotFound,
    /// A symlink whose target does not exist.
    #[error("is a symlink to a file that does not exist")]
    Dangling,
    /// Something other than a regular file.
    #[error("is {0}, not a regular file: clara reads only regular files (or symlinks to them)")]
    NotRegular(&'static str),
    /// Over [`MAX_FILE_BYTES`].
    #[error("is larger than {} KiB, the most clara reads from one file", MAX_FILE_BYTES / 1024)]
    TooLarge,
    /// Not UTF-8.
    #[error("is not UTF-8 text")]
    NotUtf8,
    /// The permissions (or the disk) refused.
    #[error("cannot be read: {0}")]
    Io(std::io::Error),
}

impl ReadError {
    /// Whether the path holds nothing at all.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound)
    }
}

/// Reads the text of the file at `path` under the policy above.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let file = open(path).map_err(|err| refine(path, err))?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(&meta.file_type())));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

/// Opens without blocking: opening a FIFO for reading would otherwise wait for a writer.
fn open(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Says what is at `path` when opening it failed.
fn refine(path: &Path, err: std::io::Error) -> ReadError {
    match (std::fs::symlink_metadata(path), std::fs::metadata(path)) {
        (Err(_), _) if err.kind() == std::io::ErrorKind::NotFound => ReadError::NotFound,
        (Ok(link), Err(_)) if link.file_type().is_symlink() => ReadError::Dangling,
        (_, Ok(meta)) if !meta.is_file() && !meta.is_dir() => {
            ReadError::NotRegular(kind(&meta.file_type()))
        }
        _ => ReadError::Io(err),
    }
}

/// What a non-regular file is, in words.
pub fn kind(file_type: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_symlink() {
        "a symlink"
    } else if file_type.is_file() {
        "a file"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "x = 1").unwrap();
        assert_eq!(read_text(&file).unwrap(), "x = 1");
        assert!(
            read_text(&dir.path().join("missing"))
                .unwrap_err()
                .is_not_found()
        );
        assert!(matches!(
            read_text(dir.path()),
            Err(ReadError::NotRegular("a folder"))
        ));
        #[cfg(unix)]
        {
            let link = dir.path().join("zero.toml");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            assert!(matches!(
                read_text(&link),
                Err(ReadError::NotRegular("a device"))
            ));
            let dangling = dir.path().join("gone.toml");
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
            assert!(matches!(read_text(&dangling), Err(ReadError::Dangling)));
            let good = dir.path().join("good.toml");
            std::os::unix::fs::symlink(&file, &good).unwrap();
            assert_eq!(read_text(&good).unwrap(), "x = 1");
        }
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read_text(&big), Err(ReadError::TooLarge)));
    }
}
