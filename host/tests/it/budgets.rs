//! Crafted images whose declared sizes would exhaust memory or time. Each
//! must end in exit 2 with a message naming the problem, and the real
//! `rootwasm` binary (`sbom` and `apply`) must stay under the documented
//! 256 MiB peak RSS (docs/security.md, "Limits") and finish in bounded time.

use crate::images::*;
use crate::support::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The documented bound on peak RSS for any crafted image.
const RSS_BOUND_KIB: i64 = 256 * 1024;
/// A run that takes longer than this is a hang.
const DEADLINE: Duration = Duration::from_secs(120);

// The peak RSS comes from GNU time (`%M`, the child's `ru_maxrss`), not
// from `wait4` here: Linux carries the parent's high-water mark into a
// child across fork/vfork + exec, so a child of this (large, multi-test)
// process would report the test harness's peak. `time` is small, so what
// it carries into rootwasm is a few MiB at most; /proc VmHWM polling
// would miss a peak just before exit.
unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

struct Measured {
    code: Option<i32>,
    stderr: String,
    maxrss_kib: i64,
}

fn run_measured(args: &[&str]) -> Measured {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let rss_file = tmp.path().join("rss");
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "these tests measure peak RSS with GNU time: install it (apt-get install time)"
    );
    let mut child = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_rootwasm"))
        .args(args)
        .env("ROOTWASM_CACHE_DIR", cache_dir())
        .env("ROOTWASM_KEY", cache_dir().join("test-signing-key.pem"))
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so a hang is killed with its child.
        .process_group(0)
        .spawn()
        .expect("running rootwasm under /usr/bin/time");
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let start = Instant::now();
    let mut killed = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if !killed && start.elapsed() > DEADLINE {
            unsafe { kill(-(child.id() as i32), 9) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap();
    assert!(!killed, "rootwasm {args:?} ran past {DEADLINE:?}: a hang");
    let report = std::fs::read_to_string(&rss_file).unwrap();
    let maxrss_kib: i64 = report
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from GNU time: {report:?}"));
    // A live measurement: the binary alone needs more than a few MiB.
    assert!(
        maxrss_kib > 4096,
        "peak RSS {maxrss_kib} KiB is not a real measurement"
    );
    Measured {
        code: status.code(),
        stderr,
        maxrss_kib,
    }
}

/// `sbom` and `apply` (with a trivial recipe) on `image` both exit 2 with
/// every `expect` in stderr, under the RSS bound.
fn refused_within_bounds(image: &str, expect: &[&str]) {
    within_bounds(image, 2, expect)
}

/// `sbom` and `apply` on `image` exit with `code`, every `expect` in
/// stderr, under the RSS bound.
fn within_bounds(image: &str, code: i32, expect: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let recipes = tmp.path().join("recipes");
    recipe_dir(
        &recipes,
        "trivial",
        guest("trivial"),
        "[capabilities]\nwrite = [\"/etc/rootwasm-trivial\"]",
    );
    let out = format!("oci:{}", tmp.path().join("out").display());
    let runs: [Vec<&str>; 2] = [
        vec!["sbom", image, "--format", "cyclonedx", "--no-layer-cache"],
        vec![
            "apply",
            image,
            "--recipes",
            recipes.to_str().unwrap(),
            "--output",
            &out,
            "--no-layer-cache",
        ],
    ];
    for args in runs {
        let m = run_measured(&args);
        assert_eq!(
            m.code,
            Some(code),
            "{args:?}: expected exit {code}\nstderr:\n{}",
            m.stderr
        );
        for e in expect {
            assert!(
                m.stderr.contains(e),
                "{args:?}: stderr lacks {e:?}:\n{}",
                m.stderr
            );
        }
        eprintln!("{} {image}: peak RSS {} KiB", args[0], m.maxrss_kib);
        assert!(
            m.maxrss_kib < RSS_BOUND_KIB,
            "{args:?}: peak RSS {} KiB is over the {RSS_BOUND_KIB} KiB bound",
            m.maxrss_kib
        );
        if code != 0 {
            assert!(!tmp.path().join("out").exists(), "an output was written");
        }
    }
}

// ---- hand-written tar ------------------------------------------------------

/// A GNU tar header; `size` is what it declares, whatever follows.
fn header(name: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_size(size);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name = [0; 100];
    gnu.name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    h
}

/// Append a header and its data padded to 512 bytes.
fn push(tar: &mut Vec<u8>, h: &tar::Header, data: &[u8]) {
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

fn finish_tar(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0; 1024]);
    tar
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A layout holding one image made of these uncompressed tars, gzipped.
fn layout_of(dir: &Path, tars: &[Vec<u8>]) -> (String, Image) {
    let blobs: Vec<(Vec<u8>, String)> = tars.iter().map(|t| (gzip(t), digest(t))).collect();
    let img = image_from_blobs(&blobs, "amd64");
    write_layout(dir, &[(&img, "amd64")], "v1");
    (format!("oci:{}:v1", dir.display()), img)
}

fn base_tar() -> Vec<u8> {
    let mut t = Vec::new();
    push(&mut t, &header(b"etc/", tar::EntryType::Directory, 0), b"");
    let os = b"ID=debian\nVERSION_ID=12\n";
    push(
        &mut t,
        &header(b"etc/os-release", tar::EntryType::Regular, os.len() as u64),
        os,
    );
    finish_tar(t)
}

/// A PAX extended header holding `rec`, for the entry after it.
fn pax(t: &mut Vec<u8>, rec: &[u8]) {
    push(
        t,
        &header(b"PaxHeader", tar::EntryType::XHeader, rec.len() as u64),
        rec,
    );
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "<len> <key>=<value>\n", where <len> counts itself.
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

// ---- the corpus ------------------------------------------------------------

#[test]
fn gnu_sparse_status_file_is_refused() {
    // Header size 0, expanded size 6 GiB: a 104-byte layer once took 10 GB of RSS.
    let tmp = tempfile::tempdir().unwrap();
    let mut h = header(b"var/lib/dpkg/status", tar::EntryType::GNUSparse, 0);
    {
        let gnu = h.as_gnu_mut().unwrap();
        let six = format!("{:011o}\0", 6u64 << 30);
        gnu.realsize.copy_from_slice(six.as_bytes());
        gnu.sparse[0].offset.copy_from_slice(six.as_bytes());
        gnu.sparse[0]
            .numbytes
            .copy_from_slice(format!("{:011o}\0", 0).as_bytes());
    }
    h.set_cksum();
    let mut t = Vec::new();
    push(&mut t, &h, b"");
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), finish_tar(t)]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "var/lib/dpkg/status",
            "GNU sparse file",
        ],
    );
}

