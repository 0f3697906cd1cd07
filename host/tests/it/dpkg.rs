//! Debian distro upgrades and backports, checked against dpkg itself: the
//! same upgrade done by `dpkg -i` on a copy of the root is the oracle, byte
//! for byte; `dpkg --verify` and `dpkg-query` read the result.

use crate::images::*;
use crate::support::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXPAT_OLD: &str = "tests/fixtures/debs/libexpat1_2.5.0-1+deb12u2_amd64.deb";
const EXPAT_NEW: &str = "tests/fixtures/debs/upgrades/libexpat1_2.5.0-1+deb12u5_amd64.deb";
const LZMA_OLD: &str = "tests/fixtures/debs/upgrades/liblzma5_5.4.1-1+deb12u1_amd64.deb";
const LZMA_NEW: &str = "tests/fixtures/debs/upgrades/liblzma5_5.4.1-1+deb12u2_amd64.deb";
const STDLIB_OLD: &str =
    "tests/fixtures/debs/upgrades/libpython3.11-stdlib_3.11.2-6+deb12u8_amd64.deb";
const EXPAT_ID: &str = "debian-libexpat1-2.5.0-1-deb12u5-amd64";
const LZMA_ID: &str = "debian-liblzma5-5.4.1-1-deb12u2-amd64";
const STDLIB_ID: &str = "python3.11-cve-2026-6019";

fn fixture(rel: &str) -> PathBuf {
    repo().join(rel)
}

/// base-files and netbase (database written from their control files), then
/// the old libraries installed by dpkg itself, so `status` is dpkg's own.
fn before_root(dir: &Path) -> PathBuf {
    let root = dir.join("before");
    let f = repo().join("tests/fixtures/debs");
    debian::debian_root(
        &[
            &f.join("base-files_12.4+deb12u14_amd64.deb"),
            &f.join("netbase_6.4_all.deb"),
        ],
        &root,
    );
    debian::dpkg_install(
        &root,
        &[
            &fixture(EXPAT_OLD),
            &fixture(LZMA_OLD),
            &fixture(STDLIB_OLD),
        ],
    );
    root
}

fn layout_of(root: &Path, dir: &Path) -> String {
    let img = image(&[Layer::from_dir(root)], "amd64");
    write_layout(dir, &[(&img, "amd64")], "v1");
    format!("oci:{}:v1", dir.display())
}

/// `rootwasm apply` of only the recipes `ids`.
fn apply(input: &str, output: &str, recipes: &Path, ids: &[&str]) -> std::process::Output {
    let extra: Vec<&str> = ids.iter().flat_map(|id| ["--recipe", id]).collect();
    apply_cmd(input, output, recipes, &extra)
}

/// An empty merged-/usr root (Debian 12's layout): each of `dirs` is a
/// symlink into /usr.
fn merged_usr_root(root: &Path, dirs: &[&str]) {
    for d in dirs {
        std::fs::create_dir_all(root.join("usr").join(d)).unwrap();
        std::os::unix::fs::symlink(format!("usr/{d}"), root.join(d)).unwrap();
    }
}

fn unpack(layout: &str, to: &Path) -> PathBuf {
    let o = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(layout.trim_start_matches("oci:"))
        .arg(to)
        .output()
        .expect("umoci is installed by scripts/setup.sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    to.join("rootfs")
}

fn dpkg_verify(root: &Path) {
    let v = Command::new("dpkg")
        .arg("--root")
        .arg(root)
        .arg("--verify")
        .output()
        .unwrap();
    assert!(
        v.status.success() && v.stdout.is_empty(),
        "dpkg --verify: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

pub(crate) fn dpkg_query(root: &Path, pkg: &str) -> String {
    let q = Command::new("dpkg-query")
        .arg("--admindir")
        .arg(root.join("var/lib/dpkg"))
        .args(["-W", "-f", "${Version} ${db:Status-Abbrev}", pkg])
        .output()
        .unwrap();
    String::from_utf8_lossy(&q.stdout).trim().to_owned()
}

/// Every path of a tree with what dpkg cares about: kind, mode, bytes or target.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            let v = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {mode:o}")
            } else if !m.is_file() {
                // Device nodes, fifos (a debootstrapped /dev): never read.
                format!("special {mode:o} {:?}", m.file_type())
            } else {
                let b = std::fs::read(&p).unwrap();
                format!("file {mode:o} {}", rootwasm_testimage::digest(&b))
            };
            out.insert(rel, v);
        }
    }
    out
}

/// Differences between two trees, ignoring dpkg's own bookkeeping of a run
/// (backup status, locks, logs, trigger state), which rootwasm does not write.
pub(crate) fn tree_diff(ours: &Path, oracle: &Path) -> Vec<String> {
    let skip = |p: &str| {
        p == "var/lib/dpkg/status-old"
            || p.starts_with("var/lib/dpkg/lock")
            || p.starts_with("var/lib/dpkg/triggers/")
            || p.starts_with("var/log")
            || p == "var/lib/dpkg/available"
    };
    let (a, b) = (tree(ours), tree(oracle));
    let mut out = Vec::new();
    for k in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if skip(k) {
            continue;
        }
        if a.get(k) != b.get(k) {
            out.push(format!("{k}: rootwasm {:?}, dpkg {:?}", a.get(k), b.get(k)));
            // dpkg's text files: show both, so a difference reads at once.
            if k.starts_with("var/lib/dpkg/") {
                let read = |r: &Path| std::fs::read_to_string(r.join(k)).unwrap_or_default();
                out.push(format!(
                    "  rootwasm:\n{}  dpkg:\n{}",
                    read(ours),
                    read(oracle)
                ));
            }
        }
    }
    out
}

