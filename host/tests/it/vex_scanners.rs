//! What Trivy and Grype suppress with rootwasm's VEX, decided by their own
//! matching rules ported in `tests/python/vex_oracle.py` (upstream files and
//! commits named there), over packages as real Syft reads them from the
//! patched and the unpatched image.
//!
//! Both scanners, every way of naming the image from a registry (by tag, by
//! digest; Grype also through a Docker daemon), a multi-platform index, and
//! `trivy sbom` with the BOM-Link CycloneDX VEX: exactly the fixed
//! vulnerabilities are suppressed in the patched image, none in the unpatched.

use crate::images::*;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const REPOSITORY: &str = "127.0.0.1:5000/acme/app";

fn python() -> String {
    std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn base_layer(tmp: &Path) -> Layer {
    let d = tmp.join("base");
    if !d.exists() {
        debian::vendored_root(&repo(), &d);
    }
    Layer::from_dir(&d)
}

fn requests_layer() -> Layer {
    Layer::from_dir(&repo().join("tests/fixtures/requests-2.30.0/rootfs"))
}

/// `rootwasm attestation <image> <kind>`: its exact stdout bytes.
fn attestation(image: &str, kind: &str, platform: Option<&str>) -> Vec<u8> {
    let mut args = vec!["attestation", image, kind];
    if let Some(p) = platform {
        args.extend(["--platform", p]);
    }
    let o = rootwasm(&args);
    assert!(o.status.success(), "attestation {kind}: {:?}", text(&o));
    o.stdout
}

/// (name, version, arch, ecosystem, purl) of the deb and pypi packages Syft
/// finds in an OCI layout with one image.
fn syft_packages(layout: &Path) -> Vec<Value> {
    syft_json(layout)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "deb" || a["type"] == "python")
        .map(|a| {
            json!({
                "name": a["name"],
                "version": a["version"],
                "arch": a["metadata"]["architecture"],
                "ecosystem": if a["type"] == "deb" { "deb" } else { "pypi" },
                "syft_purl": a["purl"],
            })
        })
        .collect()
}

/// What the scanners report: every vulnerability the applied recipes fix, on
/// the package they fixed (Grype names the Python one by its GHSA id), plus
/// two that nothing fixed: one more on a patched package, one elsewhere.
fn findings(
    report: &Value,
    packages: &[Value],
    grype: bool,
) -> (Vec<Value>, BTreeSet<(String, String)>) {
    let ghsa = |id: &str| match id {
        "CVE-2023-32681" if grype => "GHSA-j8r2-6x86-q33q".to_owned(),
        other => other.to_owned(),
    };
    let package = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("Syft finds no {name}"))
            .clone()
    };
    let mut out = Vec::new();
    let mut fixed = BTreeSet::new();
    for r in report["platforms"][0]["recipes"].as_array().unwrap() {
        if r["result"] != "applied" {
            continue;
        }
        let name = r["package"].as_str().unwrap();
        for id in r["cves"].as_array().unwrap() {
            let id = ghsa(id.as_str().unwrap());
            fixed.insert((id.clone(), name.to_owned()));
            out.push(json!({"id": id, "package": package(name)}));
        }
        out.push(json!({"id": "CVE-2099-0001", "package": package(name)}));
    }
    assert!(!fixed.is_empty(), "nothing was fixed: {report}");
    let other = packages
        .iter()
        .find(|p| p["name"] == "libc6" || p["name"] == "base-files")
        .expect("an unpatched package");
    out.push(json!({"id": "CVE-2099-0002", "package": other}));
    (out, fixed)
}

/// Run the oracle: the (id, package) pairs the scanner suppresses.
fn suppressed(tmp: &Path, scenario: &Value) -> BTreeSet<(String, String)> {
    let path = tmp.join("scenario.json");
    std::fs::write(&path, serde_json::to_vec(scenario).unwrap()).unwrap();
    let o = Command::new(python())
        .arg(repo().join("tests/python/vex_oracle.py"))
        .arg(&path)
        .output()
        .expect("running tests/python/vex_oracle.py");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
        .collect()
}

