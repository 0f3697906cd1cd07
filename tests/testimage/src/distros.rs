//! Roots of other distributions, for the inventory readers.
//!
//! Alpine: no apk-tools runs on Debian, so the root is hand-made: an
//! `installed` database in the exact stanza format apk-tools writes (fields
//! and values copied from the shape of Alpine 3.20's busybox, musl and
//! OpenSSL packages) and Alpine's os-release. RPM: the real database in
//! `tests/fixtures/rpmdb` (see its SOURCE.md), and stand-ins for the older
//! Berkeley DB and ndb layouts, which rootwasm only recognises.

use std::path::Path;

/// One apk package: (name, version, origin, license, files under `dir`).
pub type ApkPackage<'a> = (&'a str, &'a str, &'a str, &'a str, (&'a str, &'a [&'a str]));

/// Packages of an Alpine 3.20 base image, as `apk info -v` would list them.
pub const ALPINE_PACKAGES: &[ApkPackage<'static>] = &[
    (
        "busybox",
        "1.36.1-r29",
        "busybox",
        "GPL-2.0-only",
        ("bin", &["busybox"]),
    ),
    (
        "ssl_client",
        "1.36.1-r29",
        "busybox",
        "GPL-2.0-only",
        ("usr/bin", &["ssl_client"]),
    ),
    (
        "musl",
        "1.2.5-r0",
        "musl",
        "MIT",
        ("lib", &["ld-musl-x86_64.so.1"]),
    ),
    (
        "libcrypto3",
        "3.3.1-r0",
        "openssl",
        "Apache-2.0",
        ("usr/lib", &["libcrypto.so.3"]),
    ),
    (
        "libssl3",
        "3.3.1-r0",
        "openssl",
        "Apache-2.0",
        ("usr/lib", &["libssl.so.3"]),
    ),
    (
        "zlib",
        "1.3.1-r1",
        "zlib",
        "Zlib",
        ("lib", &["libz.so.1.3.1"]),
    ),
    (
        "ca-certificates-bundle",
        "20240226-r0",
        "ca-certificates",
        "MPL-2.0 AND MIT",
        ("etc/ssl/certs", &["ca-certificates.crt"]),
    ),
    (
        "openssh-client-default",
        "9.7_p1-r3",
        "openssh",
        "SSH-OpenSSH",
        ("usr/bin", &["ssh"]),
    ),
];

/// The `installed` database for `packages`.
pub fn apk_installed(packages: &[ApkPackage<'_>]) -> String {
    let mut db = String::new();
    for (i, (name, version, origin, license, (dir, files))) in packages.iter().enumerate() {
        db.push_str(&format!(
            "C:Q1{i:026}AAAAAAAAAAAAAAAAAAAAA=\nP:{name}\nV:{version}\nA:x86_64\nS:{size}\nI:{isize}\nT:{name} (test root)\nU:https://alpinelinux.org\nL:{license}\no:{origin}\nm:Natanael Copa <ncopa@alpinelinux.org>\nt:1717000000\nc:0123456789abcdef0123456789abcdef01234567\nD:so:libc.musl-x86_64.so.1\np:so:{name}.so.{i}\nF:{dir}\n",
            size = 1000 + i,
            isize = 4096 * (i + 1),
        ));
        for f in *files {
            db.push_str(&format!(
                "R:{f}\na:0:0:755\nZ:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
            ));
        }
        db.push('\n');
    }
    db
}

/// An Alpine 3.20 root: os-release, the apk database, and each package's files (empty).
pub fn alpine_root(root: &Path, packages: &[ApkPackage<'_>]) {
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\nHOME_URL=\"https://alpinelinux.org/\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    std::fs::write(root.join("lib/apk/db/installed"), apk_installed(packages)).unwrap();
    for (_, _, _, _, (dir, files)) in packages {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for f in *files {
            std::fs::write(root.join(dir).join(f), b"").unwrap();
        }
    }
}

/// The vendored RPM root (`tests/fixtures/rpmdb/rootfs` under `repo`).
pub fn rpm_root(repo: &Path) -> std::path::PathBuf {
    repo.join("tests/fixtures/rpmdb/rootfs")
}

/// An rpm database layout rootwasm recognises but does not read.
#[derive(Clone, Copy, Debug)]
pub enum LegacyRpmdb {
    /// `/var/lib/rpm/Packages`, Berkeley DB hash (rpm < 4.16: RHEL 7 and 8).
    BerkeleyDb,
    /// `/usr/lib/sysimage/rpm/Packages.db` (SUSE's ndb).
    Ndb,
}

/// A root with only os-release and a legacy database file (its magic bytes, then zeros).
pub fn legacy_rpm_root(root: &Path, kind: LegacyRpmdb) {
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=\"centos\"\nVERSION_ID=\"7\"\n",
    )
    .unwrap();
    let (path, mut bytes) = match kind {
        // Berkeley DB hash databases carry 0x00061561 at byte 12.
        LegacyRpmdb::BerkeleyDb => ("var/lib/rpm/Packages", {
            let mut b = vec![0u8; 4096];
            b[12..16].copy_from_slice(&0x0006_1561u32.to_le_bytes());
            b
        }),
        // ndb starts with "RpmP".
        LegacyRpmdb::Ndb => ("usr/lib/sysimage/rpm/Packages.db", b"RpmP".to_vec()),
    };
    bytes.resize(4096, 0);
    std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
    std::fs::write(root.join(path), bytes).unwrap();
}