#[test]
fn distro_upgrades_match_dpkg_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let before = before_root(tmp.path());
    let input = layout_of(&before, &tmp.path().join("in"));
    let in_hash = tree_hash(&tmp.path().join("in"));

    // The oracle: dpkg itself upgrades a copy of the same root.
    let oracle = tmp.path().join("oracle");
    copy_tree(&before, &oracle);
    debian::dpkg_install(&oracle, &[&fixture(EXPAT_NEW), &fixture(LZMA_NEW)]);

    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply(
        &input,
        &output,
        &repo().join("recipes"),
        &[EXPAT_ID, LZMA_ID],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(tree_hash(&tmp.path().join("in")), in_hash, "input modified");

    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    dpkg_verify(&rootfs);
    assert_eq!(dpkg_query(&rootfs, "libexpat1"), "2.5.0-1+deb12u5 ii");
    assert_eq!(dpkg_query(&rootfs, "liblzma5"), "5.4.1-1+deb12u2 ii");
    assert_eq!(
        dpkg_query(&rootfs, "libpython3.11-stdlib"),
        "3.11.2-6+deb12u8 ii"
    );
    // Files, modes, links, status and info/ exactly as dpkg left them;
    // every other package untouched.
    let diff = tree_diff(&rootfs, &oracle);
    assert!(
        diff.is_empty(),
        "differences from dpkg:\n{}",
        diff.join("\n")
    );
    assert_eq!(
        std::fs::read(rootfs.join("var/lib/dpkg/status")).unwrap(),
        std::fs::read(oracle.join("var/lib/dpkg/status")).unwrap()
    );

    // The SBOM shows the new versions with the old ones as ancestors.
    let o = rootwasm(&["sbom", &output, "--format", "cyclonedx"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let bom: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let expat = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "libexpat1")
        .expect("libexpat1 in the SBOM");
    assert_eq!(expat["version"], "2.5.0-1+deb12u5");
    let ped = &expat["pedigree"];
    assert_eq!(ped["ancestors"][0]["version"], "2.5.0-1+deb12u2");
    assert!(
        ped["patches"].is_null(),
        "an upgrade is not a backport: {ped}"
    );
    assert!(
        ped["notes"].as_str().unwrap().contains("distro upgrade")
            && ped["notes"].as_str().unwrap().contains("CVE-2026-56132"),
        "{ped}"
    );
}

/// The dpkg-upgrade component keeps each package's inflated data.tar in
/// the host's derived-data store: a second apply reads it instead of
/// decompressing, gives the same image, and uses an entry only while it is
/// intact.
#[test]
fn inflated_data_is_kept_and_used_only_while_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let before = before_root(tmp.path());
    let input = layout_of(&before, &tmp.path().join("in"));
    let cache = tmp.path().join("cache");
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let o = apply_cmd(
            &input,
            &format!("oci:{}:patched", out.display()),
            &repo().join("recipes"),
            &[
                "--recipe",
                EXPAT_ID,
                "--no-evidence",
                "--cache-dir",
                cache.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{:?}", text(&o));
        tree_hash(&out)
    };
    let first = run("out1");

    // Two entries: the .deb's control and data members as `dpkg-deb
    // --ctrl-tarfile` and `--fsys-tarfile` inflate them, each under a
    // header naming the component, the artifact and the label.
    let mut entries: Vec<PathBuf> = std::fs::read_dir(cache.join("derived"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let deb = fixture(EXPAT_NEW);
    let component = hex::encode(Sha256::digest(
        std::fs::read(repo().join("recipes/dpkg-upgrade/component.wasm")).unwrap(),
    ));
    let artifact = hex::encode(Sha256::digest(std::fs::read(&deb).unwrap()));
    let split = |entry: &[u8]| {
        let end = entry.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        (
            String::from_utf8_lossy(&entry[..end]).into_owned(),
            entry[end..].to_vec(),
        )
    };
    entries.sort_by_key(|e| {
        !split(&std::fs::read(e).unwrap())
            .0
            .contains("label data.tar\n")
    });
    for (path, label, flag) in [
        (&entries[0], "data.tar", "--fsys-tarfile"),
        (&entries[1], "control.tar", "--ctrl-tarfile"),
    ] {
        let (head, data) = split(&std::fs::read(path).unwrap());
        let want = Command::new("dpkg-deb")
            .arg(flag)
            .arg(&deb)
            .output()
            .unwrap();
        assert!(want.status.success());
        assert!(
            data == want.stdout,
            "{label}: not what dpkg-deb {flag} gives"
        );
        for want in [
            format!("component {component}\n"),
            format!("artifact {artifact}\n"),
            format!("label {label}\n"),
        ] {
            assert!(head.contains(&want), "{want:?} not in {head}");
        }
    }
    let entry = std::fs::read(&entries[0]).unwrap();
    let (head, data) = split(&entry);
    let data = data.as_slice();

    // Warm: the same image.
    assert_eq!(run("out2"), first, "a warm run changed the image");

    // The entry is what the recipe installs from: an intact entry with
    // other contents (as only someone who can write our private cache
    // could make) shows in the image ...
    let forged: Vec<u8> = {
        let mut ar = tar::Archive::new(data);
        let mut b = tar::Builder::new(Vec::new());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut h = e.header().clone();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut body).unwrap();
            if h.path().unwrap().ends_with("copyright") {
                body = b"forged\n".to_vec();
                h.set_size(body.len() as u64);
                h.set_cksum();
            }
            b.append(&h, body.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    };
    let rehead = |d: &[u8]| {
        let sha = hex::encode(Sha256::digest(d));
        let h = head.rsplit_once("data-sha256 ").unwrap().0;
        let mut f = format!("{h}data-sha256 {sha}\n\n").into_bytes();
        f.extend_from_slice(d);
        f
    };
    std::fs::write(&entries[0], rehead(&forged)).unwrap();
    assert_ne!(run("out3"), first, "the entry was not used");
    // ... and a damaged one (contents not matching its header) is ignored:
    // the recipe inflates the package again and stores it afresh.
    let mut damaged = rehead(data);
    *damaged.last_mut().unwrap() ^= 1;
    std::fs::write(&entries[0], damaged).unwrap();
    assert_eq!(run("out4"), first, "a damaged entry was used");
    assert_eq!(std::fs::read(&entries[0]).unwrap(), entry);
}

/// Build a modified copy of a .deb with dpkg-deb.
fn repack(deb: &Path, out: &Path, edit: impl FnOnce(&Path)) {
    let work = out.with_extension("d");
    let st = Command::new("dpkg-deb")
        .arg("-R")
        .arg(deb)
        .arg(&work)
        .status()
        .unwrap();
    assert!(st.success());
    edit(&work);
    let o = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "-b"])
        .arg(&work)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A recipes directory holding the shared components and one recipe made by
/// `rootwasm recipe new distro-upgrade`.
fn new_recipe(tmp: &Path, deb: &Path, installed: &str, extra: &[&str]) -> (PathBuf, String) {
    let recipes = tmp.join("recipes");
    std::fs::create_dir_all(recipes.join("dpkg-upgrade")).unwrap();
    std::fs::copy(
        repo().join("recipes/dpkg-upgrade/component.wasm"),
        recipes.join("dpkg-upgrade/component.wasm"),
    )
    .unwrap();
    let mut args = vec![
        "recipe",
        "new",
        "distro-upgrade",
        "--deb",
        deb.to_str().unwrap(),
        "--installed",
        installed,
        "--recipes",
        recipes.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = rootwasm(&args);
    assert!(o.status.success(), "{:?}", text(&o));
    let out = text(&o).0;
    let dir = out
        .lines()
        .find_map(|l| l.strip_prefix("wrote "))
        .map(|p| Path::new(p).parent().unwrap().to_path_buf())
        .unwrap();
    let id = dir.file_name().unwrap().to_string_lossy().into_owned();
    (recipes, id)
}

#[test]
fn recipe_new_reads_the_changelog_and_matches_the_committed_recipes() {
    let tmp = tempfile::tempdir().unwrap();
    let (recipes, id) = new_recipe(
        tmp.path(),
        &fixture(EXPAT_NEW),
        &fixture(EXPAT_OLD).display().to_string(),
        &[],
    );
    assert_eq!(id, EXPAT_ID);
    let toml = std::fs::read_to_string(recipes.join(&id).join("recipe.toml")).unwrap();
    // CVEs of deb12u3..u5, none of deb12u2's own upload (CVE-2024-45490..2).
    for cve in [
        "CVE-2026-56132",
        "CVE-2026-102633",
        "CVE-2026-77214",
        "CVE-2024-28757",
        "CVE-2026-50219",
    ] {
        assert!(
            toml.contains(&format!("id = \"{cve}\"")),
            "{cve} missing:\n{toml}"
        );
    }
    assert!(!toml.contains("CVE-2024-45490"), "{toml}");
    // Every older version is affected; the fixes are counted from the installed one.
    assert!(toml.contains("affected = \"<< 2.5.0-1+deb12u5\""));
    // The committed recipe is exactly what the command writes.
    let committed =
        std::fs::read_to_string(repo().join("recipes").join(EXPAT_ID).join("recipe.toml")).unwrap();
    assert_eq!(
        toml, committed,
        "regenerate with `rootwasm recipe new distro-upgrade`"
    );
    // With an advisory report, a fix takes its rating and NVD's publication
    // date from it; the others stay unrated, dated by the changelog.
    let report = repo().join("tests/fixtures/advisories/trivy-expat.json");
    let (recipes, id) = new_recipe(
        &tmp.path().join("with-advisories"),
        &fixture(EXPAT_NEW),
        &fixture(EXPAT_OLD).display().to_string(),
        &["--advisories", report.to_str().unwrap()],
    );
    let rated = std::fs::read_to_string(recipes.join(&id).join("recipe.toml")).unwrap();
    assert!(
        rated
            .contains("id = \"CVE-2024-28757\"\nseverity = \"high\"\npublished = \"2024-03-10\"\n"),
        "{rated}"
    );
    assert!(
        rated.contains("id = \"CVE-2026-56132\"\nseverity = \"unknown\"\n"),
        "{rated}"
    );
    // The liblzma5 fix is named by a GHSA in its changelog.
    let (recipes, id) = new_recipe(tmp.path(), &fixture(LZMA_NEW), "5.4.1-1+deb12u1", &[]);
    let toml = std::fs::read_to_string(recipes.join(&id).join("recipe.toml")).unwrap();
    assert!(toml.contains("id = \"GHSA-5qpq-xqfv-j9pg\""), "{toml}");
}

#[test]
fn backport_into_a_dpkg_owned_file_keeps_the_version_and_md5sums() {
    let tmp = tempfile::tempdir().unwrap();
    let before = before_root(tmp.path());
    // Bytecode Python would otherwise keep running instead of the patched source.
    let cache = before.join("usr/lib/python3.11/http/__pycache__");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("cookies.cpython-311.pyc"), b"stale").unwrap();
    std::fs::write(cache.join("client.cpython-311.pyc"), b"other").unwrap();
    let input = layout_of(&before, &tmp.path().join("in"));
    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply(&input, &output, &repo().join("recipes"), &[STDLIB_ID]);
    assert!(o.status.success(), "{:?}", text(&o));

    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    dpkg_verify(&rootfs);
    assert_eq!(
        dpkg_query(&rootfs, "libpython3.11-stdlib"),
        "3.11.2-6+deb12u8 ii",
        "a backport keeps the version"
    );
    let cookies = rootfs.join("usr/lib/python3.11/http/cookies.py");
    assert_eq!(
        std::fs::read(&cookies).unwrap(),
        std::fs::read(fixture(
            "tests/fixtures/debs/upgrades/python3.11_3.11.2-6+deb12u9_http_cookies.py"
        ))
        .unwrap(),
        "the patched file is the fixed upload's"
    );
    assert!(
        !rootfs
            .join("usr/lib/python3.11/http/__pycache__/cookies.cpython-311.pyc")
            .exists()
    );
    assert!(
        rootfs
            .join("usr/lib/python3.11/http/__pycache__/client.cpython-311.pyc")
            .exists()
    );

    // Behaviour: the patched module no longer lets a cookie value close the script string.
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let js = |file: &Path| {
        let o = Command::new(&python)
            .args([
                "-c",
                "import importlib.util,sys\n\
                 s=importlib.util.spec_from_file_location('cookies_under_test',sys.argv[1])\n\
                 m=importlib.util.module_from_spec(s);s.loader.exec_module(m)\n\
                 c=m.SimpleCookie();c['k']='\\\";alert(1);//'\n\
                 print(c['k'].js_output())",
            ])
            .arg(file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(js(&before.join("usr/lib/python3.11/http/cookies.py")).contains("alert(1)"));
    let fixed = js(&cookies);
    assert!(
        !fixed.contains("alert(1)") && fixed.contains("decodeURIComponent"),
        "{fixed}"
    );

    // The SBOM records the backport with its diff and the CVE.
    let o = rootwasm(&["sbom", &output, "--format", "cyclonedx"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let bom: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "libpython3.11-stdlib")
        .unwrap();
    assert_eq!(c["version"], "3.11.2-6+deb12u8");
    let patch = &c["pedigree"]["patches"][0];
    assert_eq!(patch["type"], "backport");
    assert_eq!(patch["resolves"][0]["id"], "CVE-2026-6019");
    let diff = patch["diff"]["text"]["content"].as_str().unwrap();
    assert!(
        diff.contains("+++ b/usr/lib/python3.11/http/cookies.py"),
        "{diff}"
    );
    assert!(
        !diff.contains("md5sums"),
        "the diff shows the fix, not the bookkeeping: {diff}"
    );
}

#[test]
fn conffiles_are_handled_as_dpkg_confold_confdef_does() {
    let tmp = tempfile::tempdir().unwrap();
    // A package with two conffiles; version 2 changes both.
    let v1 = tmp.path().join("conf_1.0_all.deb");
    let v2 = tmp.path().join("conf_2.0_all.deb");
    let make = |out: &Path, version: &str, body: &str| {
        repack(
            &fixture("tests/fixtures/debs/netbase_6.4_all.deb"),
            out,
            |d| {
                for f in ["postinst", "postrm"] {
                    let _ = std::fs::remove_file(d.join("DEBIAN").join(f));
                }
                let c = std::fs::read_to_string(d.join("DEBIAN/control")).unwrap();
                let c = c
                    .replace("Package: netbase", "Package: conf")
                    .replace("Version: 6.4", &format!("Version: {version}"));
                std::fs::write(d.join("DEBIAN/control"), c).unwrap();
                std::fs::create_dir_all(d.join("etc/conf")).unwrap();
                std::fs::write(d.join("etc/conf/edited.conf"), format!("edited {body}\n")).unwrap();
                std::fs::write(
                    d.join("etc/conf/pristine.conf"),
                    format!("pristine {body}\n"),
                )
                .unwrap();
                std::fs::write(
                    d.join("DEBIAN/conffiles"),
                    "/etc/conf/edited.conf\n/etc/conf/pristine.conf\n",
                )
                .unwrap();
                std::fs::remove_file(d.join("DEBIAN/md5sums")).unwrap();
                for f in ["etc/protocols", "etc/services", "etc/rpc", "etc/ethertypes"] {
                    let _ = std::fs::remove_file(d.join(f));
                }
                let _ = std::fs::remove_dir_all(d.join("usr"));
            },
        );
    };
    make(&v1, "1.0", "one");
    make(&v2, "2.0", "two");
    let before = tmp.path().join("before");
    std::fs::create_dir_all(&before).unwrap();
    debian::dpkg_install(&before, &[&v1]);
    std::fs::write(before.join("etc/conf/edited.conf"), "the user's own\n").unwrap();

    let oracle = tmp.path().join("oracle");
    copy_tree(&before, &oracle);
    debian::dpkg_install(&oracle, &[&v2]);

    let (recipes, id) = new_recipe(tmp.path(), &v2, "1.0", &["--fix", "CVE-2000-0001"]);
    let input = layout_of(&before, &tmp.path().join("in"));
    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply(&input, &output, &recipes, &[&id]);
    assert!(o.status.success(), "{:?}", text(&o));
    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/conf/edited.conf")).unwrap(),
        "the user's own\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/conf/edited.conf.dpkg-dist")).unwrap(),
        "edited two\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/conf/pristine.conf")).unwrap(),
        "pristine two\n"
    );
    let diff = tree_diff(&rootfs, &oracle);
    assert!(
        diff.is_empty(),
        "differences from dpkg:\n{}",
        diff.join("\n")
    );
}

