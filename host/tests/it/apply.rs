//! `rootwasm apply` on images built from real content, checked with skopeo,
//! umoci and the requests behaviour test.

use crate::images::*;
use crate::support::*;
use std::path::Path;
use std::process::Command;

/// The base layer: a Debian bookworm root unpacked from the vendored real
/// packages, with its dpkg database.
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

fn skopeo(args: &[&str]) -> (bool, String) {
    let o = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed by scripts/setup.sh");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

use crate::support::apply_cmd as apply;

/// The requests recipe's result on one platform of an `apply --json` report.
fn requests_result(report: &serde_json::Value, platform: usize) -> &serde_json::Value {
    report["platforms"][platform]["recipes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["recipe"] == "requests-cve-2023-32681")
        .expect("the requests recipe in the report")
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap()
}

fn top_manifest(layout: &Path) -> (String, serde_json::Value) {
    let idx = read_json(&layout.join("index.json"));
    let d = idx["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let m = serde_json::from_slice(&blob(layout, &d)).unwrap();
    (d, m)
}

#[test]
fn patches_an_oci_image_and_other_tools_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = [base_layer(tmp.path()), requests_layer()];
    let img = image(&layers, "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let input_hash = tree_hash(&input);
    let recipes = repo().join("recipes");

    let out = tmp.path().join("out");
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:patched", out.display()),
        &recipes,
        &["--json"],
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("layer 1/2 sha256:"),
        "progress goes to stderr: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let r = requests_result(&report, 0);
    assert_eq!(r["recipe"], "requests-cve-2023-32681");
    assert_eq!(r["result"], "applied");
    assert_eq!(r["version_before"], "2.30.0");
    assert_eq!(r["version_after"], "2.30.0");
    assert_eq!(tree_hash(&input), input_hash, "the input was modified");

    // Same layers plus one; same entrypoint, env, labels and healthcheck.
    let (mdigest, m) = top_manifest(&out);
    assert_eq!(report["digest"], mdigest);
    let layers_out: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(layers_out.len(), 3);
    assert_eq!(
        &layers_out[..2],
        &img.layer_digests
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()[..]
    );
    assert_eq!(
        m["annotations"]["org.opencontainers.image.base.digest"],
        img.manifest_digest
    );
    // The input's ref.name is a bare tag, not a name: no base name, and
    // never the local path it was read from.
    assert_eq!(
        m["annotations"]["org.opencontainers.image.base.name"],
        serde_json::Value::Null
    );
    assert_eq!(
        m["layers"][2]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let cfg: serde_json::Value =
        serde_json::from_slice(&blob(&out, m["config"]["digest"].as_str().unwrap())).unwrap();
    let cfg_in: serde_json::Value = serde_json::from_slice(
        &img.blobs
            .iter()
            .find(|(d, _)| *d == img.config_digest)
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(
        cfg["config"], cfg_in["config"],
        "entrypoint, env, labels, healthcheck must not change"
    );
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    let hist = cfg["history"].as_array().unwrap();
    assert!(
        hist.last().unwrap()["created_by"]
            .as_str()
            .unwrap()
            .contains("requests-cve-2023-32681")
    );
    assert_eq!(
        hist.last().unwrap()["created"],
        "2024-01-02T03:04:05Z",
        "SOURCE_DATE_EPOCH defaults to the input's created"
    );

    // The new layer: the patched file, the new RECORD, a whiteout for the stale bytecode.
    let layer = blob(&out, layers_out[2]);
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    let site = "usr/local/lib/python3.11/site-packages";
    for want in [
        format!("{site}/requests/sessions.py"),
        format!("{site}/requests-2.30.0.dist-info/RECORD"),
        format!("{site}/requests/__pycache__/.wh.sessions.cpython-311.pyc"),
    ] {
        assert!(
            names.contains(&want),
            "{want} not in the patch layer: {names:?}"
        );
    }
    // The libexpat1 distro upgrade (the base has 2.5.0-1+deb12u2) adds its
    // library files and its dpkg records; nothing else is in the layer.
    assert!(
        names.iter().all(|n| n.starts_with("usr/local/")
            || n.starts_with("lib/")
            || n.starts_with("usr/lib/x86_64-linux-gnu/")
            || n.starts_with("usr/share/doc/libexpat1/")
            || n.starts_with("var/lib/dpkg/")
            || [
                "usr/",
                "usr/lib/",
                "usr/share/",
                "usr/share/doc/",
                "var/",
                "var/lib/"
            ]
            .contains(&n.as_str())),
        "only the changed paths and their parents: {names:?}"
    );

    // skopeo opens it; umoci unpacks it and shows the patched contents.
    let (ok, out_text) = skopeo(&["inspect", &format!("oci:{}:patched", out.display())]);
    assert!(ok, "{out_text}");
    assert!(out_text.contains(&mdigest), "{out_text}");
    let bundle = tmp.path().join("bundle");
    let o = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:patched", out.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rootfs = bundle.join("rootfs");
    let sessions = std::fs::read_to_string(rootfs.join(site).join("requests/sessions.py")).unwrap();
    assert!(sessions.contains("if not scheme.startswith('https') and username and password:"));
    assert!(
        !rootfs
            .join(site)
            .join("requests/__pycache__/sessions.cpython-311.pyc")
            .exists()
    );
    assert!(
        rootfs
            .join(site)
            .join("requests/__pycache__/models.cpython-311.pyc")
            .exists()
    );
    assert!(
        std::fs::read_to_string(rootfs.join("usr/lib/os-release"))
            .unwrap()
            .contains("VERSION_CODENAME=bookworm")
    );
    // requests from the unpacked image no longer leaks the header.
    assert_eq!(
        crate::backport::python_leak(&rootfs.join(site))["leaked"],
        false
    );
    // dpkg itself finds every Debian package's files intact.
    let v = Command::new("dpkg")
        .arg("--root")
        .arg(&rootfs)
        .arg("--verify")
        .output()
        .unwrap();
    assert!(
        v.status.success() && v.stdout.is_empty(),
        "dpkg --verify: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let q = Command::new("dpkg-query")
        .arg("--admindir")
        .arg(rootfs.join("var/lib/dpkg"))
        .args(["-W", "libexpat1"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&q.stdout).trim(),
        "libexpat1:amd64\t2.5.0-1+deb12u5"
    );

    // Determinism: another output path, same digests.
    let out2 = tmp.path().join("elsewhere/deeper/out2");
    std::fs::create_dir_all(out2.parent().unwrap()).unwrap();
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:patched", out2.display()),
        &recipes,
        &[],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        top_manifest(&out2).0,
        mdigest,
        "two runs gave different manifests"
    );
}

#[test]
fn docker_archive_in_and_out_round_trips_through_skopeo() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = [base_layer(tmp.path()), requests_layer()];
    let img = image(&layers, "amd64");
    let input = tmp.path().join("in.tar");
    write_legacy_archive(&input, &img, &layers, "example/app:1.0");
    let before = std::fs::read(&input).unwrap();
    let out = tmp.path().join("out.tar");
    let o = apply(
        &format!("docker-archive:{}", input.display()),
        &format!("docker-archive:{}", out.display()),
        &repo().join("recipes"),
        &[],
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.lines().any(|l| l.contains("requests-cve-2023-32681")
            && l.contains(" 2.30.0 ")
            && l.ends_with("applied"))
            && stdout.contains("2.5.0-1+deb12u2 -> 2.5.0-1+deb12u5"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input archive was modified"
    );

    let (ok, out_text) = skopeo(&["inspect", &format!("docker-archive:{}", out.display())]);
    assert!(ok, "{out_text}");
    // docker-archive -> oci -> the layer digests survive skopeo's conversions.
    let oci = tmp.path().join("copied");
    let (ok, out_text) = skopeo(&[
        "copy",
        &format!("docker-archive:{}", out.display()),
        &format!("oci:{}:x", oci.display()),
    ]);
    assert!(ok, "{out_text}");
    let (ok, out_text) = skopeo(&["inspect", "--raw", &format!("oci:{}:x", oci.display())]);
    assert!(ok, "{out_text}");
    let m: serde_json::Value = serde_json::from_str(&out_text).unwrap();
    assert_eq!(m["layers"].as_array().unwrap().len(), 3);
    let (ok, cfg) = skopeo(&["inspect", "--config", &format!("oci:{}:x", oci.display())]);
    assert!(ok, "{cfg}");
    let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(
        cfg["rootfs"]["diff_ids"][0],
        layers[0].diff_id(),
        "diff_ids are preserved through skopeo"
    );
    assert_eq!(cfg["rootfs"]["diff_ids"][1], layers[1].diff_id());
    assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/local/bin/python3");

    // rootwasm reads its own Docker 25+ form archive back: nothing left to fix.
    let o = apply(
        &format!("docker-archive:{}", out.display()),
        &format!("oci:{}", tmp.path().join("own").display()),
        &repo().join("recipes"),
        &["--json"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("\"already-fixed\""), "{}", text(&o).0);

    // And rootwasm reads skopeo's docker-archive output back.
    let back = tmp.path().join("back.tar");
    let (ok, out_text) = skopeo(&[
        "copy",
        &format!("oci:{}:x", oci.display()),
        &format!("docker-archive:{}:example/app:patched", back.display()),
    ]);
    assert!(ok, "{out_text}");
    let o = apply(
        &format!("docker-archive:{}", back.display()),
        &format!("oci:{}", tmp.path().join("again").display()),
        &repo().join("recipes"),
        &["--json"],
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("\"already-fixed\""),
        "the patch is seen as present: {stdout}"
    );
}

#[test]
fn multi_platform_patches_only_where_recipes_apply() {
    // arm64 is patched on this x86 host by the same wasm, with no emulation;
    // s390x has no requests and must pass through untouched.
    let tmp = tempfile::tempdir().unwrap();
    let amd = image(&[base_layer(tmp.path()), requests_layer()], "amd64");
    let arm = image(&[base_layer(tmp.path()), requests_layer()], "arm64");
    let s390 = image(&[base_layer(tmp.path())], "s390x");
    let input = tmp.path().join("in");
    write_layout(
        &input,
        &[(&amd, "amd64"), (&arm, "arm64"), (&s390, "s390x")],
        "multi",
    );
    let out = tmp.path().join("out");
    let o = apply(
        &format!("oci:{}:multi", input.display()),
        &format!("oci:{}:multi", out.display()),
        &repo().join("recipes"),
        // The test images share an amd64 Debian base, so only requests tells the platforms apart.
        &["--json", "--recipe", "requests-cve-2023-32681"],
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("platform linux/arm64"), "{stderr}");
    let (_, index) = top_manifest(&out);
    let ms = index["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 3);
    for (i, (img, arch)) in [(&amd, "amd64"), (&arm, "arm64")].into_iter().enumerate() {
        assert_ne!(ms[i]["digest"], img.manifest_digest, "{arch} is patched");
        assert_eq!(ms[i]["platform"]["architecture"], arch);
        let m: serde_json::Value =
            serde_json::from_slice(&blob(&out, ms[i]["digest"].as_str().unwrap())).unwrap();
        assert_eq!(m["layers"].as_array().unwrap().len(), 3, "{arch}");
    }
    assert_eq!(
        ms[2]["digest"], s390.manifest_digest,
        "s390x has no requests and passes through untouched"
    );
    let (ok, out_text) = skopeo(&["inspect", "--raw", &format!("oci:{}:multi", out.display())]);
    assert!(ok, "{out_text}");
    let (ok, out_text) = skopeo(&[
        "inspect",
        "--override-arch",
        "arm64",
        &format!("oci:{}:multi", out.display()),
    ]);
    assert!(ok, "{out_text}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(requests_result(&report, 1)["result"], "applied");
    assert_eq!(requests_result(&report, 2)["result"], "not-applicable");
}

#[test]
fn repatching_replaces_the_patch_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = [base_layer(tmp.path()), requests_layer()];
    let img = image(&layers, "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let first = tmp.path().join("first");
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:p", first.display()),
        &repo().join("recipes"),
        &[],
    );
    assert!(o.status.success(), "{:?}", text(&o));

    // A second recipe on the patched image: still one patch layer, holding both fixes.
    let more = tmp.path().join("more");
    recipe_dir(
        &more,
        "trivial",
        guest("trivial"),
        "[capabilities]\nwrite = [\"/etc/rootwasm-trivial\"]",
    );
    copy_tree(
        &repo().join("recipes/requests-cve-2023-32681"),
        &more.join("requests"),
    );
    // Its component is the shared one in the sibling directory.
    copy_tree(
        &repo().join("recipes/lang-backport"),
        &more.join("lang-backport"),
    );
    let second = tmp.path().join("second");
    let o = apply(
        &format!("oci:{}:p", first.display()),
        &format!("oci:{}:p", second.display()),
        &more,
        &["--json"],
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("\"already-fixed\""), "{stdout}");
    let (_, m) = top_manifest(&second);
    let ls = m["layers"].as_array().unwrap();
    assert_eq!(ls.len(), 3, "the old patch layer is replaced, not stacked");
    // The old one was copied ahead with the other input layers, and is
    // gone from the new layout; so is the staging directory.
    let (_, old) = top_manifest(&first);
    let old_layer = old["layers"][2]["digest"].as_str().unwrap();
    let hex = old_layer.strip_prefix("sha256:").unwrap();
    assert!(!second.join("blobs/sha256").join(hex).exists());
    assert!((std::fs::read_dir(tmp.path()).unwrap()).all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".rootwasm-out-")
    }));
    assert_eq!(ls[0]["digest"], img.layer_digests[0]);
    assert_eq!(ls[1]["digest"], img.layer_digests[1]);
    assert_eq!(
        m["annotations"]["org.opencontainers.image.base.digest"], img.manifest_digest,
        "base stays the original image"
    );
    let layer = blob(&second, ls[2]["digest"].as_str().unwrap());
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"etc/rootwasm-trivial".to_owned()),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with("requests/sessions.py")),
        "the earlier fix is carried: {names:?}"
    );
    let cfg: serde_json::Value =
        serde_json::from_slice(&blob(&second, m["config"]["digest"].as_str().unwrap())).unwrap();
    let hist = cfg["history"].as_array().unwrap();
    assert_eq!(hist.len(), 3);
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
}

#[test]
fn output_equal_to_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(&[base_layer(tmp.path())], "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let before = tree_hash(&input);
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:v2", input.display()),
        &repo().join("recipes"),
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("rootwasm never writes into its input"),
        "{:?}",
        text(&o)
    );
    assert_eq!(tree_hash(&input), before);
}

