//! A corpus of crafted images. Each must be refused with an error naming the
//! layer and the entry, exit code 2, no output, and the input untouched.

use crate::images::*;
use crate::support::*;
use std::path::Path;
use tar::EntryType::{Directory as D, Link as H, Regular as F, Symlink as S};

fn ok_layer() -> Layer {
    Layer::raw(&[("etc/", D, b""), ("etc/os-release", F, b"ID=debian\n")])
}

/// Apply to an image made of `layers` (after `tamper` edits the layout) and expect refusal.
fn refused(
    layers: Vec<Layer>,
    extra_args: &[&str],
    tamper: impl FnOnce(&Path, &Image),
    expect: &[&str],
) {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(&layers, "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    tamper(&input, &img);
    let before = tree_hash(tmp.path());
    let out = tmp.path().join("out");
    let mut args = vec!["apply".to_owned(), format!("oci:{}:v1", input.display())];
    args.extend([
        "--recipes".into(),
        repo().join("recipes").display().to_string(),
        "--output".into(),
        format!("oci:{}", out.display()),
    ]);
    // A warm layer cache would answer for a tampered blob by digest; the
    // read-time checks are what this corpus is about.
    args.push("--no-layer-cache".into());
    args.extend(extra_args.iter().map(|s| s.to_string()));
    let o = rootwasm(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (stdout, stderr) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for e in expect {
        assert!(stderr.contains(e), "stderr lacks {e:?}:\n{stderr}");
    }
    assert!(!out.exists(), "an output was written");
    assert_eq!(
        tree_hash(tmp.path()),
        before,
        "something changed next to the input"
    );
}

fn layer_digest(layers: &[Layer], i: usize) -> String {
    digest(&layers[i].gzip())
}

#[test]
fn dotdot_entry_name() {
    let l = vec![ok_layer(), Layer::raw(&[("etc/../../escape", F, b"x")])];
    let d = layer_digest(&l, 1);
    refused(
        l,
        &[],
        |_, _| {},
        &[&d, "\"etc/../../escape\"", "contains '..'"],
    );
}

#[test]
fn absolute_entry_name() {
    let l = vec![Layer::raw(&[("/etc/passwd", F, b"x")])];
    let d = layer_digest(&l, 0);
    refused(
        l,
        &[],
        |_, _| {},
        &[&d, "\"/etc/passwd\"", "absolute entry name"],
    );
}

#[test]
fn write_through_a_symlink_in_the_same_layer() {
    let l = vec![Layer::raw(&[
        ("evil", S, b"/etc"),
        ("evil/passwd", F, b"x"),
    ])];
    let d = layer_digest(&l, 0);
    refused(
        l,
        &[],
        |_, _| {},
        &[
            &d,
            "\"evil/passwd\"",
            "goes through the symlink /evil (-> /etc)",
        ],
    );
}

#[test]
fn write_through_a_symlink_from_a_lower_layer() {
    let l = vec![
        Layer::raw(&[("up", S, b"../../..")]),
        Layer::raw(&[("up/host-file", F, b"x")]),
    ];
    let d = layer_digest(&l, 1);
    refused(
        l,
        &[],
        |_, _| {},
        &[&d, "\"up/host-file\"", "goes through the symlink /up"],
    );
}

#[test]
fn hardlink_outside_the_root() {
    let l = vec![
        ok_layer(),
        Layer::raw(&[("etc/shadow-copy", H, b"../../etc/shadow")]),
    ];
    let d = layer_digest(&l, 1);
    refused(
        l,
        &[],
        |_, _| {},
        &[&d, "\"etc/shadow-copy\"", "outside the root"],
    );
}

#[test]
fn hardlink_to_nothing() {
    let l = vec![ok_layer(), Layer::raw(&[("etc/x", H, b"etc/missing")])];
    let d = layer_digest(&l, 1);
    refused(l, &[], |_, _| {}, &[&d, "\"etc/x\"", "does not exist"]);
}

#[test]
fn whiteout_through_a_symlink() {
    let l = vec![
        ok_layer(),
        Layer::raw(&[("link", S, b"/etc")]),
        Layer::raw(&[("link/.wh.os-release", F, b"")]),
    ];
    let d = layer_digest(&l, 2);
    refused(
        l,
        &[],
        |_, _| {},
        &[
            &d,
            "\"link/.wh.os-release\"",
            "whiteout goes through the symlink /link",
        ],
    );
}

#[test]
fn duplicate_entries() {
    let l = vec![Layer::raw(&[("a", F, b"1"), ("a", F, b"2")])];
    let d = layer_digest(&l, 0);
    refused(l, &[], |_, _| {}, &[&d, "\"a\"", "duplicate entry"]);
}

#[test]
fn gzip_bomb_hits_the_size_limit() {
    let zeros = vec![0u8; 8 << 20];
    let l = vec![Layer::raw(&[("zeros", F, &zeros)])];
    let d = layer_digest(&l, 0);
    refused(
        l,
        &["--max-layer-bytes", "1048576"],
        |_, _| {},
        &[
            &d,
            "uncompressed size exceeds 1048576 bytes",
            "--max-layer-bytes",
        ],
    );
}

#[test]
fn tar_bomb_hits_the_entry_limit() {
    let names: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, tar::EntryType, &[u8])> =
        names.iter().map(|n| (n.as_str(), F, &b""[..])).collect();
    let l = vec![Layer::raw(&entries)];
    let d = layer_digest(&l, 0);
    refused(
        l,
        &["--max-layer-entries", "100"],
        |_, _| {},
        &[&d, "more than 100 entries", "--max-layer-entries"],
    );
}

#[test]
fn truncated_blob() {
    let l = vec![ok_layer(), Layer::raw(&[("big", F, &[7u8; 100_000])])];
    let d = layer_digest(&l, 1);
    let d2 = d.clone();
    refused(
        l,
        &[],
        move |dir, _| {
            let p = dir.join("blobs/sha256").join(&d2[7..]);
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() / 2]).unwrap();
        },
        &[&d, "truncated"],
    );
}

