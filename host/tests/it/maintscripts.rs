//! Maintainer scripts evaluated, not run: every upgrade of the realistic
//! bookworm image (`scripts/bookworm-image.sh`), its real old prerm/postrm
//! from the image and new preinst/postinst/config from the `.deb`.

use crate::support::repo;
use rootwasm_deb::maintscript::{self, Facts, Kind, Upgrade};
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
