//! Maintainer scripts evaluated, not run: every upgrade of the realistic
//! bookworm image (`scripts/bookworm-image.sh`), its real old prerm/postrm
//! from the image and new preinst/postinst/config from the `.deb`.

use crate::support::repo;
use rootwasm_deb::maintscript::{self, Effect, Facts, Kind, Upgrade};
use rootwasm_deb::{Deb, EntryKind, Limits};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The realistic image, built (root, network) or taken from its cache.
pub fn bookworm() -> PathBuf {
    let out = repo().join("target/bookworm");
    if !out.join("done").exists() {
        let st = std::process::Command::new("bash")
            .arg(repo().join("scripts/bookworm-image.sh"))
            .arg(&out)
            .status()
            .expect("running scripts/bookworm-image.sh");
        assert!(st.success(), "scripts/bookworm-image.sh failed");
    }
    out
}

/// The image's tree as the evaluator sees it (symlinks resolved inside it).
pub struct DirFacts(pub PathBuf);

impl DirFacts {
    fn host(&self, path: &str, follow: bool) -> Option<PathBuf> {
        // Resolve inside the root, at most 40 links.
        let mut parts: Vec<String> = Vec::new();
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .rev()
            .collect();
        let mut links = 0;
        while let Some(p) = todo.pop() {
            match p.as_str() {
                "." => continue,
                ".." => {
                    parts.pop();
                    continue;
                }
                _ => {}
            }
            parts.push(p);
            let last = todo.is_empty();
            let h = self.0.join(parts.join("/"));
            if (!last || follow)
                && let Ok(t) = std::fs::read_link(&h)
            {
                links += 1;
                if links > 40 {
                    return None;
                }
                parts.pop();
                let t = t.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    parts.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .rev(),
                );
            }
        }
        Some(self.0.join(parts.join("/")))
    }
}

impl Facts for DirFacts {
    fn kind(&mut self, path: &str, follow: bool) -> Option<Kind> {
        let h = self.host(path, follow)?;
        let m = std::fs::symlink_metadata(h).ok()?;
        Some(if m.is_symlink() {
            Kind::Symlink
        } else if m.is_dir() {
            Kind::Dir
        } else if m.is_file() {
            Kind::File
        } else {
            Kind::Other
        })
    }
    fn read(&mut self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.host(path, true)?).ok()
    }
    fn readlink(&mut self, path: &str) -> Option<String> {
        std::fs::read_link(self.host(path, false)?)
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }
    fn read_dir(&mut self, path: &str) -> Vec<String> {
        let Some(h) = self.host(path, true) else {
            return Vec::new();
        };
        std::fs::read_dir(h)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn meta(&mut self, path: &str) -> Option<(u32, u32, u32)> {
        let m = std::fs::metadata(self.host(path, true)?).ok()?;
        Some((m.permissions().mode() & 0o7777, m.uid(), m.gid()))
    }
}

/// The upgrade of one row of `outdated.tsv`, from the image and the `.deb`.
pub fn upgrade(out: &Path, row: &[&str]) -> Upgrade {
    let [pkg, arch, old, new, file] = row else {
        panic!("bad outdated.tsv row {row:?}")
    };
    let bytes = std::fs::read(out.join("debs").join(file)).unwrap();
    let deb = Deb::parse(&bytes, &Limits::default()).unwrap();
    let info = out.join("root/var/lib/dpkg/info");
    let mut up = Upgrade {
        package: pkg.to_string(),
        arch: arch.to_string(),
        old_version: old.to_string(),
        new_version: new.to_string(),
        ..Default::default()
    };
    for e in &deb.data {
        let k = match e.kind {
            EntryKind::Dir => Kind::Dir,
            EntryKind::Symlink(_) => Kind::Symlink,
            _ => Kind::File,
        };
        up.new_files
            .insert(e.path.trim_end_matches('/').to_owned(), k);
    }
    for s in ["preinst", "postinst", "config"] {
        if let Some(t) = deb.control_files.get(s) {
            up.new_scripts
                .insert(s.into(), String::from_utf8_lossy(t).into_owned());
        }
    }
    for s in ["prerm", "postrm"] {
        for name in [pkg.to_string(), format!("{pkg}:{arch}")] {
            if let Ok(t) = std::fs::read_to_string(info.join(format!("{name}.{s}"))) {
                up.old_scripts.insert(s.into(), t);
            }
        }
    }
    up
}