/// An upgrade whose changelog names no vulnerability is refused unless
/// asked for as a plain update; then it is applied like any upgrade, says
/// so in its recipe, and the VEX claims nothing for it.
#[test]
fn a_plain_update_is_written_only_when_asked_and_claims_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = tmp.path().join("tz_1.0_amd64.deb");
    let v2 = tmp.path().join("tz_2.0_amd64.deb");
    make_deb(
        &v1,
        "tz",
        "1.0",
        &[("/usr/share/tz/zone", "old rules\n")],
        &[],
    );
    make_deb(
        &v2,
        "tz",
        "2.0",
        &[("/usr/share/tz/zone", "new rules\n")],
        &[],
    );
    let before = tmp.path().join("before");
    std::fs::create_dir_all(&before).unwrap();
    debian::dpkg_install(&before, &[&v1]);
    let oracle = tmp.path().join("oracle");
    copy_tree(&before, &oracle);
    debian::dpkg_install(&oracle, &[&v2]);

    let recipes = tmp.path().join("refused");
    let o = rootwasm(&[
        "recipe",
        "new",
        "distro-upgrade",
        "--deb",
        v2.to_str().unwrap(),
        "--installed",
        "1.0",
        "--recipes",
        recipes.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("ships no changelog") && stderr.contains("--plain-update"),
        "{stderr}"
    );
    assert!(!recipes.join("debian-tz-2.0-amd64").exists());

    let (recipes, id) = new_recipe(tmp.path(), &v2, "1.0", &["--plain-update"]);
    let toml = std::fs::read_to_string(recipes.join(&id).join("recipe.toml")).unwrap();
    assert!(!toml.contains("[[fixes]]"), "{toml}");
    assert!(toml.contains("# A plain update"), "{toml}");
    assert!(
        toml.contains("the distribution's updated package"),
        "{toml}"
    );

    let key = tmp.path().join("k.pem");
    assert!(
        rootwasm(&["key", "generate", key.to_str().unwrap()])
            .status
            .success()
    );
    let input = layout_of(&before, &tmp.path().join("in"));
    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply_cmd(
        &input,
        &output,
        &recipes,
        &["--recipe", &id, "--key", key.to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    dpkg_verify(&rootfs);
    assert_eq!(dpkg_query(&rootfs, "tz"), "2.0 ii");
    let diff = tree_diff(&rootfs, &oracle);
    assert!(
        diff.is_empty(),
        "differences from dpkg:\n{}",
        diff.join("\n")
    );
    // The image history says what the layer is without naming a fix.
    let out = tmp.path().join("out");
    let json = |d: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join("blobs/sha256").join(&d[7..])).unwrap())
            .unwrap()
    };
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let tagged = (idx["manifests"].as_array().unwrap().iter())
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "patched")
        .unwrap();
    let config = json(
        json(tagged["digest"].as_str().unwrap())["config"]["digest"]
            .as_str()
            .unwrap(),
    );
    let last = config["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["comment"], "distribution updates; no vulnerability named",
        "{last}"
    );
    // SBOM and provenance, but no VEX: there is nothing to state.
    let (_, list) = crate::review::referrers(&tmp.path().join("out"));
    let types: Vec<&str> = list.iter().map(|(t, _)| t.as_str()).collect();
    assert!(!types.contains(&"application/openvex+json"), "{types:?}");
    assert!(
        types.contains(&"application/vnd.cyclonedx+json"),
        "{types:?}"
    );
    let o = rootwasm(&[
        "verify",
        &output,
        "--key",
        tmp.path().join("k.pem.pub.pem").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
}

/// Apply that must be refused: exit code, message, and no change.
fn refused(input: &str, recipes: &Path, id: &str, tmp: &Path, want: &str, code: i32) {
    let out = tmp.join(format!("out-{id}"));
    let o = apply(
        input,
        &format!("oci:{}:patched", out.display()),
        recipes,
        &[id],
    );
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(code), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(want) || stderr.contains(want),
        "expected {want:?} in:\n{stdout}\n{stderr}"
    );
    if out.exists() {
        // Whatever was written carries no patch layer.
        let idx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        let d = idx["manifests"][0]["digest"].as_str().unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("blobs/sha256").join(&d[7..])).unwrap())
                .unwrap();
        assert_eq!(m["layers"].as_array().unwrap().len(), 1, "{m}");
    }
}

