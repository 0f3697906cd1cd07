//! The sink's guarantees, through the library API (not only the CLI): it
//! never writes into its input, and an OCI output needs its evidence or an
//! explicit reason to go without.

use crate::images::*;
use crate::support::*;
use rootwasm::image::sink::{self, Blob, OutputImage, WithoutEvidence};
use rootwasm::image::{Reference, source};
use std::path::Path;

/// The input image re-emitted unchanged: the smallest output there is.
fn unchanged(src: &source::Source) -> OutputImage<'_> {
    let mut blobs = std::collections::BTreeMap::new();
    let top = src.top.descriptor().clone();
    blobs.insert(top.digest.clone(), (top.size, Blob::Input));
    OutputImage {
        top: rootwasm::image::model::Descriptor {
            annotations: None,
            ..top
        },
        blobs,
        input: src.store.as_ref(),
        repo_tags: Vec::new(),
        docker: None,
        epoch: 0,
        tags: Vec::new(),
    }
}

fn layout(dir: &Path) -> std::path::PathBuf {
    let img = image(
        &[Layer::from_dir(
            &repo().join("tests/fixtures/requests-2.30.0/rootfs"),
        )],
        "amd64",
    );
    let input = dir.join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    input
}

#[test]
fn the_library_refuses_to_write_into_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = layout(tmp.path());
    let src =
        source::open(&Reference::parse(&format!("oci:{}:v1", input.display())).unwrap()).unwrap();
    let before = tree_hash(&input);
    // A symlink to the input, from outside it.
    std::os::unix::fs::symlink(&input, tmp.path().join("alias")).unwrap();
    let targets = [
        format!("oci:{}:v2", input.display()),
        format!("oci:{}/nested:v2", input.display()),
        format!("oci:{}/blobs:v2", input.display()),
        format!("docker-archive:{}/index.json", input.display()),
        format!("oci:{}:v2", tmp.path().join("alias").display()),
        format!("oci:{}:v2", tmp.path().join("alias/sub/../x").display()),
        // The input's parent contains it.
        format!("oci:{}:v2", tmp.path().display()),
    ];
    for t in &targets {
        let r = Reference::parse(t).unwrap();
        let sealed = unchanged(&src).without_evidence(WithoutEvidence::NothingPatched);
        let e = sink::write(&r, &sealed).expect_err(t);
        assert!(
            e.to_string().contains("never writes into its input"),
            "{t}: {e}"
        );
    }
    assert_eq!(tree_hash(&input), before, "the input is unchanged");
    assert!(!input.join("nested").exists());
}

#[test]
fn an_existing_output_whose_blobs_link_into_the_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = layout(tmp.path());
    let src =
        source::open(&Reference::parse(&format!("oci:{}:v1", input.display())).unwrap()).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        out.join("index.json"),
        br#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(input.join("blobs"), out.join("blobs")).unwrap();
    let before = tree_hash(&input);
    let r = Reference::parse(&format!("oci:{}:v2", out.display())).unwrap();
    let sealed = unchanged(&src).without_evidence(WithoutEvidence::NothingPatched);
    let e = sink::write(&r, &sealed).unwrap_err();
    assert!(e.to_string().contains("symlink"), "{e}");
    assert_eq!(tree_hash(&input), before);
}

#[test]
fn a_corrupt_blob_in_an_existing_output_is_replaced_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let input = layout(tmp.path());
    let src =
        source::open(&Reference::parse(&format!("oci:{}:v1", input.display())).unwrap()).unwrap();
    let out = tmp.path().join("out");
    let r = Reference::parse(&format!("oci:{}:v1", out.display())).unwrap();
    let write = || {
        let sealed = unchanged(&src).without_evidence(WithoutEvidence::NothingPatched);
        sink::write(&r, &sealed).unwrap();
    };
    write();
    let top = src.top.descriptor().digest.clone();
    let blob = out.join("blobs/sha256").join(top.hex());
    let good = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, b"{}").unwrap();
    write();
    assert_eq!(std::fs::read(&blob).unwrap(), good);
}