#[test]
fn three_gib_gnu_long_name_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    // Declares 3 GiB, holds 64 KiB, then the tar just ends.
    t.extend_from_slice(header(b"././@LongLink", tar::EntryType::GNULongName, 3 << 30).as_bytes());
    t.extend_from_slice(&vec![b'a'; 64 << 10]);
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), t]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "a GNU long name",
            "declares 3221225472 bytes, more than 4097",
            "--max-path-bytes",
        ],
    );
}

#[test]
fn long_link_target_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    let target = vec![b'x'; 5000];
    push(
        &mut t,
        &header(b"././@LongLink", tar::EntryType::GNULongLink, 5001),
        &[target.as_slice(), b"\0"].concat(),
    );
    push(
        &mut t,
        &header(b"etc/link", tar::EntryType::Symlink, 0),
        b"",
    );
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), finish_tar(t)]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "a GNU long link target",
            "--max-path-bytes",
        ],
    );
}

#[test]
fn pax_paths_of_60_kib_are_refused() {
    // Each entry a PAX path one level deeper, 60 KiB long: memory once grew
    // with the square of the depth.
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    let mut path = String::new();
    for i in 0..20 {
        path.push_str(&format!("{}/", "d".repeat(3000 + i)));
        let rec = pax_record("path", path.as_bytes());
        pax(&mut t, &rec);
        push(
            &mut t,
            &header(b"placeholder", tar::EntryType::Directory, 0),
            b"",
        );
    }
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), finish_tar(t)]);
    // The first one is 3001 bytes, the second 6003: that one is refused.
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "entry name of 6003 bytes, more than 4096",
            "--max-path-bytes",
        ],
    );
}