/// The ways each scanner names an image it pulls from the registry.
fn pulls(tag: &str, digest: &str) -> Vec<(&'static str, Value)> {
    let by_tag = format!("{REPOSITORY}:{tag}");
    let by_digest = format!("{REPOSITORY}@{digest}");
    vec![
        ("trivy", json!({"reference": by_tag, "source": "registry"})),
        (
            "trivy",
            json!({"reference": by_digest, "source": "registry"}),
        ),
        ("grype", json!({"reference": by_tag, "source": "registry"})),
        (
            "grype",
            json!({"reference": by_digest, "source": "registry"}),
        ),
        ("grype", json!({"reference": by_tag, "source": "daemon"})),
        // Loaded from an archive: a tag and no repo digest, so only the
        // versionless tag purl can match.
        (
            "grype",
            json!({"reference": by_tag, "source": "daemon-loaded"}),
        ),
    ]
}

fn debian_version(tmp: &Path) -> String {
    std::fs::read_to_string(tmp.join("base/etc/debian_version"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn trivy_and_grype_suppress_exactly_the_fixed_vulnerabilities() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let img = image(&[base_layer(t), requests_layer()], "amd64");
    let input = t.join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = t.join("out");
    let o = apply_cmd(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", out.display()),
        &repo().join("recipes"),
        &[
            "--json",
            "--repository",
            &format!("{REPOSITORY}:1.0-patched"),
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let patched_digest = report["digest"].as_str().unwrap().to_owned();
    let image_ref = format!("oci:{}", out.display());
    let vex = t.join("vex.json");
    std::fs::write(&vex, attestation(&image_ref, "vex", None)).unwrap();
    let debian = debian_version(t);
    // The SBOM names the image as the VEX does, with Trivy's purl.
    let sbom: Value = serde_json::from_slice(&attestation(&image_ref, "sbom", None)).unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&vex).unwrap()).unwrap();
    let trivy_purl = doc["statements"][0]["products"][0]["@id"].as_str().unwrap();
    assert!(
        trivy_purl.starts_with("pkg:oci/app@sha256") && trivy_purl.contains("arch=amd64"),
        "{trivy_purl}"
    );
    assert_eq!(sbom["metadata"]["component"]["purl"], trivy_purl);

    let patched = syft_packages(&out);
    let unpatched = syft_packages(&input);
    // Syft's deb purls carry distro and arch qualifiers: the VEX's
    // subcomponents must leave them out to match (docs/vex.md).
    let expat = patched.iter().find(|p| p["name"] == "libexpat1").unwrap();
    let expat = expat["syft_purl"].as_str().unwrap();
    assert!(
        expat.contains("distro=debian-12") && expat.contains("arch=amd64"),
        "{expat}"
    );
    let mut checked = 0;
    for (scanner, mut image) in pulls("1.0-patched", &patched_digest) {
        let grype = scanner == "grype";
        image["digest"] = json!(patched_digest);
        image["arch"] = json!("amd64");
        image["debian_version"] = json!(debian);
        let (f, fixed) = findings(&report, &patched, grype);
        let total = f.len();
        let s = json!({"scanner": scanner, "vex": vex, "image": image, "findings": f});
        assert_eq!(
            suppressed(t, &s),
            fixed,
            "{scanner} on the patched image, {image}"
        );
        println!(
            "{scanner} {image}: {} of {total} findings suppressed",
            fixed.len()
        );

        // The unpatched image (its own tag and digest, its own versions)
        // with the patched image's VEX: nothing is suppressed, the
        // backported requests (same version) included.
        let mut image = image.clone();
        image["digest"] = json!(img.manifest_digest);
        image["reference"] = json!(
            image["reference"]
                .as_str()
                .unwrap()
                .replace(":1.0-patched", ":1.0")
                .replace(&patched_digest, &img.manifest_digest)
        );
        let (f, _) = findings(&report, &unpatched, grype);
        let s = json!({"scanner": scanner, "vex": vex, "image": image, "findings": f});
        assert_eq!(
            suppressed(t, &s),
            BTreeSet::new(),
            "{scanner} on the unpatched image, {image}"
        );
        checked += 1;
    }
    assert_eq!(checked, 6);

    // A local layout gives neither scanner a name for the image: nothing matches.
    for scanner in ["trivy", "grype"] {
        let image = json!({"reference": "", "digest": patched_digest, "arch": "amd64",
                           "source": "local", "debian_version": debian});
        let (f, _) = findings(&report, &patched, scanner == "grype");
        let s = json!({"scanner": scanner, "vex": vex, "image": image, "findings": f});
        assert_eq!(
            suppressed(t, &s),
            BTreeSet::new(),
            "{scanner} on a local layout"
        );
    }

    // The oracle tells names apart: the product as rootwasm named it before
    // (`pkg:oci/image@<digest>`, no repository, no hash) matches nothing
    // in either scanner.
    let mut old: Value = serde_json::from_slice(&std::fs::read(&vex).unwrap()).unwrap();
    for st in old["statements"].as_array_mut().unwrap() {
        let subs = st["products"][0]["subcomponents"].clone();
        st["products"] =
            json!([{"@id": format!("pkg:oci/image@{patched_digest}"), "subcomponents": subs}]);
    }
    let old_vex = t.join("old.json");
    std::fs::write(&old_vex, serde_json::to_vec(&old).unwrap()).unwrap();
    for (scanner, mut image) in pulls("1.0-patched", &patched_digest) {
        image["digest"] = json!(patched_digest);
        image["arch"] = json!("amd64");
        image["debian_version"] = json!(debian);
        let (f, _) = findings(&report, &patched, scanner == "grype");
        let s = json!({"scanner": scanner, "vex": old_vex, "image": image, "findings": f});
        assert_eq!(suppressed(t, &s), BTreeSet::new(), "{scanner}, {image}");
    }
}

#[test]
fn the_oracle_agrees_with_upstreams_own_test_vectors() {
    let o = Command::new(python())
        .arg(repo().join("tests/python/vex_oracle.py"))
        .arg("selftest")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn trivy_sbom_applies_the_bom_link_cyclonedx_vex() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let img = image(&[base_layer(t), requests_layer()], "amd64");
    let input = t.join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = t.join("out");
    let o = apply_cmd(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", out.display()),
        &repo().join("recipes"),
        &["--json"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let image_ref = format!("oci:{}", out.display());
    let (sbom, cdx_vex) = (t.join("sbom.json"), t.join("vex.cdx.json"));
    std::fs::write(&sbom, attestation(&image_ref, "sbom", None)).unwrap();
    std::fs::write(&cdx_vex, attestation(&image_ref, "cdx-vex", None)).unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();
    let os = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "operating-system")
        .expect("an operating-system component, as Syft writes");
    assert_eq!(
        (&os["name"], &os["version"]),
        (&json!("debian"), &json!("12"))
    );
    let deps = doc["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ref"] == os["bom-ref"])
        .expect("the OS component's dependencies");
    assert!(
        deps["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("pkg:deb/debian/libexpat1@")),
        "{deps}"
    );
    assert_eq!(
        attest_oracle(&["cyclonedx", cdx_vex.to_str().unwrap()]).map(|s| s.trim().to_owned()),
        Ok("valid".to_owned())
    );

    let image = json!({"reference": "", "digest": "", "source": "sbom"});
    let (f, fixed) = findings(&report, &syft_packages(&out), false);
    let s = json!({"scanner": "trivy-sbom", "vex": cdx_vex, "sbom": sbom, "image": image, "findings": f});
    assert_eq!(suppressed(t, &s), fixed);
    // The unpatched image's SBOM: the links name another serial number.
    let o = rootwasm(&[
        "sbom",
        &format!("oci:{}:v1", input.display()),
        "--format",
        "cyclonedx",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let unpatched_sbom = t.join("unpatched.json");
    std::fs::write(&unpatched_sbom, &o.stdout).unwrap();
    let (f, _) = findings(&report, &syft_packages(&input), false);
    let s = json!({"scanner": "trivy-sbom", "vex": cdx_vex, "sbom": unpatched_sbom, "image": image, "findings": f});
    assert_eq!(suppressed(t, &s), BTreeSet::new());
    // Without --repository the OpenVEX names the image by digest only:
    // Grype matches a pull by the bare digest, Trivy nothing.
    let vex = t.join("vex.json");
    std::fs::write(&vex, attestation(&image_ref, "vex", None)).unwrap();
    let digest = report["digest"].as_str().unwrap();
    for (scanner, mut image) in pulls("1.0-patched", digest) {
        image["digest"] = json!(digest);
        image["arch"] = json!("amd64");
        image["debian_version"] = json!(debian_version(t));
        let (f, fixed) = findings(&report, &syft_packages(&out), scanner == "grype");
        let s = json!({"scanner": scanner, "vex": vex, "image": image, "findings": f});
        // (an archive loaded into a daemon has no digest to match)
        let want = if scanner == "grype" && image["source"] != "daemon-loaded" {
            fixed
        } else {
            BTreeSet::new()
        };
        assert_eq!(suppressed(t, &s), want, "{scanner} {image}");
    }
    // And an OpenVEX-only scanner refuses the CycloneDX VEX, as Trivy does.
    let s = json!({"scanner": "trivy", "vex": cdx_vex, "image": image, "findings": []});
    std::fs::write(t.join("scenario.json"), serde_json::to_vec(&s).unwrap()).unwrap();
    let o = Command::new(python())
        .arg(repo().join("tests/python/vex_oracle.py"))
        .arg(t.join("scenario.json"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("CycloneDX VEX can be used with CycloneDX SBOM")
    );
}

/// The in-toto statement under cosign's `.att` tag for `subject` in the
/// untagged output layout `out`, if any (its DSSE payload, not verified).
fn attestation_for(out: &Path, subject: &str) -> Option<Value> {
    use base64::Engine as _;
    let blob = |d: &str| std::fs::read(out.join("blobs/sha256").join(&d[7..])).unwrap();
    let top: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let evidence = top["manifests"][0]["annotations"]["dev.rootwasm.evidence"]
        .as_str()
        .unwrap();
    let evidence: Value = serde_json::from_slice(&blob(evidence)).unwrap();
    let tag = format!("sha256-{}.att", &subject[7..]);
    let att = evidence["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())?;
    let manifest: Value = serde_json::from_slice(&blob(att["digest"].as_str().unwrap())).unwrap();
    assert_eq!(manifest["subject"]["digest"], subject);
    let env: Value =
        serde_json::from_slice(&blob(manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    Some(serde_json::from_slice(&payload).unwrap())
}

#[test]
fn a_multi_platform_index_is_matched_by_its_index_digest_on_every_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let amd = image(&[base_layer(t), requests_layer()], "amd64");
    let arm = image(&[base_layer(t), requests_layer()], "arm64");
    let input = t.join("in");
    write_layout(&input, &[(&amd, "amd64"), (&arm, "arm64")], "multi");
    let out = t.join("out");
    let o = apply_cmd(
        &format!("oci:{}:multi", input.display()),
        &format!("oci:{}", out.display()),
        &repo().join("recipes"),
        // The test images share an amd64 Debian base: only requests is patched on both.
        &[
            "--json",
            "--recipe",
            "requests-cve-2023-32681",
            "--repository",
            &format!("{REPOSITORY}:2.0"),
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let index = report["digest"].as_str().unwrap().to_owned();
    // `trivy image --vex oci` looks under the `.att` tag of the digest it
    // pulled: the index's too, with a statement naming the index.
    let st = attestation_for(&out, &index).expect("the index's .att");
    assert_eq!(st["predicateType"], "https://openvex.dev/ns");
    assert!(
        st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["digest"]["sha256"] == index[7..]),
        "{st}"
    );
    assert!(st["predicate"].to_string().contains(&index[7..]), "{st}");
    let image_ref = format!("oci:{}", out.display());
    let requests = |version: &str| json!({"name": "requests", "version": version, "ecosystem": "pypi", "syft_purl": format!("pkg:pypi/requests@{version}")});
    for (arch, platform) in [("amd64", "linux/amd64"), ("arm64", "linux/arm64")] {
        let vex = t.join(format!("vex-{arch}.json"));
        std::fs::write(&vex, attestation(&image_ref, "vex", Some(platform))).unwrap();
        for (scanner, mut image) in pulls("2.0", &index) {
            let id = if scanner == "grype" {
                "GHSA-j8r2-6x86-q33q"
            } else {
                "CVE-2023-32681"
            };
            image["digest"] = json!(index);
            image["arch"] = json!(arch);
            image["debian_version"] = json!(debian_version(t));
            let f = json!([{"id": id, "package": requests("2.30.0")}]);
            let s = json!({"scanner": scanner, "vex": vex, "image": image, "findings": f});
            let want = BTreeSet::from([(id.to_owned(), "requests".to_owned())]);
            assert_eq!(
                suppressed(t, &s),
                want,
                "{scanner} {arch} via the index, {image}"
            );
            // The unpatched index, by its digest and an older tag: nothing.
            let old = {
                let o: Value =
                    serde_json::from_slice(&std::fs::read(input.join("index.json")).unwrap())
                        .unwrap();
                o["manifests"][0]["digest"].as_str().unwrap().to_owned()
            };
            image["digest"] = json!(old);
            image["reference"] = json!(
                image["reference"]
                    .as_str()
                    .unwrap()
                    .replace(":2.0", ":1.0")
                    .replace(&index, &old)
            );
            let s = json!({"scanner": scanner, "vex": vex, "image": image, "findings": f});
            assert_eq!(
                suppressed(t, &s),
                BTreeSet::new(),
                "{scanner} {arch} unpatched, {image}"
            );
        }
    }
    let _ = report;
}

#[test]
fn the_index_is_not_claimed_when_a_platform_lacks_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let amd = image(&[base_layer(t), requests_layer()], "amd64");
    let s390 = image(&[base_layer(t)], "s390x");
    let input = t.join("in");
    write_layout(&input, &[(&amd, "amd64"), (&s390, "s390x")], "multi");
    let out = t.join("out");
    let o = apply_cmd(
        &format!("oci:{}:multi", input.display()),
        &format!("oci:{}", out.display()),
        &repo().join("recipes"),
        &[
            "--json",
            "--recipe",
            "requests-cve-2023-32681",
            "--repository",
            &format!("{REPOSITORY}:2.0"),
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let index = report["digest"].as_str().unwrap();
    let manifest = report["platforms"][0]["manifest_after"].as_str().unwrap();
    assert!(
        attestation_for(&out, index).is_none(),
        "no .att for the index"
    );
    assert!(attestation_for(&out, manifest).is_some());
    let vex: Value = serde_json::from_slice(&attestation(
        &format!("oci:{}", out.display()),
        "vex",
        Some("linux/amd64"),
    ))
    .unwrap();
    let hashes: Vec<&str> = vex["statements"][0]["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["hashes"]["sha-256"].as_str())
        .collect();
    assert_eq!(
        hashes,
        [&manifest[7..]],
        "only the amd64 manifest, not the index {index}"
    );
    let ids: Vec<&str> = vex["statements"][0]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["@id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.iter().any(|i| i.contains("tag=")),
        "the tag names the index: {ids:?}"
    );
}

#[test]
fn extracted_documents_are_the_signed_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let img = image(&[base_layer(t), requests_layer()], "amd64");
    let input = t.join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = t.join("out");
    apply_with_repo_recipes(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", out.display()),
    );
    let image_ref = format!("oci:{}", out.display());
    let envelope: Value =
        serde_json::from_slice(&attestation(&image_ref, "provenance", None)).unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let byproducts = statement["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap();
    for (kind, name) in [
        ("journal", "journal.json"),
        ("sbom", "sbom.cdx.json"),
        ("spdx", "sbom.spdx.json"),
        ("vex", "vex.openvex.json"),
        ("cdx-vex", "vex.cdx.json"),
    ] {
        let bytes = attestation(&image_ref, kind, None);
        let signed = byproducts
            .iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("the provenance signs {name}"));
        assert_eq!(
            signed["digest"]["sha256"].as_str().unwrap(),
            sha256_hex(&bytes),
            "{kind}: the extracted bytes are the signed ones"
        );
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