#[test]
fn the_patch_layer_keeps_the_input_compression() {
    for (packing, media, magic) in [
        (
            Packing::Zstd,
            "application/vnd.oci.image.layer.v1.tar+zstd",
            &[0x28u8, 0xb5, 0x2f, 0xfd][..],
        ),
        (
            Packing::Plain,
            "application/vnd.oci.image.layer.v1.tar",
            &b"usr/"[..],
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let img = image_with(&[requests_layer()], "amd64", packing);
        let input = tmp.path().join("in");
        write_layout(&input, &[(&img, "amd64")], "v1");
        let out = tmp.path().join("out");
        let o = apply(
            &format!("oci:{}:v1", input.display()),
            &format!("oci:{}", out.display()),
            &repo().join("recipes"),
            &[],
        );
        assert!(o.status.success(), "{packing:?}: {:?}", text(&o));
        let (_, m) = top_manifest(&out);
        assert_eq!(m["layers"][1]["mediaType"], media);
        let layer = blob(&out, m["layers"][1]["digest"].as_str().unwrap());
        assert!(
            layer.starts_with(magic),
            "{packing:?}: layer starts {:?}",
            &layer[..8]
        );
        let (ok, t) = skopeo(&["inspect", &format!("oci:{}", out.display())]);
        assert!(ok, "{t}");
    }
}

#[test]
fn a_failing_recipe_is_reported_and_the_others_still_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(&[requests_layer()], "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let recipes = tmp.path().join("recipes");
    // "a-" sorts first: it fails before the real recipe runs.
    recipe_dir(
        &recipes,
        "a-broken",
        guest("hostile"),
        "[capabilities]\nread = [\"/data/**\"]\nwrite = [\"/data/**\"]\n[params]\nmode = \"fail\"",
    );
    copy_tree(
        &repo().join("recipes/requests-cve-2023-32681"),
        &recipes.join("requests"),
    );
    // Its component is the shared one in the sibling directory.
    copy_tree(
        &repo().join("recipes/lang-backport"),
        &recipes.join("lang-backport"),
    );

    let out = tmp.path().join("out");
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", out.display()),
        &recipes,
        &[],
    );
    let (stdout, stderr) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed recipe makes the exit code 1\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("a-broken") && stdout.contains("failed: apply returned an error"),
        "{stdout}"
    );
    assert!(
        stdout.contains("requests-cve-2023-32681") && stdout.contains("applied"),
        "{stdout}"
    );
    let (_, m) = top_manifest(&out);
    let layer = blob(&out, m["layers"][1]["digest"].as_str().unwrap());
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("staged-before-misbehaving")),
        "the failed recipe's changes leaked: {names:?}"
    );

    // --fail-fast: stop at the failure and write nothing.
    let out2 = tmp.path().join("out2");
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", out2.display()),
        &recipes,
        &["--fail-fast"],
    );
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("a-broken") && stderr.contains("no image was written"),
        "{stderr}"
    );
    assert!(!out2.exists());
    // Nor the staging directory the input's layers were being copied into.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".rootwasm-out-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_warm_layer_cache_skips_reading_and_still_catches_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layers = [requests_layer()];
    let img = image(&layers, "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let run = |out: &str| {
        rootwasm(&[
            "apply",
            &format!("oci:{}:v1", input.display()),
            "--recipes",
            repo().join("recipes").to_str().unwrap(),
            "--output",
            &format!("oci:{}", tmp.path().join(out).display()),
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
    };
    let cold = run("cold");
    assert!(cold.status.success(), "{:?}", text(&cold));
    assert!(text(&cold).1.contains("reading layer 1/1"));
    let warm = run("warm");
    assert!(warm.status.success(), "{:?}", text(&warm));
    assert!(
        text(&warm).1.contains("(cached index)"),
        "{}",
        text(&warm).1
    );
    assert_eq!(
        top_manifest(&tmp.path().join("cold")).0,
        top_manifest(&tmp.path().join("warm")).0
    );

    // Tamper with the layer blob: the cached index is not enough to write it out.
    let p = input.join("blobs/sha256").join(&img.layer_digests[0][7..]);
    let mut b = std::fs::read(&p).unwrap();
    let n = b.len();
    b[n - 10] ^= 0xff;
    std::fs::write(&p, b).unwrap();
    let bad = run("bad");
    assert_eq!(bad.status.code(), Some(2), "{:?}", text(&bad));
    assert!(text(&bad).1.contains("digest mismatch"), "{}", text(&bad).1);
    assert!(!tmp.path().join("bad").exists());
}

#[test]
fn skopeo_round_trips_the_output_oci_to_docker_archive_to_oci() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(&[base_layer(tmp.path()), requests_layer()], "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = tmp.path().join("out");
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}:p", out.display()),
        &repo().join("recipes"),
        &[],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let (_, m) = top_manifest(&out);
    let cfg_digest = m["config"]["digest"].as_str().unwrap().to_owned();
    let ours: serde_json::Value = serde_json::from_slice(&blob(&out, &cfg_digest)).unwrap();

    let archive = tmp.path().join("a.tar");
    let back = tmp.path().join("back");
    let (ok, t) = skopeo(&[
        "copy",
        &format!("oci:{}:p", out.display()),
        &format!("docker-archive:{}:x/y:p", archive.display()),
    ]);
    assert!(ok, "{t}");
    let (ok, t) = skopeo(&[
        "copy",
        &format!("docker-archive:{}", archive.display()),
        &format!("oci:{}:p", back.display()),
    ]);
    assert!(ok, "{t}");
    let (ok, cfg) = skopeo(&["inspect", "--config", &format!("oci:{}:p", back.display())]);
    assert!(ok, "{cfg}");
    let theirs: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    // Layer contents (diff_ids), history and runtime config survive the trip.
    assert_eq!(theirs["rootfs"]["diff_ids"], ours["rootfs"]["diff_ids"]);
    assert_eq!(theirs["history"], ours["history"]);
    // (skopeo's OCI -> Docker conversion drops Docker-only fields such as
    // Healthcheck; that loss is skopeo's, so compare what it keeps.)
    for k in ["Entrypoint", "Env", "Labels", "WorkingDir"] {
        assert_eq!(theirs["config"][k], ours["config"][k], "{k}");
    }
    // And rootwasm reads the result and finds the fix present.
    let o = apply(
        &format!("oci:{}:p", back.display()),
        &format!("oci:{}", tmp.path().join("again").display()),
        &repo().join("recipes"),
        &["--json"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("\"already-fixed\""), "{}", text(&o).0);
}

#[test]
fn recipes_run_only_where_the_installed_version_matches() {
    let tmp = tempfile::tempdir().unwrap();
    // requests installed, but as 2.27.1: outside the recipe's >=2.28.0, <=2.30.0.
    let root = tmp.path().join("old");
    copy_tree(&repo().join("tests/fixtures/requests-2.30.0/rootfs"), &root);
    let meta =
        root.join("usr/local/lib/python3.11/site-packages/requests-2.30.0.dist-info/METADATA");
    let meta_text = std::fs::read_to_string(&meta)
        .unwrap()
        .replace("\nVersion: 2.30.0\n", "\nVersion: 2.27.1\n");
    std::fs::write(&meta, meta_text).unwrap();
    let old = image(&[Layer::from_dir(&root)], "amd64");
    let bare = image(&[base_layer(tmp.path())], "arm64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&old, "amd64"), (&bare, "arm64")], "v1");
    let o = apply(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", tmp.path().join("out").display()),
        &repo().join("recipes"),
        &["--json"],
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(requests_result(&report, 0)["result"], "not-affected");
    assert_eq!(requests_result(&report, 0)["version_before"], "2.27.1");
    assert_eq!(requests_result(&report, 1)["result"], "not-applicable");
    assert!(
        !stderr.contains("running requests-cve-2023-32681"),
        "the recipe must not even run: {stderr}"
    );
}

/// `ROOTWASM_PERFMAP=1` (docs/benchmarks.md) writes perf's map of the
/// guest's compiled functions, so `perf report` names recipe code.
#[test]
fn perfmap_names_guest_code_for_perf() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = [base_layer(tmp.path()), requests_layer()];
    let img = image(&layers, "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = tmp.path().join("out");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rootwasm"))
        .args(["apply", &format!("oci:{}:v1", input.display())])
        .arg("--recipes")
        .arg(repo().join("recipes"))
        .args(["--no-evidence", "--output"])
        .arg(format!("oci:{}:patched", out.display()))
        .env("ROOTWASM_CACHE_DIR", cache_dir())
        .env("ROOTWASM_PERFMAP", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&map).unwrap_or_default();
    let _ = std::fs::remove_file(&map);
    assert!(
        text.lines().any(|l| l.contains("wasm")),
        "{map:?}: {text:.300}"
    );
}