/// Per package: `Ok(effects)` or `Err(refusal)`, for the whole image.
fn evaluate_all(out: &Path) -> Vec<(String, Result<maintscript::Plan, String>)> {
    let tsv = std::fs::read_to_string(out.join("outdated.tsv")).unwrap();
    tsv.lines()
        .map(|l| {
            let row: Vec<&str> = l.split('\t').collect();
            let up = upgrade(out, &row);
            let mut facts = DirFacts(out.join("root"));
            (
                up.package.clone(),
                maintscript::evaluate(&up, &mut facts).map_err(|e| e.0),
            )
        })
        .collect()
}

#[test]
fn every_bookworm_upgrade_is_evaluated() {
    let out = bookworm();
    let results = evaluate_all(&out);
    let mut table = String::new();
    for (pkg, r) in &results {
        match r {
            Ok(p) => table.push_str(&format!("{pkg}: modelled {:?}\n", p.effects)),
            Err(e) => table.push_str(&format!("{pkg}: REFUSED {e}\n")),
        }
    }
    eprintln!("{table}");
    assert_eq!(results.len(), 40);
    let refused: Vec<&String> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(p, _)| p)
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}\n{table}");
    let effects = |pkg: &str| {
        results
            .iter()
            .find(|(p, _)| p == pkg)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|p| p.effects.clone())
            .unwrap()
    };
    // The version-gated conffile moves (apt, perl-base, tzdata) do nothing here,
    // nor do the service and debconf lines (libc6, libpam*, sudo, util-linux).
    for pkg in [
        "apt",
        "perl-base",
        "libc6",
        "libpam0g",
        "libpam-modules",
        "util-linux",
        "openssl",
    ] {
        assert_eq!(effects(pkg), Vec::new(), "{pkg}");
    }
    assert_eq!(
        effects("ca-certificates"),
        vec![Effect::CaCertificatesConfigure]
    );
    assert_eq!(effects("libpam-runtime"), vec![Effect::PamAuthUpdate]);
    // sudo's postinst gives the unpacked /etc/sudoers (0644 in the archive) 0440.
    assert_eq!(
        effects("sudo"),
        vec![
            Effect::Chown("/etc/sudoers".into(), "root:root".into(), false),
            Effect::Chmod("/etc/sudoers".into(), 0o440)
        ]
    );
    // tzdata's postinst rewrites /etc/timezone from debconf's answer, which its
    // config script took from /etc/localtime: the same bytes.
    assert_eq!(
        effects("tzdata"),
        vec![Effect::WriteFile(
            "/etc/timezone".into(),
            b"Etc/UTC\n".to_vec()
        )]
    );
    assert!(
        effects("libpython3.11-stdlib")
            .iter()
            .all(|e| *e == Effect::Bytecode)
    );
}

/// Our subject hash is OpenSSL's: every `<hash>.<n>` link the real
/// `openssl rehash` made in the image names its certificate's hash.
#[test]
fn subject_hashes_match_openssl() {
    let root = bookworm().join("root");
    let dir = root.join("etc/ssl/certs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((h, _)) = name.split_once('.') else {
            continue;
        };
        if h.len() != 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let mut facts = DirFacts(root.clone());
        let data = facts.read(&format!("/etc/ssl/certs/{name}")).unwrap();
        let objs = rootwasm_deb::ca_certificates::pem_objects(&data);
        assert_eq!(objs.len(), 1, "{name}");
        let got = rootwasm_deb::ca_certificates::subject_hash(&objs[0].1).unwrap();
        assert_eq!(format!("{got:08x}"), h, "{name}");
        n += 1;
    }
    assert!(n > 100, "only {n} hash links");
}