#[test]
fn layer_digest_mismatch() {
    let l = vec![ok_layer(), Layer::raw(&[("etc/motd", F, b"hello\n")])];
    let d = layer_digest(&l, 1);
    let d2 = d.clone();
    refused(
        l,
        &[],
        move |dir, _| {
            // A valid layer of the same size with other contents.
            let other = Layer::raw(&[("etc/motd", F, b"HELLO\n")]).gzip();
            std::fs::write(dir.join("blobs/sha256").join(&d2[7..]), other).unwrap();
        },
        &[&d, "digest mismatch"],
    );
}

#[test]
fn diff_id_mismatch() {
    let l = vec![ok_layer()];
    refused(
        l,
        &[],
        |dir, img| {
            // Rewrite the config with a wrong diff_id, and re-point the manifest and index at it.
            let cfg_path = dir.join("blobs/sha256").join(&img.config_digest[7..]);
            let mut cfg: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
            cfg["rootfs"]["diff_ids"][0] =
                serde_json::Value::String(format!("sha256:{}", "0".repeat(64)));
            repoint(dir, img, Some(serde_json::to_vec(&cfg).unwrap()), None);
        },
        &["diff_id", "digest mismatch"],
    );
}

#[test]
fn malformed_manifest() {
    refused(
        vec![ok_layer()],
        &[],
        |dir, img| {
            repoint(
                dir,
                img,
                None,
                Some(b"{\"schemaVersion\": 2, \"layers\": 7}".to_vec()),
            )
        },
        &["manifest sha256:", "malformed"],
    );
}

#[test]
fn malformed_config() {
    refused(
        vec![ok_layer()],
        &[],
        |dir, img| {
            repoint(
                dir,
                img,
                Some(b"{\"architecture\":\"amd64\"}".to_vec()),
                None,
            )
        },
        &["config sha256:", "no rootfs.diff_ids"],
    );
}

#[test]
fn malformed_index() {
    refused(
        vec![ok_layer()],
        &[],
        |dir, _| std::fs::write(dir.join("index.json"), b"{not json").unwrap(),
        &["index.json", "malformed"],
    );
}

/// Replace the config and/or manifest blob and fix the references above them.
fn repoint(dir: &Path, img: &Image, config: Option<Vec<u8>>, manifest: Option<Vec<u8>>) {
    let blobs = dir.join("blobs/sha256");
    let manifest = manifest.unwrap_or_else(|| {
        let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
        if let Some(c) = &config {
            let d = digest(c);
            std::fs::write(blobs.join(&d[7..]), c).unwrap();
            m["config"]["digest"] = d.into();
            m["config"]["size"] = c.len().into();
        }
        serde_json::to_vec(&m).unwrap()
    });
    let d = digest(&manifest);
    std::fs::write(blobs.join(&d[7..]), &manifest).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}
    }]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}
