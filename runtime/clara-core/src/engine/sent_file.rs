//! Files a turn's tools send into the conversation: held while the turn runs, delivered by
//! the adapter after the reply (a Discord attachment, a gateway `file_data` entry).

use std::path::PathBuf;
use std::sync::Mutex;

/// One file to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentFile {
    /// The name it is shown under.
    pub name: String,
    /// Its MIME type, from the name's extension.
    pub media_type: String,
    /// Where it is kept on this machine, for adapters on the same machine (a terminal).
    pub path: Option<PathBuf>,
    /// Its content.
    pub bytes: Vec<u8>,
}

impl SentFile {
    /// A file named `name` with `bytes`, its type guessed from the name.
    pub fn new(name: &str, bytes: Vec<u8>, path: Option<PathBuf>) -> SentFile {
        SentFile {
            name: name.to_owned(),
            media_type: media_type(name).to_owned(),
            path,
            bytes,
        }
    }
}

/// The files a turn's tools have sent so far. Tools share it through their context, so it
/// takes `&self`.
#[derive(Debug, Default)]
pub struct SentFiles(Mutex<Vec<SentFile>>);

impl SentFiles {
    /// The most files one reply carries: Discord's limit for one message.
    pub const MAX: usize = 10;

    /// Adds `file`, or gives it back when the reply carries [`SentFiles::MAX`] already. A file
    /// of the same name replaces the earlier one.
    pub fn send(&self, file: SentFile) -> Result<(), SentFile> {
        let mut files = self.0.lock().expect("no panics while held");
        if let Some(same) = files.iter_mut().find(|f| f.name == file.name) {
            *same = file;
            return Ok(());
        }
        if files.len() >= Self::MAX {
            return Err(file);
        }
        files.push(file);
        Ok(())
    }

    /// The files sent, leaving none.
    pub fn take(&self) -> Vec<SentFile> {
        std::mem::take(&mut *self.0.lock().expect("no panics while held"))
    }
}

/// The MIME type for a file name's extension; `application/octet-stream` when unknown.
pub fn media_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "toml" => "application/toml",
        "py" => "text/x-python",
        "rs" => "text/x-rust",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_carries_at_most_ten_files_and_a_name_once() {
        let files = SentFiles::default();
        for n in 0..SentFiles::MAX {
            files
                .send(SentFile::new(&format!("f{n}.txt"), vec![1], None))
                .unwrap();
        }
        files.send(SentFile::new("f0.txt", vec![2], None)).unwrap();
        let refused = files.send(SentFile::new("more.png", vec![3], None));
        assert_eq!(refused.unwrap_err().media_type, "image/png");
        let taken = files.take();
        assert_eq!(taken.len(), SentFiles::MAX);
        assert_eq!(taken[0].bytes, vec![2]);
        assert!(files.take().is_empty());
    }

    #[test]
    fn types_come_from_the_extension() {
        assert_eq!(media_type("Report.PDF"), "application/pdf");
        assert_eq!(media_type("notes"), "application/octet-stream");
        assert_eq!(media_type("a.tar.gz"), "application/gzip");
    }
}
