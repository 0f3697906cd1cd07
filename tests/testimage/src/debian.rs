//! A Debian root from real `.deb`s, without running any maintainer script.
//!
//! Each package is unpacked with `dpkg-deb -x`, and the dpkg database is
//! written as dpkg leaves it after an install: a `status` stanza (the control
//! fields plus `Status: install ok installed`), `info/<pkg>.list` and
//! `info/<pkg>.md5sums` (and `.conffiles`) taken from the package itself.

use std::path::Path;
use std::process::Command;

fn dpkg_deb(args: &[&str], deb: &Path) -> Vec<u8> {
    let o = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("dpkg-deb (Debian's dpkg package)");
    assert!(
        o.status.success(),
        "dpkg-deb {args:?} {}: {}",
        deb.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Unpack `debs` into `root` and write their dpkg database.
pub fn debian_root(debs: &[&Path], root: &Path) {
    let admin = root.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    let mut status = String::new();
    for deb in debs {
        let st = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(root)
            .status()
            .unwrap();
        assert!(st.success());
        let control = String::from_utf8(dpkg_deb(&["-f"], deb)).unwrap();
        let field = |name: &str| {
            control
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::to_owned)
        };
        let pkg = field("Package").unwrap();
        let arch = field("Architecture").unwrap();
        let multi_arch_same = field("Multi-Arch").as_deref() == Some("same");
        let info_name = if multi_arch_same {
            format!("{pkg}:{arch}")
        } else {
            pkg.clone()
        };
        // status: Package first, then Status, then the rest, as dpkg writes it.
        let mut lines = control.lines();
        let first = lines.next().unwrap();
        status.push_str(first);
        status.push_str("\nStatus: install ok installed\n");
        for l in lines {
            status.push_str(l);
            status.push('\n');
        }
        status.push('\n');
        // info/<pkg>.list: every path, "/." first, as dpkg --listfiles shows.
        let tar = dpkg_deb(&["--fsys-tarfile"], deb);
        let mut ar = tar::Archive::new(tar.as_slice());
        let mut list = String::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let p = p.trim_start_matches('.').trim_end_matches('/');
            list.push_str(if p.is_empty() { "/." } else { p });
            list.push('\n');
        }
        std::fs::write(admin.join("info").join(format!("{info_name}.list")), list).unwrap();
        let ctrl = tempdir_in(root);
        let st = Command::new("dpkg-deb")
            .arg("-e")
            .arg(deb)
            .arg(&ctrl)
            .status()
            .unwrap();
        assert!(st.success());
        for f in ["md5sums", "conffiles", "shlibs", "symbols", "triggers"] {
            if ctrl.join(f).exists() {
                std::fs::copy(
                    ctrl.join(f),
                    admin.join("info").join(format!("{info_name}.{f}")),
                )
                .unwrap();
            }
        }
        std::fs::remove_dir_all(&ctrl).unwrap();
    }
    std::fs::write(admin.join("status"), status).unwrap();
}

fn tempdir_in(root: &Path) -> std::path::PathBuf {
    let p = root
        .parent()
        .unwrap_or(root)
        .join(format!(".ctrl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// The vendored Debian packages (`tests/fixtures/debs/*.deb` under `repo`), unpacked into `root`.
pub fn vendored_root(repo: &Path, root: &Path) {
    let mut debs: Vec<std::path::PathBuf> = std::fs::read_dir(repo.join("tests/fixtures/debs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    std::fs::create_dir_all(root).unwrap();
    debian_root(&debs.iter().map(|p| p.as_path()).collect::<Vec<_>>(), root);
}

/// Install `debs` into `root` with Debian's own dpkg (`dpkg --root -i`), as
/// apt would. Used to build images for the distro-upgrade tests and, on a
/// copy, as the oracle a rootwasm upgrade must match. Only for packages
/// whose maintainer scripts do not run at install (dpkg would chroot into
/// `root` to run them). `root` must already hold a dpkg database.
pub fn dpkg_install(root: &Path, debs: &[&Path]) {
    let admin = root.join("var/lib/dpkg");
    for d in ["updates", "triggers", "info"] {
        std::fs::create_dir_all(admin.join(d)).unwrap();
    }
    for f in ["status", "available"] {
        if !admin.join(f).exists() {
            std::fs::write(admin.join(f), "").unwrap();
        }
    }
    let o = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-depends",
            "--force-confold",
            "--force-confdef",
            "-i",
        ])
        .args(debs)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .expect("dpkg (Debian's dpkg package)");
    assert!(
        o.status.success(),
        "dpkg -i {debs:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