#[test]
fn oversized_pax_header_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    t.extend_from_slice(header(b"PaxHeader", tar::EntryType::XHeader, 2 << 30).as_bytes());
    t.extend_from_slice(&[b'9'; 4096]);
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), t]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "a PAX extended header",
            "declares 2147483648 bytes",
            "--max-header-bytes",
        ],
    );
}

#[test]
fn deep_paths_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    let deep = "a/".repeat(300) + "f";
    let rec = pax_record("path", deep.as_bytes());
    pax(&mut t, &rec);
    push(
        &mut t,
        &header(b"placeholder", tar::EntryType::Regular, 0),
        b"",
    );
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), finish_tar(t)]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "301 directories deep",
            "--max-path-depth",
        ],
    );
}

#[test]
fn pax_size_that_disagrees_with_the_header_is_refused() {
    // Go honours the PAX size; parsing by the header's would see other entries.
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    let rec = pax_record("size", b"1024");
    pax(&mut t, &rec);
    push(
        &mut t,
        &header(b"etc/smuggler", tar::EntryType::Regular, 0),
        b"",
    );
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), finish_tar(t)]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "etc/smuggler",
            "PAX size 1024 differs",
        ],
    );
}

#[test]
fn a_captured_file_claiming_200_mib_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    t.extend_from_slice(
        header(b"var/lib/dpkg/status", tar::EntryType::Regular, 200 << 20).as_bytes(),
    );
    t.extend_from_slice(&[b'P'; 4096]);
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), t]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "var/lib/dpkg/status",
            "is 209715200 bytes",
            "--max-file-bytes",
        ],
    );
}

/// A tar of `files` captured files of `each` bytes under /var/lib/dpkg/status.d/.
fn captured_files(first: usize, files: usize, each: usize) -> Vec<u8> {
    let mut t = Vec::new();
    for i in first..first + files {
        // Distinct contents, so they are not stored once.
        let mut data = vec![0u8; each];
        data[0] = i as u8;
        push(
            &mut t,
            &header(
                format!("var/lib/dpkg/status.d/pkg{i}").as_bytes(),
                tar::EntryType::Regular,
                each as u64,
            ),
            &data,
        );
    }
    finish_tar(t)
}

#[test]
fn captured_bytes_are_bounded_per_layer_in_total() {
    // Three 20 MiB files: each under the per-file limit, together over the total.
    let tmp = tempfile::tempdir().unwrap();
    let (image, img) = layout_of(
        &tmp.path().join("in"),
        &[base_tar(), captured_files(0, 3, 20 << 20)],
    );
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "var/lib/dpkg/status.d/pkg2",
            "would hold more than 50331648 bytes of file contents",
            "--max-captured-bytes",
        ],
    );
}

#[test]
fn captured_bytes_are_bounded_per_image_across_layers() {
    // Each layer is under the budget; the image is not.
    let tmp = tempfile::tempdir().unwrap();
    let (image, img) = layout_of(
        &tmp.path().join("in"),
        &[
            base_tar(),
            captured_files(0, 1, 30 << 20),
            captured_files(1, 1, 30 << 20),
        ],
    );
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[2],
            "captured file contents, up to this layer, exceed 50331648 bytes",
            "--max-captured-bytes",
        ],
    );
}

