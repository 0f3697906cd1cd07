//! The evidence a patched image carries, read back by the review verbs and
//! by other people's tools (skopeo, securesystemslib, the OpenVEX schema,
//! cyclonedx-python-lib); and tampering with any of it is detected.

use crate::images::*;
use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A patched image (libexpat1 upgraded, requests backported) and the key that signed it.
pub(crate) struct Fixture {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) public: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let base = dir.join("base");
        debian::vendored_root(&repo(), &base);
        let layers = [
            Layer::from_dir(&base),
            Layer::from_dir(&repo().join("tests/fixtures/requests-2.30.0/rootfs")),
        ];
        let img = image(&layers, "amd64");
        write_layout(&dir.join("in"), &[(&img, "amd64")], "v1");
        let key = dir.join("signing.pem");
        let o = rootwasm(&["key", "generate", key.to_str().unwrap()]);
        assert!(o.status.success(), "{:?}", text(&o));
        let out = dir.join("out");
        let o = rootwasm(&[
            "apply",
            &format!("oci:{}:v1", dir.join("in").display()),
            "--recipes",
            repo().join("recipes").to_str().unwrap(),
            "--output",
            &format!("oci:{}:patched", out.display()),
            "--key",
            key.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{:?}", text(&o));
        let public = dir.join("signing.pem.pub.pem");
        Fixture {
            _tmp: tmp,
            dir,
            out,
            key,
            public,
        }
    }

    pub(crate) fn image(&self, layout: &Path) -> String {
        format!("oci:{}:patched", layout.display())
    }

    pub(crate) fn run(&self, layout: &Path, verb: &[&str]) -> (bool, String) {
        let image = self.image(layout);
        let mut args = vec![verb[0], image.as_str()];
        args.extend_from_slice(&verb[1..]);
        let o = rootwasm(&args);
        let (out, err) = text(&o);
        (o.status.success(), out + &err)
    }

    pub(crate) fn verify(&self, layout: &Path) -> (bool, String) {
        self.run(layout, &["verify", "--key", self.public.to_str().unwrap()])
    }

    pub(crate) fn copy(&self, name: &str) -> PathBuf {
        let to = self.dir.join(name);
        copy_tree(&self.out, &to);
        to
    }
}

pub(crate) fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

