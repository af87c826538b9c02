//! The manifests installs write and edit: the text of a new one, writing it so that it never
//! replaces another nor is read half-written, turning `enabled` on or off in TOML or YAML while
//! keeping the rest of the file, and what a server's name may be.

use std::path::{Path, PathBuf};

use clara_config::model::tool::Runner;

use super::install_error::InstallError;
use super::source::McpSource;

/// The manifest an install writes, before its tools are known; `named` when the name was
/// given rather than suggested (the comment then repeats it).
pub(super) fn manifest_text(
    source: &McpSource,
    name: &str,
    named: bool,
    runner: &Runner,
) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    doc["description"] = toml_edit::value(format!("MCP server {source}"));
    doc["enabled"] = toml_edit::value(true);
    let mut table = toml_edit::Table::new();
    if let Runner::Mcp {
        command,
        args,
        env,
        working_dir,
        url,
        headers,
        secrets_env,
        oauth,
        ..
    } = runner
    {
        table["type"] = toml_edit::value("mcp");
        if let Some(command) = command {
            table["command"] = toml_edit::value(command.as_str());
        }
        if !args.is_empty() {
            table["args"] = toml_edit::value(args.iter().collect::<toml_edit::Array>());
        }
        if let Some(dir) = working_dir {
            table["working_dir"] = toml_edit::value(dir.as_str());
        }
        if let Some(url) = url {
            table["url"] = toml_edit::value(url.as_str());
        }
        if !env.is_empty() {
            let mut inline = toml_edit::InlineTable::new();
            for (key, value) in env {
                inline.insert(key, value.as_str().into());
            }
            table["env"] = toml_edit::value(inline);
        }
        if !headers.is_empty() {
            let mut inline = toml_edit::InlineTable::new();
            for (key, value) in headers {
                inline.insert(key, value.as_str().into());
            }
            table["headers"] = toml_edit::value(inline);
        }
        if *oauth {
            table["oauth"] = toml_edit::value(true);
        }
        if !secrets_env.is_empty() {
            table["secrets_env"] =
                toml_edit::value(secrets_env.iter().collect::<toml_edit::Array>());
        }
    }
    doc["runner"] = toml_edit::Item::Table(table);
    let again = if named {
        format!(" --name {name}")
    } else {
        String::new()
    };
    format!(
        "#:schema ../schema/tool.schema.json\n{}\n\n{doc}",
        comment_lines(&format!(
            "Installed by `clara mcp add {source}{again}`. Edit freely; `clara mcp remove {name}` deletes it and what was built for it."
        ))
    )
}

/// A YAML manifest with its top-level `enabled` set, the rest of the file as it was; `None`
/// when it already says so. The key goes before the first top-level key, after a leading
/// `---`, directives and comments.
pub(super) fn yaml_with_enabled(text: &str, enabled: bool) -> Option<String> {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let line = format!("enabled: {enabled}");
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(at) = lines.iter().position(|l| l.starts_with("enabled:")) {
        if lines[at].trim_end() == line {
            return None;
        }
        lines[at] = &line;
    } else {
        if enabled {
            // Unset is on.
            return None;
        }
        let first_key = lines
            .iter()
            .position(|l| {
                let t = l.trim();
                !(t.is_empty() || t.starts_with('#') || t.starts_with("---") || t.starts_with('%'))
            })
            .unwrap_or(lines.len());
        lines.insert(first_key, &line);
    }
    let mut edited = lines.join(newline);
    if text.ends_with('\n') {
        edited.push_str(newline);
    }
    Some(edited)
}

/// `text` as `# ` comment lines of at most 96 characters.
pub(super) fn comment_lines(text: &str) -> String {
    let mut lines = vec![String::from("#")];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line at least");
        if last.len() + 1 + word.len() > 96 && last.len() > 1 {
            lines.push(format!("# {word}"));
        } else {
            last.push(' ');
            last.push_str(word);
        }
    }
    lines.join("\n")
}

/// Why a new file was not written.
pub(super) enum WriteNew {
    /// A file of that name appeared meanwhile.
    Exists,
    /// It could not be written.
    Failed(InstallError),
}

/// Writes the new file `file` through a hidden one beside it, so a reload never reads half of
/// it and a file that appeared meanwhile is never replaced.
pub(super) fn write_new(file: &Path, text: &str) -> Result<(), WriteNew> {
    let hidden = hidden_beside(file);
    let failed = |e: std::io::Error| {
        WriteNew::Failed(InstallError::Files(format!(
            "cannot write {}: {e}",
            file.display()
        )))
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    std::fs::write(&hidden, text).map_err(failed)?;
    // A hard link fails when the name is taken, where a rename would replace it.
    let linked = std::fs::hard_link(&hidden, file);
    let _ = std::fs::remove_file(&hidden);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(WriteNew::Exists),
        Err(e) => Err(failed(e)),
    }
}

/// A hidden file beside `file`, this process's and this call's alone.
pub(super) fn hidden_beside(file: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = file.parent().unwrap_or(Path::new("."));
    dir.join(format!(
        ".{}.{}-{n}.partial",
        file_name(file),
        std::process::id()
    ))
}

/// Writes `text` over `file` through a hidden file beside it, so a reload never reads half of
/// it.
pub(super) fn write_atomically(file: &Path, text: &str) -> Result<(), InstallError> {
    let hidden = hidden_beside(file);
    let failed =
        |e: std::io::Error| InstallError::Files(format!("cannot write {}: {e}", file.display()));
    std::fs::write(&hidden, text).map_err(failed)?;
    std::fs::rename(&hidden, file).map_err(|e| {
        let _ = std::fs::remove_file(&hidden);
        failed(e)
    })
}

/// The `working_dir` a TOML manifest runs its server from.
pub(super) fn manifest_working_dir(file: &Path) -> Option<String> {
    if file.extension().is_none_or(|e| e != "toml") {
        return None;
    }
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(file).ok()?.parse().ok()?;
    Some(doc.get("runner")?.get("working_dir")?.as_str()?.to_owned())
}

pub(super) fn check_name(name: &str) -> Result<(), InstallError> {
    let fine = !name.is_empty()
        && name.len() <= 48
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if fine {
        Ok(())
    } else {
        Err(InstallError::Name(name.to_owned()))
    }
}

pub(super) fn file_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_enabled_is_set_at_the_top_level_keeping_the_rest() {
        let plain = "# a server\ndescription: x\nrunner:\n  type: mcp\n  enabled: nested\n";
        assert_eq!(
            yaml_with_enabled(plain, false).unwrap(),
            "# a server\nenabled: false\ndescription: x\nrunner:\n  type: mcp\n  enabled: nested\n"
        );
        assert_eq!(yaml_with_enabled(plain, true), None, "unset is on");
        let document = "---\r\n# note\r\ndescription: x\r\nenabled: true\r\n";
        assert_eq!(
            yaml_with_enabled(document, false).unwrap(),
            "---\r\n# note\r\ndescription: x\r\nenabled: false\r\n"
        );
        let started = "%YAML 1.2\n---\ndescription: x";
        assert_eq!(
            yaml_with_enabled(started, false).unwrap(),
            "%YAML 1.2\n---\nenabled: false\ndescription: x"
        );
        assert_eq!(yaml_with_enabled("enabled: false\n", false), None);
    }
}