#[test]
fn entry_metadata_is_bounded() {
    // 15,000 entries with 2,000-byte names: small compressed, large held.
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    push(&mut t, &header(b"d/", tar::EntryType::Directory, 0), b"");
    for i in 0..15_000 {
        let name = format!("d/{i:05}{}", "n".repeat(2000));
        push(
            &mut t,
            &header(
                b"././@LongLink",
                tar::EntryType::GNULongName,
                name.len() as u64 + 1,
            ),
            &[name.as_bytes(), b"\0"].concat(),
        );
        push(
            &mut t,
            &header(b"placeholder", tar::EntryType::Regular, 0),
            b"",
        );
    }
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), finish_tar(t)]);
    refused_within_bounds(&image, &[&img.layer_digests[1], "--max-index-bytes"]);
}

#[test]
fn a_layer_that_is_not_a_tar_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), junk]);
    refused_within_bounds(
        &image,
        &[&format!(
            "layer {}: not a tar archive (after decompression)",
            img.layer_digests[1]
        )],
    );
}

#[test]
fn overflowing_uid_is_named() {
    // GNU base-256 numbers can hold 64 bits; a uid must fit 32.
    let tmp = tempfile::tempdir().unwrap();
    let mut h = header(b"etc/owned", tar::EntryType::Regular, 0);
    h.as_gnu_mut().unwrap().uid = [0x80, 0, 0, 1, 0, 0, 0, 0];
    h.set_cksum();
    let mut t = Vec::new();
    push(&mut t, &h, b"");
    let (image, img) = layout_of(&tmp.path().join("in"), &[base_tar(), finish_tar(t)]);
    refused_within_bounds(
        &image,
        &[
            &img.layer_digests[1],
            "etc/owned",
            "uid 4294967296 overflows 32 bits",
        ],
    );
}

// ---- documents -------------------------------------------------------------

fn ok_layout(dir: &Path) -> (String, Image) {
    layout_of(dir, &[base_tar()])
}

#[test]
fn a_4_gib_sparse_index_json_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    let (image, _) = ok_layout(&dir);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("index.json"))
        .unwrap();
    f.set_len(4 << 30).unwrap();
    refused_within_bounds(
        &image,
        &["index.json", "larger than the 4194304-byte limit"],
    );
}

#[test]
fn a_huge_sparse_docker_archive_manifest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.tar");
    let mut t = Vec::new();
    // A 4 GiB manifest.json whose data is a hole: the header claims it, the file is sparse.
    t.extend_from_slice(header(b"manifest.json", tar::EntryType::Regular, 4 << 30).as_bytes());
    std::fs::write(&path, &t).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(512 + (4 << 30) + 1024).unwrap();
    refused_within_bounds(
        &format!("docker-archive:{}", path.display()),
        &["manifest.json", "too large for a JSON document"],
    );
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

#[test]
fn a_fifo_as_index_json_is_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    let (image, _) = ok_layout(&dir);
    std::fs::remove_file(dir.join("index.json")).unwrap();
    mkfifo(&dir.join("index.json"));
    refused_within_bounds(&image, &["index.json", "not a regular file"]);
}

#[test]
fn a_fifo_as_a_layer_blob_is_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    let (image, img) = ok_layout(&dir);
    let blob = dir.join("blobs/sha256").join(&img.layer_digests[0][7..]);
    std::fs::remove_file(&blob).unwrap();
    mkfifo(&blob);
    refused_within_bounds(&image, &[&img.layer_digests[0][7..], "not a regular file"]);
}

#[test]
fn a_fifo_as_a_docker_archive_is_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let path: PathBuf = tmp.path().join("image.tar");
    mkfifo(&path);
    refused_within_bounds(
        &format!("docker-archive:{}", path.display()),
        &["image.tar", "not a regular file"],
    );
}