/// The installed version's `.deb`, from Debian's archive (cached beside the
/// image): `recipe new --installed OLD.deb` lets a recipe remove what the
/// new version dropped.
fn old_deb(out: &Path, pkg: &str, version: &str) -> PathBuf {
    let dir = repo().join("target/bookworm-installed-debs");
    std::fs::create_dir_all(&dir).unwrap();
    for list in std::fs::read_dir(out.join("lists")).unwrap().flatten() {
        let name = list.file_name().to_string_lossy().into_owned();
        if !name.ends_with("_Packages") {
            continue;
        }
        let text = std::fs::read_to_string(list.path()).unwrap();
        for st in text.split("\n\n") {
            let field = |f: &str| {
                st.lines()
                    .find_map(|l| l.strip_prefix(&format!("{f}: ")))
                    .map(str::to_owned)
            };
            if field("Package").as_deref() != Some(pkg)
                || field("Version").as_deref() != Some(version)
            {
                continue;
            }
            let file = field("Filename").unwrap();
            let local = dir.join(file.rsplit('/').next().unwrap());
            if !local.exists() {
                let base = if name.contains("debian-security") {
                    "http://deb.debian.org/debian-security"
                } else {
                    "http://deb.debian.org/debian"
                };
                // Tests run in parallel: download beside it, then rename.
                let part = local.with_extension(format!("part{:?}", std::thread::current().id()));
                let st = std::process::Command::new("curl")
                    .args(["-sfo"])
                    .arg(&part)
                    .arg(format!("{base}/{file}"))
                    .status()
                    .unwrap();
                assert!(st.success(), "downloading {file}");
                std::fs::rename(&part, &local).unwrap();
            }
            return local;
        }
    }
    panic!("{pkg} {version} is in none of the image's apt lists")
}

/// Paths that differ between two trees: kind, mode, owner, bytes, link target.
fn tree_diff(a: &Path, b: &Path) -> Vec<String> {
    fn walk(root: &Path, rel: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(root.join(rel)) else {
            return;
        };
        for e in rd.flatten() {
            let r = rel.join(e.file_name());
            let p = root.join(&r);
            let m = std::fs::symlink_metadata(&p).unwrap();
            let key = format!("/{}", r.display());
            let desc = if m.is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(root, &r, out);
                format!("dir {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid())
            } else if m.is_file() {
                use sha2::Digest;
                let h = hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()));
                format!("file {:o} {}:{} {h}", m.mode() & 0o7777, m.uid(), m.gid())
            } else {
                "other".into()
            };
            out.insert(key, desc);
        }
    }
    let (mut x, mut y) = (Default::default(), Default::default());
    walk(a, Path::new(""), &mut x);
    walk(b, Path::new(""), &mut y);
    let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    keys.into_iter()
        .filter(|k| x.get(*k) != y.get(*k))
        .cloned()
        .collect()
}

/// What dpkg leaves that is not the package's doing: its logs and backups,
/// and debconf's answer cache (which rootwasm does not rewrite).
const DPKG_NOISE: &[&str] = &[
    "/var/log/dpkg.log",
    "/var/lib/dpkg/status-old",
    "/var/cache/debconf/config.dat",
    "/var/cache/debconf/config.dat-old",
    "/var/cache/debconf/templates.dat",
    "/var/cache/debconf/templates.dat-old",
    "/var/lib/dpkg/triggers/Unincorp",
    "/var/log/alternatives.log",
    // ldconfig's own cache of file stats; ld.so.cache itself is the same.
    "/var/cache/ldconfig/aux-cache",
];

