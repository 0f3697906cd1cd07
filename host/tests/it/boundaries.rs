//! Architecture boundaries as tests (go-containerregistry's depcheck idea):
//! they read the crates' own source and dependency graph, so a change that
//! breaks a boundary ARCHITECTURE.md states fails here.

use crate::support::repo;
use std::path::{Path, PathBuf};
use std::process::Command;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The code of a file, comments dropped (a comment may name anything).
fn code(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::<path>` in `dir`'s code, with the file naming it.
fn crate_refs(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for f in rust_files(dir) {
        let text = code(&f);
        for (i, _) in text.match_indices("crate::") {
            let rest: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push((f.clone(), rest));
        }
        // `use super::super::x` would dodge the check; nothing here does that.
        assert!(
            !text.contains("super::super::"),
            "{}: reach other modules through crate:: so the boundary tests see it",
            f.display()
        );
    }
    out
}

fn assert_no_refs(dir: &str, forbidden: &[&str], why: &str) {
    let root = repo().join(dir);
    let bad: Vec<String> = crate_refs(&root)
        .into_iter()
        .filter(|(_, r)| {
            forbidden
                .iter()
                .any(|f| r == f || r.starts_with(&format!("{f}::")))
        })
        .map(|(f, r)| format!("{}: crate::{r}", f.display()))
        .collect();
    assert!(bad.is_empty(), "{dir} {why}, but:\n{}", bad.join("\n"));
}

#[test]
fn image_knows_nothing_about_sessions_or_wasm() {
    assert_no_refs(
        "host/src/image",
        &[
            "session", "sandbox", "run", "apply", "evidence", "review", "manifest", "scan",
        ],
        "is image I/O and the journal-to-layer step; it must not depend on recipes running",
    );
}

#[test]
fn attest_knows_nothing_about_image_io_or_wasm() {
    assert_no_refs(
        "host/src/attest",
        &[
            "sandbox",
            "session",
            "run",
            "apply",
            "evidence",
            "review",
            "sbom",
            "image::source",
            "image::sink",
            "image::layer",
            "image::merge",
            "image::view",
            "image::cache",
            "image::patch",
            "image::attach",
            "image::mutate",
        ],
        "is pure functions over documents (only image::model types)",
    );
}

#[test]
fn core_has_no_engine_and_no_image_io() {
    let text = std::fs::read_to_string(repo().join("crates/core/Cargo.toml")).unwrap();
    for dep in [
        "wasmtime",
        "rusqlite",
        "rootwasm =",
        "tar",
        "flate2",
        "zstd",
    ] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with(dep)),
            "crates/core depends on {dep}"
        );
    }
}

/// A recipe's native tests (the SDK harness) build neither wasmtime nor
/// SQLite: `cargo tree` of a recipe crate with its dev-dependencies.
#[test]
fn a_recipes_tests_build_no_wasmtime_and_no_sqlite() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for krate in [
        "guest-requests-sdk",
        "recipe-lang-backport",
        "recipe-dpkg-upgrade",
        "recipe-dpkg-backport",
    ] {
        let out = Command::new(&cargo)
            .current_dir(repo())
            .args([
                "tree",
                "--offline",
                "-p",
                krate,
                "-e",
                "normal,dev",
                "--prefix",
                "none",
            ])
            .output()
            .unwrap();
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && tree.contains("rootwasm-core"),
            "cargo tree -p {krate} failed or lacks the harness core: {}\n{tree}",
            String::from_utf8_lossy(&out.stderr)
        );
        for banned in ["wasmtime ", "rusqlite ", "libsqlite3-sys "] {
            assert!(
                !tree.lines().any(|l| l.starts_with(banned)),
                "{krate}'s tests build {banned}:\n{tree}"
            );
        }
    }
}

/// No function in host/src is longer than 80 lines unless a `// Long:`
/// comment right above it says why it must be.
#[test]
fn functions_are_short_or_say_why() {
    const MAX: usize = 80;
    let mut long = Vec::new();
    for f in rust_files(&repo().join("host/src")) {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let test_start = lines
            .iter()
            .position(|l| l.trim() == "#[cfg(test)]")
            .unwrap_or(lines.len());
        for (i, l) in lines[..test_start].iter().enumerate() {
            let t = l.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "async fn ",
                "pub async fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if !is_fn || t.ends_with(';') {
                continue;
            }
            let indent = &l[..l.len() - t.len()];
            let close = format!("{indent}}}");
            let Some(end) = lines[i + 1..].iter().position(|x| *x == close) else {
                continue;
            };
            let n = end + 2;
            let says_why = lines[..i]
                .iter()
                .rev()
                .take_while(|x| {
                    let x = x.trim_start();
                    x.starts_with("//") || x.starts_with("#[")
                })
                .any(|x| x.trim_start().starts_with("// Long:"));
            if n > MAX && !says_why {
                long.push(format!("{}:{} {} lines", f.display(), i + 1, n));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX} lines without a `// Long:` comment saying why:\n{}",
        long.join("\n")
    );
}
