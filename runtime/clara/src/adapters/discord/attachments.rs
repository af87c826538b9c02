//! A message's attachments for the model: text files inlined up to a size cap, images
//! resized for vision models, and every original saved to the sender's file storage.

use std::path::Path;

use base64::Engine as _;
use clara_config::model::adapters::AttachmentLimits;
use clara_config::model::clara::FilesConfig;
use twilight_model::channel::Attachment;

use super::images::{ImageLimits, prepare};
use crate::tools::files::FileStore;

/// File extensions read as text.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "md",
    "markdown",
    "rst",
    "py",
    "js",
    "ts",
    "tsx",
    "jsx",
    "json",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "html",
    "htm",
    "css",
    "scss",
    "csv",
    "tsv",
    "log",
    "sh",
    "bash",
    "zsh",
    "c",
    "h",
    "cpp",
    "hpp",
    "cc",
    "go",
    "rs",
    "rb",
    "php",
    "sql",
    "java",
    "kt",
    "swift",
    "lua",
    "pl",
    "r",
    "xml",
    "svg",
    "tex",
    "diff",
    "patch",
    "gitignore",
    "dockerfile",
];

/// Image extensions sent to vision models.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp"];

/// What the attachments add to a turn.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Text appended to the message: inlined files and notes about the others.
    pub text: String,
    /// Images for the model: (media type, base64).
    pub images: Vec<(String, String)>,
    /// Text files inlined in `text`.
    pub text_files: usize,
}

/// Where attachments come from and go.
pub struct AttachmentContext<'a> {
    /// For downloads.
    pub client: &'a reqwest::Client,
    /// The limits.
    pub limits: &'a AttachmentLimits,
    /// The root, for the file storage folder.
    pub root: &'a Path,
    /// The file storage settings.
    pub files: &'a FilesConfig,
    /// The sender, whose folder originals go to.
    pub user_id: &'a str,
}

/// Reads every attachment. One that cannot be read becomes a note in the text, so the model
/// (and the user) learn about it rather than it vanishing.
pub async fn prepare_all(context: &AttachmentContext<'_>, attachments: &[Attachment]) -> Prepared {
    let mut prepared = Prepared::default();
    let store = FileStore::new(
        context.root.join(&context.files.dir),
        context.files.max_file_bytes,
    );
    for attachment in attachments {
        let kind = kind_of(attachment);
        let cap = match kind {
            Kind::Image => context.limits.max_image_bytes.saturating_mul(4),
            Kind::Text if !context.limits.save_originals => context.limits.max_text_file_bytes,
            _ => context.files.max_file_bytes,
        };
        let name = &attachment.filename;
        if kind == Kind::Other && !context.limits.save_originals {
            note(
                &mut prepared.text,
                &format!("[Attachment: {name} (not read)]"),
            );
            continue;
        }
        if attachment.size > cap {
            note(
                &mut prepared.text,
                &format!(
                    "[Attachment: {name} is {} KB, more than the {} KB clara reads]",
                    attachment.size / 1024,
                    cap / 1024
                ),
            );
            continue;
        }
        let bytes = match download(context.client, &attachment.url, cap).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(file = %name, %error, "an attachment could not be downloaded");
                note(
                    &mut prepared.text,
                    &format!("[Attachment: {name} could not be downloaded]"),
                );
                continue;
            }
        };
        let saved = context.limits.save_originals
            && match store.save(context.user_id, &storage_name(name), &bytes) {
                Ok(_) => true,
                Err(error) => {
                    tracing::warn!(file = %name, error = %error.0, "an attachment could not be saved");
                    false
                }
            };
        match kind {
            Kind::Text => {
                prepared.text_files += 1;
                inline_text(&mut prepared.text, name, &bytes, context.limits, saved);
            }
            Kind::Image => {
                let limits = ImageLimits {
                    max_dimension: context.limits.max_image_dimension,
                    max_bytes: context.limits.max_image_bytes,
                };
                match tokio::task::spawn_blocking(move || prepare(&bytes, &limits)).await {
                    Ok(Ok(image)) => prepared.images.push((
                        image.media_type,
                        base64::engine::general_purpose::STANDARD.encode(&image.data),
                    )),
                    Ok(Err(error)) => note(
                        &mut prepared.text,
                        &format!("[Image: {name} could not be used: {error}]"),
                    ),
                    Err(_) => note(
                        &mut prepared.text,
                        &format!("[Image: {name} could not be used]"),
                    ),
                }
            }
            Kind::Other => note(
                &mut prepared.text,
                &format!("[Attachment: {name} saved to the user's files]"),
            ),
        }
    }
    prepared
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Image,
    Other,
}

fn kind_of(attachment: &Attachment) -> Kind {
    let extension = Path::new(&attachment.filename)
        .extension()
        .and_then(|e| e.to_str())
        .map_or_else(
            || attachment.filename.to_ascii_lowercase(),
            str::to_ascii_lowercase,
        );
    let content_type = attachment.content_type.as_deref().unwrap_or_default();
    if content_type.starts_with("image/") || IMAGE_EXTENSIONS.contains(&extension.as_str()) {
        Kind::Image
    } else if content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || TEXT_EXTENSIONS.contains(&extension.as_str())
    {
        Kind::Text
    } else {
        Kind::Other
    }
}

fn inline_text(out: &mut String, name: &str, bytes: &[u8], limits: &AttachmentLimits, saved: bool) {
    if bytes.len() as u64 > limits.max_text_file_bytes {
        let where_ = if saved {
            "; it is saved in the user's files"
        } else {
            ""
        };
        note(
            out,
            &format!(
                "[Attached file {name} is {} KB, more than the {} KB clara reads{where_}]",
                bytes.len() / 1024,
                limits.max_text_file_bytes / 1024
            ),
        );
        return;
    }
    let content = String::from_utf8_lossy(bytes);
    note(
        out,
        &format!("--- Attached file: {name} ---\n{content}\n--- End of {name} ---"),
    );
}

fn note(out: &mut String, line: &str) {
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(line);
}

/// A plain file name for storage: Discord names may hold anything.
fn storage_name(name: &str) -> String {
    let mut safe: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .take(200)
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        safe.insert_str(0, "file");
    }
    safe
}

/// Downloads at most `cap` bytes; more is an error, whatever the message claimed.
async fn download(client: &reqwest::Client, url: &str, cap: u64) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if (bytes.len() + chunk.len()) as u64 > cap {
            return Err(format!("larger than {cap} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_names_stay_plain() {
        assert_eq!(storage_name("../../etc/passwd"), "file.._.._etc_passwd");
        assert_eq!(storage_name(".env"), "file.env");
        assert_eq!(storage_name("photo.png"), "photo.png");
    }
}