#[test]
fn refuses_bad_artifacts_architectures_versions_and_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let before = before_root(tmp.path());
    let input = layout_of(&before, &tmp.path().join("in"));
    let in_hash = tree_hash(&tmp.path().join("in"));

    // 1. The pinned .deb was swapped: the hash no longer matches.
    let recipes = tmp.path().join("tampered");
    std::fs::create_dir_all(&recipes).unwrap();
    copy_tree(
        &repo().join("recipes/dpkg-upgrade"),
        &recipes.join("dpkg-upgrade"),
    );
    copy_tree(
        &repo().join("recipes").join(EXPAT_ID),
        &recipes.join(EXPAT_ID),
    );
    let deb = recipes
        .join(EXPAT_ID)
        .join("libexpat1_2.5.0-1+deb12u5_amd64.deb");
    let mut b = std::fs::read(&deb).unwrap();
    let n = b.len();
    b[n - 100] ^= 1;
    std::fs::write(&deb, b).unwrap();
    refused(
        &input,
        &recipes,
        EXPAT_ID,
        tmp.path(),
        "but recipe.toml pins",
        2,
    );

    // 2. A .deb built for another architecture.
    let arm = tmp.path().join("libexpat1_2.5.0-1+deb12u5_arm64.deb");
    repack(&fixture(EXPAT_NEW), &arm, |d| {
        let c = std::fs::read_to_string(d.join("DEBIAN/control")).unwrap();
        std::fs::write(
            d.join("DEBIAN/control"),
            c.replace("Architecture: amd64", "Architecture: arm64"),
        )
        .unwrap();
    });
    let (recipes, id) = new_recipe(&tmp.path().join("arch"), &arm, "2.5.0-1+deb12u2", &[]);
    // The host does not run it: the recipe targets arm64 (on a multi-platform
    // image it applies only to the arm64 platform).
    refused(
        &input,
        &recipes,
        &id,
        tmp.path(),
        "libexpat1:arm64 is not installed",
        1,
    );
    // Without the target architecture, the component itself refuses.
    let toml = recipes.join(&id).join("recipe.toml");
    let t = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, t.replace("architecture = \"arm64\"\n", "")).unwrap();
    refused(
        &input,
        &recipes,
        &id,
        tmp.path(),
        "built for architecture arm64, but the image has libexpat1:amd64",
        1,
    );

    // 3. The installed version is above the affected range (below it, a
    // distro upgrade still applies: `scan_below_a_range` in sync.rs).
    let (recipes, id) = new_recipe(
        &tmp.path().join("range"),
        &fixture(EXPAT_NEW),
        "2.5.0-1+deb12u1",
        &[],
    );
    let toml = recipes.join(&id).join("recipe.toml");
    let t = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        t.replace("<< 2.5.0-1+deb12u5\"", "<< 2.5.0-1+deb12u2\""),
    )
    .unwrap();
    refused(
        &input,
        &recipes,
        &id,
        tmp.path(),
        "2.5.0-1+deb12u2 is installed, outside the affected range",
        1,
    );

    // 4. A maintainer script that creates a user cannot be reproduced.
    let scripted = tmp.path().join("libexpat1_2.5.0-1+deb12u5_amd64.deb");
    repack(&fixture(EXPAT_NEW), &scripted, |d| {
        let p = d.join("DEBIAN/postinst");
        std::fs::write(&p, "#!/bin/sh\nset -e\nadduser --system expat\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    });
    let (recipes, id) = new_recipe(
        &tmp.path().join("script"),
        &scripted,
        "2.5.0-1+deb12u2",
        &[],
    );
    refused(
        &input,
        &recipes,
        &id,
        tmp.path(),
        "creates users or groups (adduser)",
        1,
    );

    assert_eq!(tree_hash(&tmp.path().join("in")), in_hash, "input modified");
}

#[test]
fn distroless_status_d_is_upgraded_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    // A distroless-style root: no status file, one stanza per package in
    // status.d/ with its md5sums beside it, as Google's distroless images carry.
    let root = tmp.path().join("before");
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(fixture(EXPAT_OLD))
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    let sd = root.join("var/lib/dpkg/status.d");
    std::fs::create_dir_all(&sd).unwrap();
    let field = |deb: &str, what: &str| {
        let o = Command::new("dpkg-deb")
            .args(["--ctrl-tarfile"])
            .arg(fixture(deb))
            .output()
            .unwrap();
        let mut ar = tar::Archive::new(o.stdout.as_slice());
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy().trim_start_matches("./") == what {
                std::io::Read::read_to_end(&mut e, &mut out).unwrap();
            }
        }
        out
    };
    std::fs::write(sd.join("libexpat1"), field(EXPAT_OLD, "control")).unwrap();
    std::fs::write(sd.join("libexpat1.md5sums"), field(EXPAT_OLD, "md5sums")).unwrap();
    let input = layout_of(&root, &tmp.path().join("in"));
    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply(&input, &output, &repo().join("recipes"), &[EXPAT_ID]);
    assert!(o.status.success(), "{:?}", text(&o));
    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    let sd = rootfs.join("var/lib/dpkg/status.d");
    assert_eq!(
        std::fs::read(sd.join("libexpat1")).unwrap(),
        field(EXPAT_NEW, "control")
    );
    assert_eq!(
        std::fs::read(sd.join("libexpat1.md5sums")).unwrap(),
        field(EXPAT_NEW, "md5sums")
    );
    assert!(!rootfs.join("var/lib/dpkg/status").exists());
    assert!(!rootfs.join("var/lib/dpkg/info").exists());
    // The files are the new package's, as dpkg-deb -x unpacks it.
    let new = tmp.path().join("new");
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(fixture(EXPAT_NEW))
        .arg(&new)
        .status()
        .unwrap();
    assert!(st.success());
    let (ours, theirs) = (tree(&rootfs), tree(&new));
    for (path, want) in &theirs {
        assert_eq!(ours.get(path), Some(want), "{path}");
    }
    // syft-style scanners read status.d: our own inventory shows the new version.
    let o = rootwasm(&["sbom", &output, "--format", "cyclonedx"]);
    let bom: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "libexpat1" && c["version"] == "2.5.0-1+deb12u5"),
        "{bom}"
    );
}

