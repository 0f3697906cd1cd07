//! `inventory::dpkg_deps` against `apt-get check`: the bookworm image's real
//! status file, edited the ways upgrades break it (a package upgraded
//! without the library it needs, a Pre-Depends, a source split that breaks
//! nothing) plus packages with every relation form, judged by both.

use crate::bookworm::{host_apt, image, outdated};
use rootwasm::inventory::dpkg_deps::Database;
use std::collections::BTreeSet;

/// The packages apt reports with unmet dependencies.
fn apt_broken(status: &str) -> BTreeSet<String> {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("status");
    std::fs::write(&file, status).unwrap();
    let lists = format!("-oDir::State::Lists={}", tmp.path().join("lists").display());
    let o = host_apt(
        tmp.path(),
        &file,
        tmp.path(),
        &[&lists, "-oDir::Etc::SourceList=/dev/null", "check"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let broken: BTreeSet<String> = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix(' ')?
                .split_once(" : ")
                .map(|(p, _)| p.to_owned())
        })
        .collect();
    assert_eq!(
        o.status.success(),
        broken.is_empty(),
        "apt-get check: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    broken
}

fn ours(status: &str) -> BTreeSet<String> {
    let mut db = Database::default();
    db.add_text(status, "status").unwrap();
    db.problems()
        .iter()
        .map(|p| p.package.split(':').next().unwrap().to_owned())
        .collect()
}

/// `status` with `pkg`'s stanza replaced by the newest `.deb`'s control.
fn upgraded(status: &str, pkgs: &[&str]) -> String {
    let mut out = String::new();
    for para in status.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let name = para.lines().next().unwrap().trim_start_matches("Package: ");
        if !pkgs.contains(&name) {
            out.push_str(para.trim_end());
            out.push_str("\n\n");
        }
    }
    for o in outdated()
        .iter()
        .filter(|o| pkgs.contains(&o.package.as_str()))
    {
        let deb = std::fs::read(&o.deb).unwrap();
        let d = rootwasm_deb::Deb::parse_control(&deb, &Default::default()).unwrap();
        let mut s = d.control.clone();
        s.set("Status", "install ok installed");
        out.push_str(&s.to_dpkg_text());
        out.push('\n');
    }
    out
}

const FORMS: &str = "
Package: zz-any-allowed
Status: install ok installed
Architecture: amd64
Version: 1
Depends: python3.11:any (>= 3.11)

Package: zz-any-foreign
Status: install ok installed
Architecture: amd64
Version: 1
Depends: perl-base:any

Package: zz-native
Status: install ok installed
Architecture: all
Version: 1
Depends: libc6:native (>= 2.36), libc6:amd64, libc6

Package: zz-virtual
Status: install ok installed
Architecture: amd64
Version: 1
Depends: awk, nothing-provides-this | awk

Package: zz-virtual-versioned
Status: install ok installed
Architecture: amd64
Version: 1
Depends: awk (>= 1)

Package: zz-breaks
Status: install ok installed
Architecture: amd64
Version: 1
Breaks: libc6 (<< 99), nothing-installed

Package: zz-conflicts-virtual
Status: install ok installed
Architecture: amd64
Version: 1
Provides: awk
Conflicts: awk

Package: zz-conflicts-self
Status: install ok installed
Architecture: amd64
Version: 1
Provides: zz-thing (= 1)
Conflicts: zz-thing, zz-conflicts-self

Package: zz-gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1

Package: zz-needs-gone
Status: install ok installed
Architecture: amd64
Version: 1
Pre-Depends: zz-gone, zz-thing (= 1)
";

#[test]
fn dpkg_deps_judges_like_apt_get_check() {
    let status = std::fs::read_to_string(image().join("root/var/lib/dpkg/status")).unwrap();
    let cases = [
        ("the image as built", status.clone()),
        ("curl upgraded alone", upgraded(&status, &["curl"])),
        ("libcurl4 upgraded alone", upgraded(&status, &["libcurl4"])),
        (
            "libpam-modules-bin alone",
            upgraded(&status, &["libpam-modules-bin"]),
        ),
        ("libssl3 alone (a split)", upgraded(&status, &["libssl3"])),
        (
            "curl and libcurl4",
            upgraded(&status, &["curl", "libcurl4"]),
        ),
        ("every relation form", format!("{status}\n{FORMS}")),
    ];
    for (what, text) in cases {
        assert_eq!(ours(&text), apt_broken(&text), "{what}");
    }
    // Not vacuous: the forms break exactly these.
    let forms = ours(&format!("{status}\n{FORMS}"));
    assert_eq!(
        forms.into_iter().collect::<Vec<_>>(),
        [
            "zz-any-foreign",
            "zz-breaks",
            "zz-conflicts-virtual",
            "zz-needs-gone",
            "zz-virtual-versioned"
        ]
    );
}