#[test]
fn evidence_is_required_where_it_has_a_place_and_refused_where_it_has_none() {
    let tmp = tempfile::tempdir().unwrap();
    let input = layout(tmp.path());
    let src =
        source::open(&Reference::parse(&format!("oci:{}:v1", input.display())).unwrap()).unwrap();
    // "A docker archive has no place" is no reason to leave an OCI layout bare.
    let r = Reference::parse(&format!("oci:{}:v1", tmp.path().join("o").display())).unwrap();
    let sealed = unchanged(&src).without_evidence(WithoutEvidence::DockerArchive);
    let e = sink::write(&r, &sealed).unwrap_err();
    assert!(e.to_string().contains("evidence"), "{e}");
    assert!(!tmp.path().join("o").exists());
    // The explicit opt-out is honoured.
    let sealed = unchanged(&src).without_evidence(WithoutEvidence::OptedOut);
    sink::write(&r, &sealed).unwrap();
}

/// Every blob reachable from a layout's `index.json` is in it.
fn assert_complete(layout: &Path) {
    let read = |d: &str| -> serde_json::Value {
        let p = layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut todo: Vec<serde_json::Value> = index["manifests"].as_array().unwrap().clone();
    let mut seen = 0;
    while let Some(d) = todo.pop() {
        let digest = d["digest"].as_str().unwrap();
        let blob = layout.join("blobs/sha256").join(&digest[7..]);
        assert!(blob.is_file(), "{digest} is referenced but missing");
        seen += 1;
        let mt = d["mediaType"].as_str().unwrap_or_default();
        if mt.contains("index") || mt.contains("manifest.list") {
            todo.extend(read(digest)["manifests"].as_array().unwrap().clone());
        } else if mt.contains("manifest") {
            let m = read(digest);
            todo.push(m["config"].clone());
            todo.extend(m["layers"].as_array().unwrap().clone());
        }
    }
    assert!(seen >= 4, "walked {seen} blobs");
}

/// A nested index is copied with everything below it.
#[test]
fn a_nested_index_is_copied_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let input = layout(tmp.path());
    // Wrap the image in a nested index: index.json -> index -> manifest.
    let index_path = input.join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let mut child = index["manifests"][0].clone();
    child["annotations"] = serde_json::Value::Null;
    child.as_object_mut().unwrap().remove("annotations");
    child["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [child],
    }))
    .unwrap();
    let d = rootwasm::image::model::Digest::of(&nested);
    std::fs::write(input.join("blobs/sha256").join(d.hex()), &nested).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": d.as_str(),
            "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }],
    });
    std::fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();
    let out = tmp.path().join("out");
    let o = apply_cmd(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:v1", out.display()),
        &repo().join("recipes"),
        &[],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert_complete(&out);
}

/// A destination that cannot be written is refused before any work, with a
/// message that says why; nothing is left behind.
#[test]
fn bad_destinations_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let input = layout(tmp.path());
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let image = format!("oci:{}:v1", input.display());
    let good_out = tmp.path().join("out");
    // The output's parent is a file.
    let o = apply_cmd(
        &image,
        &format!("oci:{}:v1", file.join("out").display()),
        &repo().join("recipes"),
        &[],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("is not a directory"), "{err}");
    assert!(!err.contains("running "), "no recipe ran: {err}");
    // An invalid --journal-dir: refused before the image is written.
    let o = apply_cmd(
        &image,
        &format!("oci:{}:v1", good_out.display()),
        &repo().join("recipes"),
        &["--journal-dir", file.join("journals").to_str().unwrap()],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--journal-dir"), "{err}");
    assert!(!good_out.exists(), "nothing written after the refusal");
    // An error's cause is said once.
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}
