//! Alpine and RPM images, Debian licenses and Debian-packaged Python:
//! what `rootwasm scan` and `rootwasm sbom` report, checked against the
//! SBOM validators and against Syft on the same image.

use crate::images::*;
use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn python() -> String {
    std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn layout(tmp: &Path, roots: &[&Path]) -> String {
    let layers: Vec<Layer> = roots.iter().map(|r| Layer::from_dir(r)).collect();
    let img = image(&layers, "amd64");
    let dir = tmp.join("img");
    write_layout(&dir, &[(&img, "amd64")], "v1");
    format!("oci:{}:v1", dir.display())
}

/// Both SBOMs, each checked by its reference validator.
fn sboms(tmp: &Path, reference: &str) -> (Value, Value) {
    let mut docs = Vec::new();
    for format in ["cyclonedx", "spdx"] {
        let o = rootwasm(&["sbom", reference, "--format", format]);
        assert!(o.status.success(), "{:?}", text(&o));
        let file = tmp.join(format!("{format}.json"));
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
        docs.push(serde_json::from_slice(&o.stdout).unwrap());
    }
    let spdx = docs.pop().unwrap();
    (docs.pop().unwrap(), spdx)
}

fn component<'a>(cdx: &'a Value, name: &str) -> &'a Value {
    cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name}"))
}

fn spdx_package<'a>(spdx: &'a Value, name: &str) -> &'a Value {
    spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no SPDX package {name}"))
}

/// Purls (without qualifiers) of the given type that Syft finds in the layout.
fn syft_purls_of(reference: &str, ty: &str) -> BTreeSet<String> {
    let dir = reference.trim_start_matches("oci:").trim_end_matches(":v1");
    syft_purls(Path::new(dir))
        .into_iter()
        .filter(|p| p.starts_with(&format!("pkg:{ty}/")))
        .collect()
}

fn ours(cdx: &Value, ty: &str) -> BTreeSet<String> {
    cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .filter(|p| p.starts_with(&format!("pkg:{ty}/")))
        .map(|p| p.split('?').next().unwrap().to_owned())
        .collect()
}

fn scan_json(reference: &str, advisories: &[&Path]) -> (Value, String) {
    let recipes = repo().join("recipes").display().to_string();
    let mut args = vec!["scan", reference, "--json", "--recipes", recipes.as_str()];
    let adv: Vec<String> = advisories.iter().map(|p| p.display().to_string()).collect();
    for a in &adv {
        args.extend(["--advisories", a.as_str()]);
    }
    let o = rootwasm(&args);
    assert!(o.status.success(), "{:?}", text(&o));
    (serde_json::from_slice(&o.stdout).unwrap(), text(&o).1)
}

fn osv(dir: &Path, id: &str, ecosystem: &str, name: &str, fixed: &str) -> std::path::PathBuf {
    let p = dir.join(format!("{id}.json"));
    let doc = serde_json::json!({
        "schema_version": "1.6.0", "id": id, "modified": "2024-07-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
    });
    std::fs::write(&p, serde_json::to_vec(&doc).unwrap()).unwrap();
    p
}

fn findings_for<'a>(scan: &'a Value, id: &str) -> Vec<&'a Value> {
    scan["platforms"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["vulnerability"] == id)
        .collect()
}