pub(crate) fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The patched manifest's digest and the artifacts listed for it: (artifactType, manifest digest).
pub(crate) fn referrers(layout: &Path) -> (String, Vec<(String, String)>) {
    let idx = json(&layout.join("index.json"));
    let entries = idx["manifests"].as_array().unwrap();
    let tag = |e: &Value| {
        e["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let entry = entries.iter().find(|e| tag(e) == "patched").unwrap();
    let subject = entry["digest"].as_str().unwrap().to_owned();
    // The image is the layout's one entry; its annotation names the
    // evidence index, which lists the `sha256-<hex>` referrers index.
    assert_eq!(entries.len(), 1, "{idx}");
    let evidence = json(&blob_path(
        layout,
        entry["annotations"]["dev.rootwasm.evidence"]
            .as_str()
            .expect("the dev.rootwasm.evidence annotation"),
    ));
    let fallback = evidence["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| tag(e) == format!("sha256-{}", &subject[7..]))
        .expect("the referrers index, named by the tag schema");
    let ri = json(&blob_path(layout, fallback["digest"].as_str().unwrap()));
    let list = ri["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["artifactType"].as_str().unwrap().to_owned(),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (subject, list)
}

pub(crate) fn artifact_layer(layout: &Path, artifact_type: &str, n: usize) -> String {
    let (_, list) = referrers(layout);
    let (_, d) = list.iter().find(|(t, _)| t == artifact_type).unwrap();
    let m = json(&blob_path(layout, d));
    m["layers"][n]["digest"].as_str().unwrap().to_owned()
}

fn flip_byte(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[test]
fn evidence_is_attached_checked_by_other_tools_and_verifies() {
    let f = Fixture::new();
    let (subject, list) = referrers(&f.out);
    let types: Vec<&str> = list.iter().map(|(t, _)| t.as_str()).collect();
    for t in [
        "application/vnd.dev.rootwasm.journal.v1+json",
        "application/vnd.cyclonedx+json",
        "application/spdx+json",
        "application/openvex+json",
        "application/vnd.in-toto+json",
    ] {
        assert!(types.contains(&t), "{t} not attached: {types:?}");
    }
    // Every artifact names the patched manifest as its subject (OCI 1.1).
    for (_, d) in &list {
        let m = json(&blob_path(&f.out, d));
        assert_eq!(m["subject"]["digest"], subject.as_str(), "{m}");
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
    }
    // skopeo reads the image by its tag.
    let o = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &format!("oci:{}:patched", f.out.display()),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The documents, printed by `attestation`, pass other people's checks.
    let save = |kind: &str| {
        let o = rootwasm(&["attestation", &f.image(&f.out), kind]);
        assert!(o.status.success(), "{kind}: {:?}", text(&o));
        let p = f.dir.join(format!("{kind}.json"));
        std::fs::write(&p, &o.stdout).unwrap();
        p
    };
    let env = save("provenance");
    attest_oracle(&[
        "verify-dsse",
        env.to_str().unwrap(),
        f.public.to_str().unwrap(),
        "application/vnd.in-toto+json",
    ])
    .expect("securesystemslib verifies the provenance");
    let vex = save("vex");
    let schema = repo().join("tests/fixtures/schemas/openvex_json_schema_0.2.0.json");
    attest_oracle(&["openvex", vex.to_str().unwrap(), schema.to_str().unwrap()])
        .expect("OpenVEX schema");
    let v = json(&vex);
    let fixed: Vec<&str> = v["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "fixed")
        .map(|s| s["vulnerability"]["name"].as_str().unwrap())
        .collect();
    assert!(
        fixed.contains(&"CVE-2023-32681") && fixed.contains(&"CVE-2026-56132"),
        "{fixed:?}"
    );
    let sbom = save("sbom");
    attest_oracle(&["cyclonedx", sbom.to_str().unwrap()]).expect("CycloneDX schema");
    // CycloneDX VEX in the SBOM: a backport is resolved with pedigree, an upgrade resolved.
    let bom = json(&sbom);
    let state = |id: &str| {
        bom["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .map(|v| v["analysis"]["state"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{id} not in the SBOM's vulnerabilities"))
    };
    assert_eq!(state("CVE-2023-32681"), "resolved_with_pedigree");
    assert_eq!(state("CVE-2026-56132"), "resolved");
    let journal = json(&save("journal"));
    assert_eq!(journal["format"], "rootwasm.journal/v1");

    // The signed statement is about this image and input.
    let payload = {
        use base64::Engine as _;
        let e = json(&env);
        base64::engine::general_purpose::STANDARD
            .decode(e["payload"].as_str().unwrap())
            .unwrap()
    };
    let st: Value = serde_json::from_slice(&payload).unwrap();
    assert!(
        st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["digest"]["sha256"] == subject[7..])
    );
    assert!(
        st["predicate"]["buildDefinition"]["externalParameters"]["recipes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "requests-cve-2023-32681")
    );

    // The review verbs.
    let (ok, out) = f.verify(&f.out);
    assert!(ok, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    let (ok, out) = f.run(&f.out, &["replay"]);
    assert!(ok && out.contains("byte for byte"), "{out}");
    let public = f.public.to_str().unwrap();
    let o = rootwasm(&["history", &f.image(&f.out), "--json", "--key", public]);
    assert!(o.status.success(), "{:?}", text(&o));
    let h: Value = serde_json::from_slice(&o.stdout).unwrap();
    let by_id = |id: &str| {
        h.as_array()
            .unwrap()
            .iter()
            .find(|r| r["recipe"] == id)
            .cloned()
            .unwrap()
    };
    let req = by_id("requests-cve-2023-32681");
    assert_eq!(
        (
            req["type"].as_str(),
            req["version_after"].as_str(),
            req["result"].as_str()
        ),
        (Some("backport"), Some("2.30.0"), Some("applied"))
    );
    assert_eq!(req["component_sha256"].as_str().unwrap().len(), 64);
    let expat = by_id("debian-libexpat1-2.5.0-1-deb12u5-amd64");
    assert_eq!(
        (
            expat["type"].as_str(),
            expat["version_before"].as_str(),
            expat["version_after"].as_str()
        ),
        (
            Some("distro-upgrade"),
            Some("2.5.0-1+deb12u2"),
            Some("2.5.0-1+deb12u5")
        )
    );
    let o = rootwasm(&["diff", &f.image(&f.out), "--key", public]);
    assert!(o.status.success(), "{:?}", text(&o));
    let d = String::from_utf8_lossy(&o.stdout);
    assert!(
        d.contains("+        if not scheme.startswith('https') and username and password:"),
        "{d}"
    );
    assert!(
        d.contains("/lib/x86_64-linux-gnu/libexpat.so.1.8.10 ["),
        "binaries by size, hash and mode: {d}"
    );
    // Running the recipes again gives the same journal.
    let (ok, out) = f.run(
        &f.out,
        &[
            "verify",
            "--key",
            f.public.to_str().unwrap(),
            "--rerun",
            "--recipes",
            repo().join("recipes").to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("same journal"), "{out}");

    // Deterministic: another run, to another path, attaches the same bytes.
    let again = f.dir.join("elsewhere/again");
    let o = rootwasm(&[
        "apply",
        &format!("oci:{}:v1", f.dir.join("in").display()),
        "--recipes",
        repo().join("recipes").to_str().unwrap(),
        "--output",
        &format!("oci:{}:patched", again.display()),
        "--key",
        f.key.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        referrers(&again),
        referrers(&f.out),
        "evidence differs between runs"
    );
}

#[test]
fn tampering_with_any_byte_is_detected() {
    let f = Fixture::new();
    let (subject, _) = referrers(&f.out);
    let manifest = json(&blob_path(&f.out, &subject));
    let patch_layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases: Vec<(&str, String, &str)> = vec![
        ("a byte of the patch layer", patch_layer, "layers"),
        (
            "a byte of the journal",
            artifact_layer(&f.out, "application/vnd.dev.rootwasm.journal.v1+json", 0),
            "journal.json",
        ),
        (
            "a byte of a journal blob",
            artifact_layer(&f.out, "application/vnd.dev.rootwasm.journal.v1+json", 1),
            "journal",
        ),
        (
            "a byte of the signed statement",
            artifact_layer(&f.out, "application/vnd.in-toto+json", 0),
            "signature",
        ),
    ];
    for (i, (what, digest, check)) in cases.into_iter().enumerate() {
        let copy = f.copy(&format!("t{i}"));
        flip_byte(&blob_path(&copy, &digest));
        let (ok, out) = f.verify(&copy);
        assert!(!ok, "{what}: verify passed:\n{out}");
        let line = out
            .lines()
            .find(|l| l.contains(&format!(" {check} ")))
            .unwrap_or_default();
        assert!(
            line.starts_with("FAIL"),
            "{what}: expected the {check} check to fail:\n{out}"
        );
    }

    // A consistent forgery: the journal rewritten and every digest above it
    // updated. The layout is self-consistent, but the signature covers the
    // journal's digest, and the journal no longer explains the layer.
    let copy = f.copy("forged");
    let jdigest = artifact_layer(&copy, "application/vnd.dev.rootwasm.journal.v1+json", 0);
    let mut j = json(&blob_path(&copy, &jdigest));
    for e in j["entries"].as_array_mut().unwrap() {
        if e["path"]
            .as_str()
            .unwrap()
            .ends_with("requests/sessions.py")
        {
            e["after"]["mode"] = "755".into();
        }
    }
    let new = serde_json::to_vec_pretty(&j).unwrap();
    replace_blob(&copy, &jdigest, &new);
    let (ok, out) = f.verify(&copy);
    assert!(!ok, "{out}");
    for check in ["journal.json", "journal"] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!(" {check} ")))
            .unwrap_or_default();
        assert!(
            line.starts_with("FAIL"),
            "the {check} check must fail:\n{out}"
        );
    }
    let (ok, out) = f.run(&copy, &["replay"]);
    assert!(!ok && out.contains("MISMATCH"), "{out}");

    // Another key did not sign it.
    let other = f.dir.join("other.pem");
    assert!(
        rootwasm(&["key", "generate", other.to_str().unwrap()])
            .status
            .success()
    );
    let (ok, out) = f.run(
        &f.out,
        &[
            "verify",
            "--key",
            f.dir.join("other.pem.pub.pem").to_str().unwrap(),
        ],
    );
    assert!(
        !ok && out
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("signature")),
        "{out}"
    );
}

/// Replace blob `old` with `bytes` and rewrite every descriptor that pointed
/// at it, up to index.json, so all digests in the layout match again.
pub(crate) fn replace_blob(layout: &Path, old: &str, bytes: &[u8]) {
    use sha2::Digest as _;
    let new = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    std::fs::write(blob_path(layout, &new), bytes).unwrap();
    let fix = |v: &mut Value, old: &str, new: &str, size: usize| -> bool {
        let mut hit = false;
        fn walk(v: &mut Value, old: &str, new: &str, size: usize, hit: &mut bool) {
            match v {
                Value::Object(m) => {
                    if m.get("digest").and_then(Value::as_str) == Some(old)
                        && m.get("mediaType").is_some()
                        && m.contains_key("size")
                    {
                        m.insert("digest".into(), new.into());
                        m.insert("size".into(), size.into());
                        *hit = true;
                    }
                    for (k, x) in m.iter_mut() {
                        if k != "subject" {
                            walk(x, old, new, size, hit);
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|x| walk(x, old, new, size, hit)),
                _ => {}
            }
        }
        walk(v, old, new, size, &mut hit);
        hit
    };
    // Walk up: any JSON blob that references `old` is rewritten, and so on.
    let mut pending = vec![(old.to_owned(), new, bytes.len())];
    while let Some((o, n, size)) = pending.pop() {
        let mut idx = json(&layout.join("index.json"));
        // The evidence index is named by an annotation, not a descriptor.
        let mut renamed = false;
        for e in idx["manifests"].as_array_mut().unwrap() {
            if e["annotations"]["dev.rootwasm.evidence"] == o.as_str() {
                e["annotations"]["dev.rootwasm.evidence"] = n.clone().into();
                renamed = true;
            }
        }
        if renamed {
            std::fs::write(layout.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
        }
        if fix(&mut idx, &o, &n, size) {
            std::fs::write(layout.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
        }
        for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
            let p = e.unwrap().path();
            let Ok(mut v) = serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap()) else {
                continue;
            };
            if fix(&mut v, &o, &n, size) {
                let b = serde_json::to_vec(&v).unwrap();
                let d = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&b)));
                std::fs::write(blob_path(layout, &d), &b).unwrap();
                pending.push((
                    format!("sha256:{}", p.file_name().unwrap().to_string_lossy()),
                    d,
                    b.len(),
                ));
            }
        }
    }
}

#[test]
fn a_repatched_image_still_replays_and_verifies() {
    let f = Fixture::new();
    // Patch once with requests only, then again with libexpat1 only: the
    // second apply replaces the patch layer and carries the first one's
    // changes, which lie outside the second recipe's scope.
    let once = f.dir.join("once");
    let twice = f.dir.join("twice");
    for (input, output, only) in [
        (f.dir.join("in"), &once, Some("requests-cve-2023-32681")),
        (
            once.clone(),
            &twice,
            Some("debian-libexpat1-2.5.0-1-deb12u5-amd64"),
        ),
    ] {
        let mut args = vec![
            "apply".to_owned(),
            format!(
                "oci:{}:{}",
                input.display(),
                if input == f.dir.join("in") {
                    "v1"
                } else {
                    "patched"
                }
            ),
            "--recipes".into(),
            repo().join("recipes").display().to_string(),
            "--output".into(),
            format!("oci:{}:patched", output.display()),
            "--key".into(),
            f.key.display().to_string(),
        ];
        if let Some(id) = only {
            args.extend(["--recipe".into(), id.into()]);
        }
        let o = rootwasm(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{:?}", text(&o));
    }
    let (_, out) = f.run(&once, &["history"]);
    assert!(!out.contains("libexpat1"), "{out}");
    let o = rootwasm(&[
        "history",
        &format!("oci:{}:patched", twice.display()),
        "--json",
    ]);
    let h: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 2, "{h}");
    let m = json(&blob_path(&twice, &referrers(&twice).0));
    assert_eq!(
        m["layers"].as_array().unwrap().len(),
        3,
        "one patch layer, replaced"
    );
    let (ok, out) = f.run(
        &twice,
        &[
            "verify",
            "--key",
            f.public.to_str().unwrap(),
            "--rerun",
            "--recipes",
            repo().join("recipes").to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("rebuilds the same patch layer"), "{out}");
    let journal = rootwasm(&[
        "attestation",
        &format!("oci:{}:patched", twice.display()),
        "journal",
    ]);
    let j: Value = serde_json::from_slice(&journal.stdout).unwrap();
    assert!(
        j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["recipe"] == "rootwasm:earlier-patch"
                && e["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("requests/sessions.py")),
        "the carried change is journaled"
    );
}

#[test]
fn a_recipe_that_reports_no_package_gets_evidence_without_vex() {
    let tmp = tempfile::tempdir().unwrap();
    let recipes = tmp.path().join("recipes");
    recipe_dir(
        &recipes,
        "trivial",
        guest("trivial"),
        "[capabilities]\nwrite = [\"/etc/rootwasm-trivial\"]",
    );
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let img = image(&[Layer::from_dir(&root)], "amd64");
    write_layout(&tmp.path().join("in"), &[(&img, "amd64")], "v1");
    let key = tmp.path().join("k.pem");
    assert!(
        rootwasm(&["key", "generate", key.to_str().unwrap()])
            .status
            .success()
    );
    let out = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = rootwasm(&[
        "apply",
        &format!("oci:{}:v1", tmp.path().join("in").display()),
        "--recipes",
        recipes.to_str().unwrap(),
        "--output",
        &out,
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (_, list) = referrers(&tmp.path().join("out"));
    let types: Vec<&str> = list.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        !types.contains(&"application/openvex+json"),
        "nothing to state: {types:?}"
    );
    assert!(types.contains(&"application/vnd.in-toto+json"), "{types:?}");
    let o = rootwasm(&[
        "verify",
        &out,
        "--key",
        tmp.path().join("k.pem.pub.pem").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
}