/// Write `index` as a blob and return its descriptor.
fn index_blob(dir: &Path, manifests: Vec<serde_json::Value>) -> serde_json::Value {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let d = digest(&bytes);
    std::fs::write(dir.join("blobs/sha256").join(&d[7..]), &bytes).unwrap();
    serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": bytes.len()})
}

fn set_top(dir: &Path, mut top: serde_json::Value) {
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "v1"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn an_index_of_1000_platforms_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    let (image, img) = ok_layout(&dir);
    let manifests = (0..1000)
        .map(|i| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": img.manifest_digest, "size": img.manifest.len(),
                "platform": {"architecture": format!("arch{i}"), "os": "linux"}
            })
        })
        .collect();
    let top = index_blob(&dir, manifests);
    set_top(&dir, top);
    refused_within_bounds(&image, &["lists more than 64 manifests"]);
}

#[test]
fn deeply_nested_indexes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    let (image, img) = ok_layout(&dir);
    let mut desc = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": img.manifest_digest, "size": img.manifest.len(),
        "platform": {"architecture": "amd64", "os": "linux"}
    });
    for _ in 0..8 {
        desc = index_blob(&dir, vec![desc]);
    }
    set_top(&dir, desc);
    refused_within_bounds(&image, &["indexes nest more than 4 deep"]);
}

#[test]
fn recipe_limits_above_the_host_ceiling_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let dir = recipe_dir(
        &tmp.path().join("recipes"),
        "greedy",
        guest("trivial"),
        "[capabilities]\nwrite = [\"/etc/rootwasm-trivial\"]\n\n[limits]\nfuel = 10_000_000_000\nmemory-bytes = 17179869184\nwall-time-ms = 60000\nwritten-bytes = 1048576",
    );
    let o = rootwasm(&[
        "run",
        dir.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
        "--commit",
    ]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains("greedy")
            && stderr.contains("memory-bytes = 17179869184")
            && stderr.contains("host ceiling of 1073741824"),
        "{stderr}"
    );
    assert!(!root.join("etc/rootwasm-trivial").exists());
}

#[test]
fn a_guest_panic_message_is_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("data")).unwrap();
    let dir = recipe_dir(
        &tmp.path().join("recipes"),
        "panicky",
        guest("hostile"),
        "[capabilities]\nread = [\"/data/**\"]\nwrite = [\"/data/**\"]\n\n[params]\nmode = \"panic\"",
    );
    let o = rootwasm(&[
        "run",
        dir.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the recipe panicked at") && stderr.contains("hostile recipe panics"),
        "{stderr}"
    );
}

#[test]
fn a_docker_archive_with_a_3_gib_long_name_is_refused() {
    // The archive file is sparse: the long name costs no disk, only a read.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.tar");
    let h = header(b"././@LongLink", tar::EntryType::GNULongName, 3 << 30);
    std::fs::write(&path, h.as_bytes()).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(512 + (3 << 30) + 1024).unwrap();
    refused_within_bounds(
        &format!("docker-archive:{}", path.display()),
        &["a.tar", "declares 3221225472 bytes"],
    );
}

#[test]
fn an_image_just_under_every_budget_is_read_within_the_bound() {
    // Two layers: 40 MiB of captured files, and ~95k entries whose
    // metadata is just under the index budget. The worst the defaults
    // allow must still fit the documented bound, for sbom and a full apply.
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    push(&mut t, &header(b"d/", tar::EntryType::Directory, 0), b"");
    for i in 0..90_000 {
        let name = format!("d/{i:06}{}", "n".repeat(90));
        push(
            &mut t,
            &header(name.as_bytes(), tar::EntryType::Regular, 0),
            b"",
        );
    }
    let (image, _) = layout_of(
        &tmp.path().join("in"),
        &[base_tar(), captured_files(0, 2, 20 << 20), finish_tar(t)],
    );
    within_bounds(&image, 0, &[]);
}
