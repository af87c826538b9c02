//! The house rule that modules depend one way: within each crate, no module imports (through
//! `crate::`, `super::` or `self::` paths) from a module that imports it back, directly or
//! around a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// Each module of the crate at `src`, by path (`engine::steps::ingest`), with its source
/// outside its `#[cfg(test)]` tests.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            found.insert(parts.join("::"), code);
        }
    }
    found
}

/// The modules `module` imports, resolved to the longest module path that exists.
fn imports(module: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let paths = Regex::new(r"\b((?:crate|super|self)(?:::\w+)+)").unwrap();
    let mut out = BTreeSet::new();
    for found in paths.captures_iter(code) {
        let mut segments: Vec<&str> = found[1].split("::").collect();
        let mut base: Vec<&str> = if module.is_empty() {
            Vec::new()
        } else {
            module.split("::").collect()
        };
        match segments[0] {
            "crate" => base.clear(),
            "super" => {
                while segments.first() == Some(&"super") {
                    base.pop();
                    segments.remove(0);
                }
                segments.insert(0, "self");
            }
            _ => {}
        }
        let full: Vec<&str> = base
            .into_iter()
            .chain(segments.into_iter().skip(1))
            .collect();
        let target = (1..=full.len())
            .rev()
            .map(|n| full[..n].join("::"))
            .find(|m| known.contains(m));
        // A module naming its own children is how Rust declares them, not an import.
        if let Some(target) = target
            && target != module
            && !target.starts_with(&format!("{module}::"))
            && !module.starts_with(&format!("{target}::"))
        {
            out.insert(target);
        }
    }
    out
}

/// Every circle of imports among the modules, each as the modules on it.
fn circles(src: &Path) -> Vec<Vec<String>> {
    let modules = modules(src);
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let edges: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .map(|(name, code)| (name.as_str(), imports(name, code, &known)))
        .collect();
    // A module is on a circle when it can reach itself.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut next: Vec<String> = edges[from].iter().cloned().collect();
        while let Some(module) = next.pop() {
            if seen.insert(module.clone()) {
                next.extend(edges[module.as_str()].iter().cloned());
            }
        }
        seen
    };
    let mut circles: Vec<Vec<String>> = Vec::new();
    for name in edges.keys() {
        let from_here = reach(name);
        if !from_here.contains(*name) {
            continue;
        }
        let mut circle: Vec<String> = from_here
            .into_iter()
            .filter(|other| reach(other).contains(*name))
            .collect();
        circle.sort();
        if !circles.contains(&circle) {
            circles.push(circle);
        }
    }
    circles
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

#[test]
fn no_crate_has_an_import_circle() {
    for name in ["clara-config", "clara-core", "clara"] {
        let found = circles(&crate_src(name));
        assert!(
            found.is_empty(),
            "{name} has modules that import each other in a circle: {found:?}"
        );
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod a;\nmod b;\nmod c;\n");
    write("a.rs", "use crate::b::inner::I;\nuse crate::c::C;\n");
    write("b/mod.rs", "mod inner;\nuse self::inner::I;\n");
    write("b/inner.rs", "use super::super::a::A;\n");
    write(
        "c.rs",
        "// only its tests use a:\n#[cfg(test)]\nmod tests { use crate::a; }\n",
    );
    assert_eq!(
        circles(dir.path()),
        [["a", "b::inner"].map(String::from).to_vec()],
        "a → b::inner → a; a module naming its child and a test's import do not count"
    );
}
