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