#[test]
fn alpine_packages_purls_licenses_and_advisories() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("alpine");
    distros::alpine_root(&root, distros::ALPINE_PACKAGES);
    let reference = layout(tmp.path(), &[&root]);

    let (cdx, spdx) = sboms(tmp.path(), &reference);
    let busybox = component(&cdx, "busybox");
    assert_eq!(
        busybox["purl"],
        "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3"
    );
    assert_eq!(busybox["licenses"][0]["license"]["id"], "GPL-2.0-only");
    assert_eq!(
        component(&cdx, "ssl_client")["purl"],
        "pkg:apk/alpine/ssl_client@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3&upstream=busybox"
    );
    assert_eq!(
        component(&cdx, "ca-certificates-bundle")["licenses"][0]["expression"],
        "MPL-2.0 AND MIT"
    );
    assert_eq!(
        spdx_package(&spdx, "openssh-client-default")["licenseDeclared"],
        "SSH-OpenSSH"
    );
    assert_eq!(ours(&cdx, "apk").len(), distros::ALPINE_PACKAGES.len());
    // Syft reads the same database: everything it finds, we find.
    let theirs = syft_purls_of(&reference, "apk");
    assert!(!theirs.is_empty());
    let found = ours(&cdx, "apk");
    let missing: Vec<_> = theirs.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "Syft finds apk packages rootwasm does not: {missing:?}"
    );

    // OSV Alpine ranges go through apk's comparison: r29 is before r30, not before r29.
    let adv = tmp.path().join("adv");
    std::fs::create_dir_all(&adv).unwrap();
    let hit = osv(
        &adv,
        "CVE-2024-0001",
        "Alpine:v3.20",
        "busybox",
        "1.36.1-r30",
    );
    let miss = osv(
        &adv,
        "CVE-2024-0002",
        "Alpine:v3.20",
        "busybox",
        "1.36.1-r29",
    );
    let pre = osv(
        &adv,
        "CVE-2024-0003",
        "Alpine:v3.20",
        "openssh-client-default",
        "9.7_p1-r4",
    );
    let (scan, _) = scan_json(&reference, &[&hit, &miss, &pre]);
    let inv = &scan["platforms"][0]["inventory"];
    assert_eq!(inv["os"]["id"], "alpine");
    let musl = inv["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "musl")
        .unwrap();
    assert_eq!(
        (
            musl["ecosystem"].as_str(),
            musl["version"].as_str(),
            musl["source"].as_str()
        ),
        (Some("apk"), Some("1.2.5-r0"), Some("musl"))
    );
    assert_eq!(findings_for(&scan, "CVE-2024-0001").len(), 1);
    // The advisory has a fixed version and no recipe covers it: a fix is
    // pending (no-recipe), not "no fix available".
    assert_eq!(
        findings_for(&scan, "CVE-2024-0001")[0]["status"],
        "no-recipe"
    );
    assert!(findings_for(&scan, "CVE-2024-0002").is_empty());
    assert_eq!(findings_for(&scan, "CVE-2024-0003").len(), 1);
}

#[test]
fn rpm_packages_from_a_real_rpmdb_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = layout(tmp.path(), &[&distros::rpm_root(&repo())]);

    let (cdx, spdx) = sboms(tmp.path(), &reference);
    let ssl = component(&cdx, "openssl-libs");
    assert_eq!(ssl["version"], "1:3.0.7-27.el9");
    assert_eq!(
        ssl["purl"],
        "pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rocky-9.4&epoch=1&upstream=openssl"
    );
    assert_eq!(ssl["licenses"][0]["license"]["id"], "Apache-2.0");
    let zlib = component(&cdx, "zlib");
    assert_eq!(
        zlib["purl"],
        "pkg:rpm/rocky/zlib@1.2.11-40.el9?arch=x86_64&distro=rocky-9.4"
    );
    // Fedora's "zlib and Boost" is not an SPDX expression: a name, and a LicenseRef.
    assert_eq!(zlib["licenses"][0]["license"]["name"], "zlib and Boost");
    assert_eq!(
        spdx_package(&spdx, "zlib")["licenseDeclared"],
        "LicenseRef-zlib-and-Boost"
    );
    assert!(
        spdx["hasExtractedLicensingInfos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["licenseId"] == "LicenseRef-zlib-and-Boost")
    );
    let theirs = syft_purls_of(&reference, "rpm");
    assert_eq!(
        theirs,
        ours(&cdx, "rpm"),
        "Syft and rootwasm on the same rpmdb"
    );

    let adv = tmp.path().join("adv");
    std::fs::create_dir_all(&adv).unwrap();
    let hit = osv(
        &adv,
        "RLSA-2024:0001",
        "Rocky Linux:9",
        "openssl-libs",
        "1:3.0.7-28.el9",
    );
    let miss = osv(
        &adv,
        "RLSA-2024:0002",
        "Rocky Linux:9",
        "openssl-libs",
        "3.0.8-1.el9",
    );
    let (scan, stderr) = scan_json(&reference, &[&hit, &miss]);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(findings_for(&scan, "RLSA-2024:0001").len(), 1);
    assert!(
        findings_for(&scan, "RLSA-2024:0002").is_empty(),
        "epoch 1 is newer than any epoch-0 version"
    );
}

