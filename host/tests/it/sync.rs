//! `rootwasm recipe sync` against a real Debian repository: the newest debs
//! of the realistic bookworm image (scripts/bookworm-image.sh), indexed by
//! Debian's own `apt-ftparchive` and signed by `gpg` with a test key, read
//! from a directory and over HTTP on 127.0.0.1. Also: exact CVE claims on
//! the real changelogs, and `scan` statuses below a recipe's range.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The realistic image, built (as root, from Debian's archive) and cached.
fn bookworm() -> PathBuf {
    let out = repo().join("target/bookworm");
    let st = Command::new("bash")
        .arg(repo().join("scripts/bookworm-image.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "scripts/bookworm-image.sh failed");
    out
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A test key in `home`, and its public keyring file.
fn test_key(home: &Path) -> PathBuf {
    std::fs::create_dir_all(home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).unwrap();
    run(Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--passphrase", "", "--quick-gen-key"])
        .args([
            "rootwasm test <test@rootwasm.invalid>",
            "ed25519",
            "sign",
            "never",
        ]));
    let ring = home.join("keyring.gpg");
    run(Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--output"])
        .arg(&ring)
        .arg("--export"));
    ring
}

/// A signed repository of `debs` for suite `bookworm`, as Debian lays one out.
fn signed_repo(dir: &Path, home: &Path, debs: &[PathBuf]) {
    let pool = dir.join("pool/main");
    std::fs::create_dir_all(&pool).unwrap();
    for d in debs {
        std::fs::copy(d, pool.join(d.file_name().unwrap())).unwrap();
    }
    let bin = dir.join("dists/bookworm/main/binary-amd64");
    std::fs::create_dir_all(&bin).unwrap();
    let o = Command::new("apt-ftparchive")
        .current_dir(dir)
        .args(["packages", "pool"])
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(bin.join("Packages"), &o.stdout).unwrap();
    run(Command::new("xz")
        .args(["-k", "-f"])
        .arg(bin.join("Packages")));
    let o = Command::new("apt-ftparchive")
        .current_dir(dir)
        .args([
            "-o",
            "APT::FTPArchive::Release::Codename=bookworm",
            "-o",
            "APT::FTPArchive::Release::Suite=stable",
            "-o",
            "APT::FTPArchive::Release::Architectures=amd64",
            "-o",
            "APT::FTPArchive::Release::Components=main",
            "release",
            "dists/bookworm",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let rel = dir.join("dists/bookworm/Release");
    std::fs::write(&rel, &o.stdout).unwrap();
    sign(&rel, home);
}

/// InRelease and Release.gpg for `rel`.
fn sign(rel: &Path, home: &Path) {
    let d = rel.parent().unwrap();
    for (flag, name) in [
        ("--clearsign", "InRelease"),
        ("--detach-sign", "Release.gpg"),
    ] {
        run(Command::new("gpg")
            .env("GNUPGHOME", home)
            .args(["--batch", "--yes", "--armor", flag, "--output"])
            .arg(d.join(name))
            .arg(rel));
    }
}

fn sync(
    image: &str,
    repo_arg: &str,
    out: &Path,
    ring: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "recipe",
        "sync",
        image,
        "--repo",
        repo_arg,
        "--dist",
        "bookworm",
        "--out",
        out.to_str().unwrap(),
        "--keyring",
        ring.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    rootwasm(&args)
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{:?}", text(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn fixes_of(report: &serde_json::Value, pkg: &str) -> Vec<String> {
    let p = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == pkg)
        .unwrap_or_else(|| panic!("{pkg} not in {report:#}"));
    p["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// A static file server on 127.0.0.1 (Python's), killed on drop.
struct Server(Child, u16);

impl Server {
    fn start(dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Server(child, port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ids_in(toml: &str) -> Vec<String> {
    let t: toml::Value = toml::from_str(toml).unwrap();
    t["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn sync_writes_every_recipe_once_with_exact_claims() {
    let bw = bookworm();
    let image = format!("oci:{}:bookworm-outdated", bw.join("oci").display());
    let tmp = tempfile::tempdir().unwrap();
    let ring = test_key(&tmp.path().join("gnupg"));
    let debs: Vec<PathBuf> = std::fs::read_dir(bw.join("debs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let outdated = std::fs::read_to_string(bw.join("outdated.tsv")).unwrap();
    assert!(outdated.lines().count() >= 20);
    let dir = tmp.path().join("repo");
    signed_repo(&dir, &tmp.path().join("gnupg"), &debs);

    // From an empty directory: the shared component is written too.
    let out = tmp.path().join("recipes");
    let first = json(&sync(
        &image,
        dir.to_str().unwrap(),
        &out,
        &ring,
        &["--json"],
    ));
    let pkgs = first["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), outdated.lines().count(), "{first:#}");
    let new = pkgs.iter().filter(|p| p["status"] == "new").count();
    let refused: Vec<String> = pkgs
        .iter()
        .filter(|p| p["status"] == "refused")
        .map(|p| format!("{} {}", p["package"], p["reason"]))
        .collect();
    eprintln!("{new} new; refused: {refused:#?}");
    std::fs::write(
        std::env::temp_dir().join("rootwasm-sync-refused.txt"),
        refused.join("\n"),
    )
    .ok();
    assert!(new >= 20, "{first:#}");
    assert!(out.join("dpkg-upgrade/component.wasm").is_file());
    // Every written recipe loads (hashes, scopes) as apply would load it.
    for p in pkgs.iter().filter(|p| p["status"] == "new") {
        let id = p["recipe"].as_str().unwrap();
        let toml = std::fs::read_to_string(out.join(id).join("recipe.toml")).unwrap();
        assert!(toml.contains("type = \"distro-upgrade\""), "{toml}");
        assert!(
            toml.contains(&format!(
                "origin = \"Debian source package {}\"",
                p["source"].as_str().unwrap()
            )),
            "{toml}"
        );
    }

    // One recipe per source version: its binaries travel together, each
    // with its own range (util-linux's bsdutils carries an epoch).
    let recipe_of = |pkg: &str| -> String {
        let p = pkgs.iter().find(|p| p["package"] == pkg).unwrap();
        p["recipe"]
            .as_str()
            .unwrap_or_else(|| panic!("{p:#}"))
            .to_owned()
    };
    assert_eq!(recipe_of("libssl3"), recipe_of("openssl"));
    assert_eq!(recipe_of("libc6"), recipe_of("libc-bin"));
    assert_eq!(recipe_of("libpam0g"), recipe_of("libpam-runtime"));
    assert_eq!(
        recipe_of("libexpat1"),
        "debian-libexpat1-2.5.0-1-deb12u5-amd64"
    );
    let ul = recipe_of("bsdutils");
    assert_eq!(ul, "debian-source-util-linux-2.38.1-5-deb12u3-amd64");
    let toml = std::fs::read_to_string(out.join(&ul).join("recipe.toml")).unwrap();
    for want in [
        "package = \"bsdutils\"\naffected = \"<< 1:2.38.1-5+deb12u3\"",
        "[[target.siblings]]\npackage = \"libblkid1\"\naffected = \"<< 2.38.1-5+deb12u3\"",
    ] {
        assert!(toml.contains(want), "{want:?} not in {toml}");
    }
    let pam = std::fs::read_to_string(out.join(recipe_of("libpam0g")).join("recipe.toml")).unwrap();
    assert!(pam.contains("architecture = \"amd64\""), "{pam}");
    assert!(pam.contains("package = \"libpam-runtime\""), "{pam}");

    // `scan` finds each package of a group under the group's recipe.
    let group = recipe_of("libssl3");
    let o = rootwasm(&[
        "scan",
        &image,
        "--recipes",
        out.to_str().unwrap(),
        "--json",
        "--max-captured-bytes",
        "1073741824",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let findings = json(&o)["platforms"][0]["findings"].clone();
    for pkg in ["libssl3", "openssl"] {
        let f: Vec<_> = (findings.as_array().unwrap().iter())
            .filter(|f| f["recipe"] == group.as_str() && f["package"] == pkg)
            .collect();
        assert!(!f.is_empty(), "no finding for {pkg} under {group}");
        assert!(f.iter().all(|f| f["status"] == "fixable"), "{f:#?}");
    }

    // libxml2 ~deb12u4 -> ~deb12u6: not the unstable upload's CVE-2022-2309,
    // nor "Fix unit tests for CVE-2025-49794", nor "Amend d/p/CVE-2025-7425.patch".
    let xml = fixes_of(&first, "libxml2");
    for cve in ["CVE-2022-2309", "CVE-2025-49794", "CVE-2025-7425"] {
        assert!(!xml.contains(&cve.to_owned()), "{cve} claimed: {xml:?}");
    }
    assert!(xml.contains(&"CVE-2025-9714".to_owned()), "{xml:?}");
    // libc6 u7 -> u14: u8 only says the CVE-2024-2961 patch was "upstreamed".
    let libc = fixes_of(&first, "libc6");
    for cve in ["CVE-2024-2961", "CVE-2024-33599", "CVE-2024-33601"] {
        assert!(!libc.contains(&cve.to_owned()), "{cve} claimed: {libc:?}");
    }
    assert!(libc.contains(&"CVE-2025-4802".to_owned()), "{libc:?}");
    // libexpat1: exactly the committed recipe's 27, in its order.
    let committed = std::fs::read_to_string(
        repo().join("recipes/debian-libexpat1-2.5.0-1-deb12u5-amd64/recipe.toml"),
    )
    .unwrap();
    assert_eq!(fixes_of(&first, "libexpat1"), ids_in(&committed));
    assert_eq!(ids_in(&committed).len(), 27);
    // libpython3.11-stdlib ships no changelog: its sibling's is read.
    let stdlib = fixes_of(&first, "libpython3.11-stdlib");
    assert!(!stdlib.is_empty());
    assert_eq!(stdlib, fixes_of(&first, "libpython3.11-minimal"));

    // A second run changes nothing, not even a file's time.
    let before = tree_hash(&out);
    let expat = out.join("debian-libexpat1-2.5.0-1-deb12u5-amd64/recipe.toml");
    let mtime = std::fs::metadata(&expat).unwrap().modified().unwrap();
    let second = json(&sync(
        &image,
        dir.to_str().unwrap(),
        &out,
        &ring,
        &["--json"],
    ));
    assert!(
        second["packages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "unchanged" || p["status"] == "refused"),
        "{second:#}"
    );
    assert_eq!(tree_hash(&out), before);
    assert_eq!(
        std::fs::metadata(&expat).unwrap().modified().unwrap(),
        mtime
    );

    // With an advisory report, the fixes it names take its rating and
    // NVD's publication date; nothing else changes.
    let rated = tmp.path().join("recipes-rated");
    let report = repo().join("tests/fixtures/advisories/trivy-expat.json");
    let o = sync(
        &image,
        dir.to_str().unwrap(),
        &rated,
        &ring,
        &["--advisories", report.to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let toml =
        std::fs::read_to_string(rated.join("debian-libexpat1-2.5.0-1-deb12u5-amd64/recipe.toml"))
            .unwrap();
    assert!(
        toml.contains("id = \"CVE-2024-28757\"\nseverity = \"high\"\npublished = \"2024-03-10\"\n"),
        "{toml}"
    );
    assert_eq!(ids_in(&toml), ids_in(&committed));

    // Over HTTP, the same recipes byte for byte; the text report names them.
    let server = Server::start(&dir);
    let http_out = tmp.path().join("recipes-http");
    let url = format!("http://127.0.0.1:{}", server.1);
    let o = sync(&image, &url, &http_out, &ring, &[]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (stdout, _) = text(&o);
    assert!(
        stdout.contains("new       debian-libexpat1-2.5.0-1-deb12u5-amd64"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{new} new, 0 unchanged")),
        "{stdout}"
    );
    assert_eq!(tree_hash(&http_out), before);

    // Upgrades whose changelog names no vulnerability (tzdata) are refused
    // by default, naming --all-updates; with it they are written too, as
    // plain updates claiming no fix, and the other recipes stay unchanged.
    let plain: Vec<String> = pkgs
        .iter()
        .filter(|p| p["status"] == "refused")
        .filter(|p| p["reason"].as_str().unwrap().contains("--all-updates"))
        .map(|p| p["package"].as_str().unwrap().to_owned())
        .collect();
    assert!(plain.contains(&"tzdata".to_owned()), "{first:#}");
    let all = json(&sync(
        &image,
        dir.to_str().unwrap(),
        &out,
        &ring,
        &["--json", "--all-updates"],
    ));
    for p in all["packages"].as_array().unwrap() {
        let pkg = p["package"].as_str().unwrap().to_owned();
        if plain.contains(&pkg) {
            assert_eq!(p["status"], "new", "{p:#}");
            assert_eq!(p["fixes"], serde_json::json!([]), "{p:#}");
        } else {
            assert_eq!(p["status"], "unchanged", "{p:#}");
        }
    }
    let new = new + plain.len();

    // Image in, recipes synced, image patched, evidence checked: every
    // synced recipe applies, and verify passes on the signed result.
    let key = tmp.path().join("signing.pem");
    let o = rootwasm(&["key", "generate", key.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    let patched = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply_cmd(
        &image,
        &patched,
        &out,
        // 40 upgrades read more than the default 48 MiB of the image's
        // files (docs/security.md): a legitimate image, so the limit is raised.
        &[
            "--json",
            "--key",
            key.to_str().unwrap(),
            "--max-captured-bytes",
            "1073741824",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report = json(&o);
    let results = report["platforms"][0]["recipes"].as_array().unwrap();
    let applied = results.iter().filter(|r| r["result"] == "applied").count();
    let written: std::collections::BTreeSet<&str> = (all["packages"].as_array().unwrap().iter())
        .filter_map(|p| p["recipe"].as_str())
        .collect();
    assert_eq!(applied, written.len(), "{report:#}");
    assert!(
        written.len() < new,
        "{new} packages in {} recipes",
        written.len()
    );
    // The same tree as one recipe per package (which the bookworm tests
    // hold against `dpkg -i`).
    let rootfs = crate::bookworm::unpack_as_root(&patched, &tmp.path().join("bundle")).unwrap();
    let per_package = crate::bookworm::full();
    assert_eq!(
        crate::bookworm::results(&per_package.json)
            .values()
            .filter(|r| r.0 == "applied")
            .count(),
        new,
        "the per-package run applied every package too"
    );
    // apt, run in that tree by bookworm::bookworm_upgrades_leave_a_whole_database_like_dpkg
    // when it ran first, leaves its lists and caches there.
    let diff: Vec<String> = crate::dpkg::tree_diff(&rootfs, &per_package.rootfs)
        .into_iter()
        .filter(|l| !l.starts_with("var/lib/apt/") && !l.starts_with("var/cache/apt/"))
        .collect();
    assert!(diff.is_empty(), "grouped against per package: {diff:#?}");
    // The VEX says each package of a group is fixed, not only its target.
    let o = rootwasm(&["attestation", &patched, "vex"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let vex: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let claimed = fixes_of(&first, "libssl3");
    let s = (vex["statements"].as_array().unwrap().iter())
        .find(|s| s["vulnerability"]["name"] == claimed[0].as_str())
        .unwrap_or_else(|| panic!("{} in the VEX", claimed[0]));
    assert_eq!(s["status"], "fixed");
    for purl in ["pkg:deb/debian/libssl3@", "pkg:deb/debian/openssl@"] {
        assert!(s.to_string().contains(purl), "{purl} in {s}");
    }
    // So does the SBOM: each package of the group is at its new version,
    // with its old one as ancestor and the group's recipe in the notes.
    let o = rootwasm(&["sbom", &patched, "--format", "cyclonedx"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let sbom: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let group = recipe_of("libssl3");
    for name in ["libssl3", "openssl"] {
        let c = (sbom["components"].as_array().unwrap().iter())
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in the SBOM"));
        let p = &c["pedigree"];
        assert!(
            p["notes"].as_str().is_some_and(|n| n.contains(&group)),
            "{name}: {c}"
        );
        assert_ne!(p["ancestors"][0]["version"], c["version"], "{name}: {c}");
    }
    let public = tmp.path().join("signing.pem.pub.pem");
    let o = rootwasm(&[
        "verify",
        &patched,
        "--key",
        public.to_str().unwrap(),
        "--max-captured-bytes",
        "1073741824",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn sync_refuses_bad_signatures_and_hashes_and_writes_nothing() {
    let bw = bookworm();
    let image = format!("oci:{}:bookworm-outdated", bw.join("oci").display());
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("gnupg");
    let ring = test_key(&home);
    let other = test_key(&tmp.path().join("other"));
    let deb = bw.join("debs/libexpat1_2.5.0-1+deb12u5_amd64.deb");
    let dir = tmp.path().join("repo");
    signed_repo(&dir, &home, &[deb]);
    let out = tmp.path().join("recipes");
    let refused = |ring: &Path, want: &str| {
        let o = sync(&image, dir.to_str().unwrap(), &out, ring, &[]);
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
        assert!(stderr.contains(want), "expected {want:?} in {stderr}");
        assert!(!out.exists(), "something was written");
    };
    // Signed by a key the keyring does not hold.
    refused(&other, "InRelease: signature refused");
    // The signed text changed after signing.
    let inrel = dir.join("dists/bookworm/InRelease");
    let good = std::fs::read_to_string(&inrel).unwrap();
    std::fs::write(&inrel, good.replace("Suite: stable", "Suite: stablE")).unwrap();
    refused(&ring, "signature refused");
    // Release and Release.gpg only: checked the same way.
    std::fs::remove_file(&inrel).unwrap();
    refused(&other, "Release.gpg: signature refused");
    std::fs::write(&inrel, &good).unwrap();
    // An index that is not the one the signed Release names.
    let packages = dir.join("dists/bookworm/main/binary-amd64/Packages.xz");
    let idx = std::fs::read(&packages).unwrap();
    let mut bad = idx.clone();
    bad.push(0);
    std::fs::write(&packages, &bad).unwrap();
    refused(&ring, "Packages.xz: hash mismatch");
    std::fs::write(&packages, &idx).unwrap();
    // A .deb that is not the one the index names.
    let pool = dir.join("pool/main/libexpat1_2.5.0-1+deb12u5_amd64.deb");
    let mut bytes = std::fs::read(&pool).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&pool, &bytes).unwrap();
    refused(&ring, "libexpat1_2.5.0-1+deb12u5_amd64.deb: hash mismatch");
}

#[test]
fn scan_below_a_range_never_says_not_affected() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("debian");
    rootwasm_testimage::debian::vendored_root(&repo(), &root);
    // libexpat1 2.5.0-1+deb12u1, older than the deb12u2 the recipe's fixes were read against.
    let status = root.join("var/lib/dpkg/status");
    let s = std::fs::read_to_string(&status).unwrap();
    let (head, rest) = s.split_once("Package: libexpat1\n").unwrap();
    let rest = rest.replacen("Version: 2.5.0-1+deb12u2", "Version: 2.5.0-1+deb12u1", 1);
    std::fs::write(&status, format!("{head}Package: libexpat1\n{rest}")).unwrap();
    use crate::images::*;
    let img = image(&[Layer::from_dir(&root)], "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let image = format!("oci:{}:v1", input.display());

    // The committed recipe (`<< 2.5.0-1+deb12u5`), and one made the old way
    // (`>= 2.5.0-1+deb12u2, << 2.5.0-1+deb12u5`): both fixable, and applied.
    let recipes = tmp.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    copy_tree(
        &repo().join("recipes/dpkg-upgrade"),
        &recipes.join("dpkg-upgrade"),
    );
    let id = "debian-libexpat1-2.5.0-1-deb12u5-amd64";
    copy_tree(&repo().join("recipes").join(id), &recipes.join(id));
    let scan = |recipes: &Path| {
        let o = rootwasm(&[
            "scan",
            &image,
            "--recipes",
            recipes.to_str().unwrap(),
            "--json",
        ]);
        let v = json(&o);
        v["platforms"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["status"].as_str().unwrap().to_owned(),
                    f["detail"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let f = scan(&recipes);
    assert_eq!(f.len(), 27);
    assert!(f.iter().all(|(s, _)| s == "fixable"), "{f:?}");
    let toml = recipes.join(id).join("recipe.toml");
    let t = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        t.replace(
            "\"<< 2.5.0-1+deb12u5\"",
            "\">= 2.5.0-1+deb12u2, << 2.5.0-1+deb12u5\"",
        ),
    )
    .unwrap();
    let f = scan(&recipes);
    assert!(f.iter().all(|(s, _)| s == "fixable"), "{f:?}");
    let out = tmp.path().join("out");
    let o = apply_cmd(&image, &format!("oci:{}:p", out.display()), &recipes, &[]);
    assert!(o.status.success(), "{:?}", text(&o));
    // A backport's range says nothing below it: unknown, with the reason.
    std::fs::write(
        &toml,
        t.replace("type = \"distro-upgrade\"", "type = \"backport\"")
            .replace(
                "\"<< 2.5.0-1+deb12u5\"",
                "\">= 2.5.0-1+deb12u2, << 2.5.0-1+deb12u5\"",
            ),
    )
    .unwrap();
    let f = scan(&recipes);
    assert!(
        f.iter()
            .all(|(s, d)| s == "unknown" && d.contains("is below")),
        "{f:?}"
    );
}

#[test]
fn debians_own_inrelease_verifies_against_its_archive_keyring() {
    use rootwasm::sync::{fetch::Repo, packages, release};
    let lists = bookworm().join("lists");
    let tmp = tempfile::tempdir().unwrap();
    let suite = tmp.path().join("dists/bookworm");
    std::fs::create_dir_all(suite.join("main/binary-amd64")).unwrap();
    std::fs::copy(
        lists.join("deb.debian.org_debian_dists_bookworm_InRelease"),
        suite.join("InRelease"),
    )
    .unwrap();
    // apt keeps the index unpacked; the signed Release lists that hash too.
    std::fs::copy(
        lists.join("deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
        suite.join("main/binary-amd64/Packages"),
    )
    .unwrap();
    let keys =
        release::keyring(Path::new("/usr/share/keyrings/debian-archive-keyring.gpg")).unwrap();
    let repo = Repo::Dir(tmp.path().to_owned());
    let mut rel = release::fetch(&repo, "bookworm", &keys).unwrap().unwrap();
    assert_eq!(rel.codename, "bookworm");
    assert!(rel.components.contains(&"main".to_owned()));
    // apt's lists hold main only (a component missing on a mirror is an error).
    rel.components = vec!["main".into()];
    let offers = packages::offers(&repo, 0, &rel, &["amd64".into()]).unwrap();
    assert!(
        offers
            .iter()
            .any(|o| o.package == "libc6" && o.source == "glibc")
    );
    // Another key does not verify it.
    let other = test_key(&tmp.path().join("gnupg"));
    let keys = release::keyring(&other).unwrap();
    let e = release::fetch(&repo, "bookworm", &keys).unwrap_err();
    assert!(e.to_string().contains("signature refused"), "{e}");
}
