//! The same recipe on copies of the same tree gives byte-identical journals,
//! wherever the trees live.

use crate::support::*;

#[test]
fn journals_are_byte_identical_across_runs_and_paths() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let root_a = a.path().join("root");
    let root_b = b.path().join("some/deeper/place/root");
    std::fs::create_dir_all(root_b.parent().unwrap()).unwrap();
    let fixture = repo().join("tests/fixtures/requests-2.30.0/rootfs");
    copy_tree(&fixture, &root_a);
    copy_tree(&fixture, &root_b);
    let recipe = repo().join("recipes/requests-cve-2023-32681");
    let run = |root: &std::path::Path, out: &std::path::Path| {
        let o = rootwasm(&[
            "run",
            recipe.to_str().unwrap(),
            "--rootfs",
            root.to_str().unwrap(),
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{:?}", text(&o));
        o.stdout
    };
    let ja = run(&root_a, &a.path().join("out"));
    let jb = run(&root_b, &b.path().join("out"));
    assert!(!ja.is_empty());
    assert_eq!(ja, jb, "journals differ");
    assert_eq!(
        std::fs::read(a.path().join("out/journal.json")).unwrap(),
        ja
    );
    assert_eq!(
        tree_hash(&a.path().join("out")),
        tree_hash(&b.path().join("out")),
        "blob stores differ"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["check_after"]["status"], "fixed");
    // The CVE ids are recipe.toml's: the shared component reports none.
    assert_eq!(report["report"]["packages"][0]["version_after"], "2.30.0");
    // And the journal is what the docs say: version 1, three entries.
    let j: serde_json::Value = serde_json::from_slice(&ja).unwrap();
    assert_eq!(j["format"], "rootwasm.journal/v1");
    let ops: Vec<_> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["op"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["write-file", "remove", "write-file"]);
}

/// Every file below `dir`, by relative path, with its bytes.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Invariant 4 for whole images: the same image read from two unrelated
/// directories, under another tag and with other file times, patched into
/// two unrelated output paths gives byte-identical output — every blob,
/// `index.json` and the evidence — and no output byte names a local path.
#[test]
fn the_same_image_from_anywhere_gives_byte_identical_output() {
    use crate::images::*;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let base = a.path().join("base");
    debian::vendored_root(&repo(), &base);
    let layers = [
        Layer::from_dir(&base),
        Layer::from_dir(&repo().join("tests/fixtures/requests-2.30.0/rootfs")),
    ];
    let img = image(&layers, "amd64");
    let in_a = a.path().join("in");
    write_layout(&in_a, &[(&img, "amd64")], "v1");
    // The copy: elsewhere, deeper, tagged differently, with other mtimes.
    let in_b = b.path().join("e/d/img");
    std::fs::create_dir_all(in_b.parent().unwrap()).unwrap();
    copy_tree(&in_a, &in_b);
    let index = in_b.join("index.json");
    let retagged = std::fs::read_to_string(&index)
        .unwrap()
        .replace("\"v1\"", "\"another-tag\"");
    std::fs::write(&index, retagged).unwrap();
    let st = std::process::Command::new("touch")
        .args(["-d", "2001-02-03 04:05:06", "-r"])
        .arg(&index)
        .arg(&index)
        .status();
    assert!(st.is_ok());
    let key = a.path().join("k.pem");
    assert!(
        rootwasm(&["key", "generate", key.to_str().unwrap()])
            .status
            .success()
    );

    let out_a = a.path().join("out");
    let out_b = b.path().join("x/y/z/out");
    for (input, output) in [
        (format!("oci:{}:v1", in_a.display()), &out_a),
        (format!("oci:{}:another-tag", in_b.display()), &out_b),
    ] {
        let o = apply_cmd(
            &input,
            &format!("oci:{}:patched", output.display()),
            &repo().join("recipes"),
            &["--key", key.to_str().unwrap()],
        );
        assert!(o.status.success(), "{input}: {:?}", text(&o));
    }
    let (fa, fb) = (files(&out_a), files(&out_b));
    assert!(
        fa.len() > 10,
        "the output has its blobs and evidence: {:?}",
        fa.keys()
    );
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between the two paths");
    }
    // No output byte contains a local path (the temp dirs, the inputs' names).
    for tmp in [a.path(), b.path()] {
        let needle = tmp.to_string_lossy().into_owned();
        for (name, bytes) in fa.iter().chain(&fb) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{name} contains the local path {needle}"
            );
        }
    }
    for needle in ["e/d/img", "another-tag"] {
        for (name, bytes) in &fb {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{name} contains {needle:?}, from where or how the input was named"
            );
        }
    }
}