#[test]
fn berkeley_db_and_ndb_rpm_databases_are_a_warning_not_a_failure() {
    for (kind, what, path) in [
        (
            distros::LegacyRpmdb::BerkeleyDb,
            "Berkeley DB",
            "/var/lib/rpm/Packages",
        ),
        (
            distros::LegacyRpmdb::Ndb,
            "ndb",
            "/usr/lib/sysimage/rpm/Packages.db",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        distros::legacy_rpm_root(&root, kind);
        let reference = layout(tmp.path(), &[&root]);
        let (scan, stderr) = scan_json(&reference, &[]);
        let warnings = scan["platforms"][0]["inventory"]["warnings"]
            .as_array()
            .unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = warnings[0].as_str().unwrap();
        assert!(
            w.contains(path) && w.contains(what) && w.contains("does not read yet"),
            "{w}"
        );
        assert!(
            stderr.contains("warning") && stderr.contains(path),
            "{stderr}"
        );
        let o = rootwasm(&["sbom", &reference, "--format", "cyclonedx"]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(text(&o).1.contains(what), "{:?}", text(&o));
    }
}

#[test]
fn a_damaged_rpmdb_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    copy_tree(&distros::rpm_root(&repo()), &root);
    let db = root.join("var/lib/rpm/rpmdb.sqlite");
    let mut bytes = std::fs::read(&db).unwrap();
    // Keep the SQLite header, garble the pages behind it.
    for b in bytes[100..].iter_mut() {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&db, bytes).unwrap();
    let reference = layout(tmp.path(), &[&root]);
    let (scan, _) = scan_json(&reference, &[]);
    let inv = &scan["platforms"][0]["inventory"];
    let w = inv["warnings"][0].as_str().unwrap_or_default();
    assert!(w.contains("/var/lib/rpm/rpmdb.sqlite"), "{inv}");
    assert!(
        !inv["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["ecosystem"] == "rpm")
    );
}

#[test]
fn debian_licenses_from_dep5_copyright_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("debian");
    debian::vendored_root(&repo(), &root);
    let reference = layout(tmp.path(), &[&root]);
    let (cdx, spdx) = sboms(tmp.path(), &reference);
    assert_eq!(
        component(&cdx, "libexpat1")["licenses"][0]["license"]["id"],
        "MIT"
    );
    // DEP-5's GPL-2 is SPDX's GPL-2.0-only.
    assert_eq!(
        spdx_package(&spdx, "netbase")["licenseDeclared"],
        "GPL-2.0-only"
    );
    // base-files' copyright is free text: no license is claimed.
    assert!(component(&cdx, "base-files").get("licenses").is_none());
    assert_eq!(
        spdx_package(&spdx, "base-files")["licenseDeclared"],
        "NOASSERTION"
    );
}

#[test]
fn debian_python_runtime_from_its_package() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("debian");
    debian::vendored_root(&repo(), &root);
    // python3.11-minimal as dpkg records it (the interpreter itself is a stand-in).
    let status = root.join("var/lib/dpkg/status");
    let mut s = std::fs::read_to_string(&status).unwrap();
    s.push_str("Package: python3.11-minimal\nStatus: install ok installed\nArchitecture: amd64\nSource: python3.11\nVersion: 3.11.2-6+deb12u2\nDescription: Minimal subset of the Python language (version 3.11)\n\n");
    s.push_str("Package: python3.12-minimal\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.12.0~rc1-1\nDescription: not owning /usr/bin/python3.12 here\n\n");
    std::fs::write(&status, s).unwrap();
    let info = root.join("var/lib/dpkg/info");
    std::fs::write(
        info.join("python3.11-minimal.list"),
        "/.\n/usr\n/usr/bin\n/usr/bin/python3.11\n",
    )
    .unwrap();
    std::fs::write(info.join("python3.12-minimal.list"), "/.\n/usr\n/usr/lib\n").unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    for bin in ["python3.11", "python3.12"] {
        std::fs::write(root.join("usr/bin").join(bin), b"\x7fELF").unwrap();
    }
    let reference = layout(tmp.path(), &[&root]);
    let (scan, _) = scan_json(&reference, &[]);
    let runtimes = scan["platforms"][0]["inventory"]["runtimes"]
        .as_array()
        .unwrap();
    assert_eq!(runtimes.len(), 1, "{runtimes:?}");
    assert_eq!(
        (
            runtimes[0]["name"].as_str(),
            runtimes[0]["version"].as_str(),
            runtimes[0]["location"].as_str()
        ),
        (Some("python"), Some("3.11.2"), Some("/usr/bin/python3.11"))
    );
}
