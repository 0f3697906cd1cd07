//! The first real recipe, end to end: CVE-2023-32681 backported into the
//! vendored pip install of requests 2.30.0, checked by requests itself.

use crate::support::*;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

const SITE: &str = "usr/local/lib/python3.11/site-packages";

pub(crate) fn python_leak(site: &Path) -> serde_json::Value {
    // The test setup makes a venv with requests' dependencies pinned; fall back to python3.
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(repo().join("tests/python/proxy_auth_leak.py"))
        .arg(site)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every hashed RECORD row matches its file: sha256 as url-safe base64 without padding, and size.
pub(crate) fn verify_record(site: &Path, dist_info: &str) -> usize {
    let record = std::fs::read_to_string(site.join(dist_info).join("RECORD")).unwrap();
    let mut checked = 0;
    for line in record.lines() {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 3, "RECORD row {line:?}");
        let path = site.join(cols[0]);
        assert!(
            path.exists(),
            "RECORD names {} which does not exist",
            cols[0]
        );
        if cols[1].is_empty() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let want = format!(
            "sha256={}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes))
        );
        assert_eq!(cols[1], want, "hash of {}", cols[0]);
        assert_eq!(cols[2], bytes.len().to_string(), "size of {}", cols[0]);
        checked += 1;
    }
    checked
}

#[test]
fn requests_backport_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    copy_tree(&repo().join("tests/fixtures/requests-2.30.0/rootfs"), &root);
    let site = root.join(SITE);
    let recipe = repo().join("recipes/requests-cve-2023-32681");

    // Before: the real requests 2.30.0 leaks the header.
    let before = python_leak(&site);
    assert_eq!(before["version"], "2.30.0");
    assert_eq!(
        before["leaked"], true,
        "the unpatched package should leak: {before}"
    );
    let pristine = tree_hash(&root);

    // A dry run changes nothing.
    let out = rootwasm(&[
        "run",
        recipe.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        tree_hash(&root),
        pristine,
        "a run without --commit must not write"
    );

    // Commit.
    let out = rootwasm(&[
        "run",
        recipe.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
        "--commit",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("before   vulnerable"), "{stdout}");
    assert!(stdout.contains("after    fixed"), "{stdout}");
    assert!(stderr.contains("committed 3 change(s)"), "{stderr}");

    // The recipe's own check now passes: a second run finds nothing to do.
    let again = rootwasm(&[
        "run",
        recipe.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
        "--json",
    ]);
    let (stdout2, _) = text(&again);
    assert!(again.status.success());
    let j: serde_json::Value = serde_json::from_str(&stdout2).unwrap();
    assert_eq!(j["entries"].as_array().unwrap().len(), 0);
    let summary = rootwasm(&[
        "run",
        recipe.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
    ]);
    assert!(
        text(&summary).0.contains("already fixed"),
        "{:?}",
        text(&summary)
    );

    // The installed package stays consistent and keeps its version.
    let checked = verify_record(&site, "requests-2.30.0.dist-info");
    assert!(checked >= 18, "only {checked} hashed RECORD rows");
    let metadata =
        std::fs::read_to_string(site.join("requests-2.30.0.dist-info/METADATA")).unwrap();
    assert!(metadata.contains("\nVersion: 2.30.0\n"));
    let record = std::fs::read_to_string(site.join("requests-2.30.0.dist-info/RECORD")).unwrap();
    assert!(!record.contains("__pycache__/sessions.cpython-311.pyc"));
    assert!(
        !site
            .join("requests/__pycache__/sessions.cpython-311.pyc")
            .exists()
    );
    assert!(
        site.join("requests/__pycache__/models.cpython-311.pyc")
            .exists(),
        "other bytecode is untouched"
    );

    // The patched file is 2.30.0 plus exactly upstream's hunk.
    let sessions = std::fs::read_to_string(site.join("requests/sessions.py")).unwrap();
    assert!(
        sessions.contains("        if not scheme.startswith('https') and username and password:\n")
    );
    assert!(!sessions.contains("        if username and password:\n"));

    // After: a real python3 imports the patched 2.30.0, and it no longer leaks.
    let after = python_leak(&site);
    assert_eq!(after["version"], "2.30.0");
    assert_eq!(
        after["leaked"], false,
        "the patched package must not leak: {after}"
    );
}

/// The Rust SDK path, for recipes that need code: the same fix written
/// against `rootwasm-sdk` (`tests/guests/requests-sdk`), built as a
/// component and run in the sandbox like any recipe.
#[test]
fn the_rust_sdk_version_of_the_requests_backport_still_works() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    copy_tree(&repo().join("tests/fixtures/requests-2.30.0/rootfs"), &root);
    let src = repo().join("tests/guests/requests-sdk");
    let dir = tmp.path().join("requests-sdk");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = guest("requests-sdk");
    std::fs::write(dir.join("component.wasm"), wasm).unwrap();
    std::fs::copy(
        src.join("cve-2023-32681.patch"),
        dir.join("cve-2023-32681.patch"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(src.join("recipe.toml")).unwrap();
    let pinned = toml
        .lines()
        .map(|l| {
            if l.starts_with("sha256 = ") && !l.contains("fa238bbc") {
                format!("sha256 = \"{}\"", hex::encode(Sha256::digest(wasm)))
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("recipe.toml"), pinned).unwrap();
    let out = rootwasm(&[
        "run",
        dir.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
        "--commit",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("after    fixed"));
    assert_eq!(python_leak(&root.join(SITE))["leaked"], false);
}