/// A small package built with dpkg-deb: `files` are (path, contents) under /.
/// The compression follows the version, so the tests cover all three that
/// dpkg writes: xz for 1.0, zstd for 2.0, gzip otherwise.
fn make_deb(out: &Path, pkg: &str, version: &str, files: &[(&str, &str)], conffiles: &[&str]) {
    let z = match version {
        "1.0" => "-Zxz",
        "2.0" => "-Zzstd",
        _ => "-Zgzip",
    };
    let d = out.with_extension("d");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("DEBIAN")).unwrap();
    std::fs::write(
        d.join("DEBIAN/control"),
        format!(
            "Package: {pkg}\nVersion: {version}\nArchitecture: amd64\nMaintainer: rootwasm tests <tests@rootwasm.invalid>\nDescription: test package\n"
        ),
    )
    .unwrap();
    if !conffiles.is_empty() {
        std::fs::write(d.join("DEBIAN/conffiles"), conffiles.join("\n") + "\n").unwrap();
    }
    for (p, body) in files {
        let f = d.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, body).unwrap();
    }
    let o = Command::new("dpkg-deb")
        .args(["--root-owner-group", z, "-b"])
        .arg(&d)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn dropped_and_moved_files_on_a_merged_usr_root_match_dpkg() {
    let tmp = tempfile::tempdir().unwrap();
    // v1 ships its library under /lib, a doc file and two conffiles; v2 moves
    // the library to /usr/lib (the /usr-move), drops the doc file and one conffile.
    let v1 = tmp.path().join("mv_1.0_amd64.deb");
    let v2 = tmp.path().join("mv_2.0_amd64.deb");
    make_deb(
        &v1,
        "mv",
        "1.0",
        &[
            ("lib/x86_64-linux-gnu/libmv.so.1", "library one\n"),
            ("usr/share/doc/mv/old.txt", "gone in 2.0\n"),
            ("etc/mv/kept.conf", "kept\n"),
            ("etc/mv/dropped.conf", "dropped\n"),
        ],
        &["/etc/mv/kept.conf", "/etc/mv/dropped.conf"],
    );
    make_deb(
        &v2,
        "mv",
        "2.0",
        &[
            ("usr/lib/x86_64-linux-gnu/libmv.so.1", "library two\n"),
            ("usr/share/doc/mv/new.txt", "new in 2.0\n"),
            ("etc/mv/kept.conf", "kept\n"),
        ],
        &["/etc/mv/kept.conf"],
    );
    // A merged-/usr root, as Debian 12 images have: /lib -> usr/lib, and a
    // package that lists /lib (as libc6 does) installed through the alias.
    let before = tmp.path().join("before");
    merged_usr_root(&before, &["lib"]);
    let libc = tmp.path().join("libc_1.0_amd64.deb");
    make_deb(
        &libc,
        "libc",
        "1.0",
        &[("lib/x86_64-linux-gnu/libc.so.6", "libc\n")],
        &[],
    );
    debian::dpkg_install(&before, &[&libc, &v1]);
    let oracle = tmp.path().join("oracle");
    copy_tree(&before, &oracle);
    debian::dpkg_install(&oracle, &[&v2]);
    assert!(
        oracle.join("usr/lib/x86_64-linux-gnu/libmv.so.1").exists(),
        "dpkg keeps the moved file"
    );

    let input = layout_of(&before, &tmp.path().join("in"));
    // Made with only the installed version, the recipe may not remove the old
    // files, and says how to make one that can.
    let (recipes, id) = new_recipe(
        &tmp.path().join("v"),
        &v2,
        "1.0",
        &["--fix", "CVE-2000-0002"],
    );
    refused(
        &input,
        &recipes,
        &id,
        tmp.path(),
        "re-create this recipe with",
        1,
    );
    // Made with the old .deb, it upgrades exactly as dpkg did.
    let (recipes, id) = new_recipe(
        &tmp.path().join("d"),
        &v2,
        v1.to_str().unwrap(),
        &["--fix", "CVE-2000-0002"],
    );
    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply(&input, &output, &recipes, &[&id]);
    assert!(o.status.success(), "{:?}", text(&o));
    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("usr/lib/x86_64-linux-gnu/libmv.so.1")).unwrap(),
        "library two\n"
    );
    assert!(!rootfs.join("usr/share/doc/mv/old.txt").exists());
    assert!(
        std::fs::symlink_metadata(rootfs.join("lib"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the /lib -> usr/lib alias stays"
    );
    let diff = tree_diff(&rootfs, &oracle);
    assert!(
        diff.is_empty(),
        "differences from dpkg:\n{}",
        diff.join("\n")
    );
}

#[test]
fn a_merged_usr_alias_is_never_removed_even_where_dpkg_would() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = tmp.path().join("solo_1.0_amd64.deb");
    let v2 = tmp.path().join("solo_2.1_amd64.deb");
    make_deb(
        &v1,
        "solo",
        "1.0",
        &[("lib/x86_64-linux-gnu/libsolo.so.1", "one\n")],
        &[],
    );
    make_deb(
        &v2,
        "solo",
        "2.1",
        &[("usr/lib/x86_64-linux-gnu/libsolo.so.1", "two\n")],
        &[],
    );
    let before = tmp.path().join("before");
    merged_usr_root(&before, &["lib"]);
    debian::dpkg_install(&before, &[&v1]);
    // No other package lists /lib: dpkg unlinks the alias on upgrade.
    let oracle = tmp.path().join("oracle");
    copy_tree(&before, &oracle);
    debian::dpkg_install(&oracle, &[&v2]);
    assert!(
        std::fs::symlink_metadata(oracle.join("lib")).is_err(),
        "dpkg removes /lib here"
    );
    // rootwasm keeps it (docs/recipes.md); everything else is as dpkg left it.
    let (recipes, id) = new_recipe(
        &tmp.path().join("r"),
        &v2,
        v1.to_str().unwrap(),
        &["--fix", "CVE-2000-0003"],
    );
    let input = layout_of(&before, &tmp.path().join("in"));
    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply(&input, &output, &recipes, &[&id]);
    assert!(o.status.success(), "{:?}", text(&o));
    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    assert!(
        std::fs::symlink_metadata(rootfs.join("lib"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let diff: Vec<String> = tree_diff(&rootfs, &oracle)
        .into_iter()
        .filter(|l| !l.starts_with("lib:"))
        .collect();
    assert!(
        diff.is_empty(),
        "differences from dpkg besides /lib:\n{}",
        diff.join("\n")
    );
}

#[test]
fn real_upgrades_on_a_merged_usr_root_match_dpkg() {
    // Debian 12's default layout: /bin, /sbin and /lib* are symlinks into /usr,
    // while libexpat1 and liblzma5 ship their libraries under /lib.
    let tmp = tempfile::tempdir().unwrap();
    let before = tmp.path().join("before");
    merged_usr_root(&before, &["bin", "sbin", "lib", "lib64"]);
    debian::dpkg_install(&before, &[&fixture(EXPAT_OLD), &fixture(LZMA_OLD)]);
    let oracle = tmp.path().join("oracle");
    copy_tree(&before, &oracle);
    debian::dpkg_install(&oracle, &[&fixture(EXPAT_NEW), &fixture(LZMA_NEW)]);

    let input = layout_of(&before, &tmp.path().join("in"));
    let output = format!("oci:{}:patched", tmp.path().join("out").display());
    let o = apply(
        &input,
        &output,
        &repo().join("recipes"),
        &[EXPAT_ID, LZMA_ID],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let rootfs = unpack(&output, &tmp.path().join("bundle"));
    dpkg_verify(&rootfs);
    assert_eq!(dpkg_query(&rootfs, "libexpat1"), "2.5.0-1+deb12u5 ii");
    assert!(
        std::fs::symlink_metadata(rootfs.join("lib"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let diff = tree_diff(&rootfs, &oracle);
    assert!(
        diff.is_empty(),
        "differences from dpkg:\n{}",
        diff.join("\n")
    );
}
