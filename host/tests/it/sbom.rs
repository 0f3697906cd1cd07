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

    // Syft on the same layout: every deb, pypi and npm package it finds, we find.
    let theirs: BTreeSet<String> = syft_purls(&layout)
        .into_iter()
        .filter(|p| {
            p.starts_with("pkg:deb/") || p.starts_with("pkg:pypi/") || p.starts_with("pkg:npm/")
        })
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

/// Interpreters as official images install them (`/usr/local`, no package
/// owns them) are SBOM components of their own, with Syft's purls and NVD's
/// CPEs; one a Debian package installed is that package, not a second
/// component. The files are this machine's: Debian's `python3.11` binary
/// and `patchlevel.h`, the `nodejs` package's `node_version.h` and
/// Debian's Ruby `rbconfig.rb`, with `libruby3.1`'s status and file list.
#[test]
fn runtimes_no_package_installed_are_components() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let put = |from: &str, to: &str| {
        let to = root.join(to.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("{from}: {e}"));
    };
    let out = |cmd: &str, args: &[&str]| {
        let o = Command::new(cmd).args(args).output().unwrap();
        assert!(o.status.success(), "{cmd} {args:?}");
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    put("/usr/bin/python3.11", "/usr/local/bin/python3.11");
    put(
        "/usr/include/python3.11/patchlevel.h",
        "/usr/local/include/python3.11/patchlevel.h",
    );
    put(
        "/usr/include/node/node_version.h",
        "/usr/local/include/node/node_version.h",
    );
    let rbconfig = out(
        "ruby",
        &["-e", "print $LOADED_FEATURES.grep(/rbconfig.rb/)[0]"],
    );
    put(
        &rbconfig,
        "/usr/local/lib/ruby/3.1.0/x86_64-linux/rbconfig.rb",
    );
    put(&rbconfig, &rbconfig);
    put(
        "/var/lib/dpkg/info/libruby3.1:amd64.list",
        "/var/lib/dpkg/info/libruby3.1:amd64.list",
    );
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        out("dpkg", &["-s", "libruby3.1"]) + "\n",
    )
    .unwrap();
    let py = out(
        "/usr/bin/python3.11",
        &["-c", "import platform; print(platform.python_version())"],
    );
    let node = out("node", &["-p", "process.versions.node"]);
    let ruby = out("ruby", &["-e", "print RUBY_VERSION"]);

    let img = image(&[Layer::from_dir(&root)], "amd64");
    let layout = tmp.path().join("img");
    write_layout(&layout, &[(&img, "amd64")], "v1");
    let reference = format!("oci:{}:v1", layout.display());

    let recipes = repo().join("recipes");
    let o = rootwasm(&["scan", "--recipes", recipes.to_str().unwrap(), &reference]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("({rbconfig}, from package libruby3.1)")),
        "{stdout}"
    );

    let o = rootwasm(&["sbom", &reference, "--format", "cyclonedx"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let generic: Vec<&serde_json::Value> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:generic/"))
        })
        .collect();
    let want = [
        ("python", &py, "cpe:2.3:a:python:python:"),
        ("node", &node, "cpe:2.3:a:nodejs:node.js:"),
        ("ruby", &ruby, "cpe:2.3:a:ruby-lang:ruby:"),
    ];
    assert_eq!(
        generic.len(),
        want.len(),
        "one per /usr/local runtime: {generic:?}"
    );
    for (name, version, cpe) in want {
        let c = generic
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {generic:?}"));
        assert_eq!(c["version"], *version);
        assert_eq!(c["purl"], format!("pkg:generic/{name}@{version}"));
        assert_eq!(c["cpe"], format!("{cpe}{version}:*:*:*:*:*:*:*"));
        assert!(c.to_string().contains("/usr/local/"), "{c}");
    }
    for format in ["cyclonedx", "spdx"] {
        let o = rootwasm(&["sbom", &reference, "--format", format]);
        let file = tmp.path().join(format!("{format}.json"));
        std::fs::write(&file, &o.stdout).unwrap();
        let v = Command::new(python())
            .arg(repo().join("tests/python/validate_sbom.py"))
            .args([format.as_ref(), file.as_os_str()])
            .output()
            .unwrap();
        assert!(v.status.success(), "{format}: {:?}", text(&v));
        if format == "spdx" {
            let doc = String::from_utf8(o.stdout).unwrap();
            assert!(
                doc.contains(&format!("cpe:2.3:a:python:python:{py}:")),
                "{doc}"
            );
        }
    }

    // Syft's binary classifier finds the Python binary: the same purl.
    let theirs = syft_purls(&layout);
    let runtime = format!("pkg:generic/python@{py}");
    assert!(theirs.contains(&runtime), "{theirs:?}");
    for p in theirs.iter().filter(|p| p.starts_with("pkg:generic/")) {
        assert!(
            generic.iter().any(|c| c["purl"] == p.as_str()),
            "Syft finds {p}, rootwasm does not"
        );
    }
}