/// `dpkg -i` of the new `.deb` (scripts run) on one copy of the image and
/// the generated recipe (`rootwasm run --commit`) on another: returns the
/// paths that differ, beyond [`DPKG_NOISE`].
fn versus_dpkg(pkg: &str) -> Vec<String> {
    let out = bookworm();
    let tsv = std::fs::read_to_string(out.join("outdated.tsv")).unwrap();
    let row: Vec<&str> = tsv
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|r| r[0] == pkg)
        .unwrap();
    let tmp = tempfile::tempdir_in(repo().join("target")).unwrap();
    let recipes = tmp.path().join("recipes");
    std::fs::create_dir_all(recipes.join("dpkg-upgrade")).unwrap();
    std::fs::copy(
        repo().join("recipes/dpkg-upgrade/component.wasm"),
        recipes.join("dpkg-upgrade/component.wasm"),
    )
    .unwrap();
    let deb = out.join("debs").join(row[4]);
    let old = old_deb(&out, pkg, row[2]);
    let o = crate::support::rootwasm(&[
        "recipe",
        "new",
        "distro-upgrade",
        "--deb",
        deb.to_str().unwrap(),
        "--installed",
        old.to_str().unwrap(),
        "--fix",
        "CVE-2000-0001",
        "--recipes",
        recipes.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "recipe new {pkg}: {:?}",
        crate::support::text(&o)
    );
    let recipe = std::fs::read_dir(&recipes)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap() != "dpkg-upgrade")
        .unwrap();
    let (a, b) = (tmp.path().join("dpkg"), tmp.path().join("rootwasm"));
    for d in [&a, &b] {
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(out.join("root"))
            .arg(d)
            .status()
            .unwrap();
        assert!(st.success());
    }
    std::fs::copy(&deb, a.join("tmp/new.deb")).unwrap();
    let st = std::process::Command::new("chroot")
        .arg(&a)
        .args([
            "env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "DEBIAN_FRONTEND=noninteractive",
            "LC_ALL=C",
        ])
        .args(["dpkg", "--force-depends", "-i", "/tmp/new.deb"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "dpkg -i {pkg}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::remove_file(a.join("tmp/new.deb")).unwrap();
    let o = crate::support::rootwasm(&[
        "run",
        recipe.to_str().unwrap(),
        "--rootfs",
        b.to_str().unwrap(),
        "--commit",
    ]);
    assert!(
        o.status.success(),
        "rootwasm run {pkg}: {:?}",
        crate::support::text(&o)
    );
    tree_diff(&a, &b)
        .into_iter()
        .filter(|p| !DPKG_NOISE.contains(&p.as_str()) && !p.starts_with("/dev/"))
        .collect()
}

/// ca-certificates: the distrusted roots leave the bundle and the hash
/// links exactly as the real postinst and update-ca-certificates do.
#[test]
fn ca_certificates_trust_store_equals_dpkg() {
    assert_eq!(versus_dpkg("ca-certificates"), Vec::<String>::new());
}

/// The packages whose scripts the issue found refused, against `dpkg -i`
/// of the same `.deb` with its scripts: the trees are equal, apart from
/// dpkg's noise. python's bytecode is the one deliberate difference: dpkg
/// recompiles every module; rootwasm removes the `.pyc` its new sources made
/// stale, and Python recompiles them on import.
#[test]
fn script_packages_equal_dpkg() {
    let mut report = String::new();
    for pkg in [
        "perl-base",
        "tzdata",
        "apt",
        "sudo",
        "libc6",
        "libpam0g",
        "libpam-modules",
        "libpam-runtime",
        "openssl",
        "libpython3.11-stdlib",
        "util-linux",
    ] {
        let d: Vec<String> = versus_dpkg(pkg)
            .into_iter()
            .filter(|p| !p.contains("/__pycache__"))
            .collect();
        if !d.is_empty() {
            report.push_str(&format!("{pkg}: {d:?}\n"));
        }
    }
    assert!(report.is_empty(), "{report}");
}
