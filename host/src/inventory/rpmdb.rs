//! Installed RPMs, read from rpm's SQLite database (rpm >= 4.16).
//!
//! The database is `Packages(hnum, blob)`; each blob is an rpm header
//! without the lead: index count and data length (big-endian u32s), then
//! 16-byte index entries (tag, type, offset, count), then the data store.
//!
//! The image reader hands us bytes, so the database is opened in memory
//! with SQLite's deserialize (read-only, defensive mode, no trusted schema)
//! rather than written to a temp file: nothing of the image touches the
//! host's disk and no host path appears anywhere. The file is untrusted:
//! sizes are bounded, every header offset is checked, and a bad header or a
//! database SQLite refuses becomes a warning naming the file, never a panic.
//!
//! Berkeley DB (`Packages`, rpm < 4.16) and ndb (`Packages.db`, SUSE) are
//! not read yet; finding one is a warning too.

use super::Package;
use rusqlite::{Connection, OpenFlags};

/// Where rpm keeps its SQLite database (the first is rpm's historical dbpath,
/// the second the one Fedora and RHEL 9 use).
pub const SQLITE_PATHS: &[&str] = &[
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
];

/// Older databases rootwasm recognises but cannot read yet.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("/var/lib/rpm/Packages", "Berkeley DB"),
    ("/usr/lib/sysimage/rpm/Packages", "Berkeley DB"),
    ("/var/lib/rpm/Packages.db", "ndb"),
    ("/usr/lib/sysimage/rpm/Packages.db", "ndb"),
];

/// Largest database read (bigger than any real distro's, a few hundred MB at most).
pub const MAX_DB_BYTES: u64 = 512 << 20;
/// rpm's own limits on a header: index entries and data bytes.
const MAX_INDEX: usize = 0x0000_ffff;
const MAX_DATA: usize = 0x0fff_ffff;

const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const LICENSE: u32 = 1014;
const ARCH: u32 = 1022;
const SOURCERPM: u32 = 1044;

const INT32: u32 = 4;
const STRING: u32 = 6;
const I18NSTRING: u32 = 9;

/// A parsed header: the index and the data store, both bounds-checked.
struct Header<'a> {
    index: Vec<(u32, u32, usize, u32)>,
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

impl<'a> Header<'a> {
    fn parse(blob: &'a [u8]) -> Result<Self, String> {
        let il = be32(blob, 0).ok_or("shorter than its 8-byte preamble")? as usize;
        let dl = be32(blob, 4).ok_or("shorter than its 8-byte preamble")? as usize;
        if il == 0 || il > MAX_INDEX || dl > MAX_DATA {
            return Err(format!(
                "implausible sizes: {il} index entries, {dl} data bytes"
            ));
        }
        let start = 8 + il * 16;
        let data = blob
            .get(start..start + dl)
            .ok_or_else(|| format!("{} bytes, but its index says {}", blob.len(), start + dl))?;
        let index = (0..il)
            .map(|i| {
                let e = 8 + i * 16;
                let f = |k: usize| be32(blob, e + 4 * k).expect("inside the checked index");
                (f(0), f(1), f(2) as usize, f(3))
            })
            .collect();
        Ok(Header { index, data })
    }

    fn entry(&self, tag: u32) -> Option<(u32, usize, u32)> {
        self.index
            .iter()
            .find(|(t, ..)| *t == tag)
            .map(|&(_, ty, off, n)| (ty, off, n))
    }

    /// A STRING tag (or the first string of an I18NSTRING one).
    fn string(&self, tag: u32) -> Result<Option<String>, String> {
        let Some((ty, off, _)) = self.entry(tag) else {
            return Ok(None);
        };
        if ty != STRING && ty != I18NSTRING {
            return Err(format!("tag {tag} has type {ty}, not a string"));
        }
        let rest = self
            .data
            .get(off..)
            .ok_or_else(|| format!("tag {tag} points outside the data"))?;
        let end = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| format!("tag {tag} is not NUL-terminated"))?;
        Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
    }

    fn int32(&self, tag: u32) -> Result<Option<u32>, String> {
        let Some((ty, off, n)) = self.entry(tag) else {
            return Ok(None);
        };
        if ty != INT32 || n == 0 {
            return Err(format!(
                "tag {tag} has type {ty} and {n} values, not one INT32"
            ));
        }
        be32(self.data, off)
            .map(Some)
            .ok_or_else(|| format!("tag {tag} points outside the data"))
    }
}

/// One header as a package; `Ok(None)` for rpm's `gpg-pubkey` pseudo-packages.
fn package(blob: &[u8], location: &str) -> Result<Option<Package>, String> {
    let h = Header::parse(blob)?;
    let need = |tag, what| h.string(tag)?.ok_or_else(|| format!("no {what}"));
    let name = need(NAME, "name")?;
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let (version, release) = (need(VERSION, "version")?, need(RELEASE, "release")?);
    let version = match h.int32(EPOCH)? {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    // SOURCERPM is "<name>-<version>-<release>.src.rpm": keep the name.
    let source = h.string(SOURCERPM)?.and_then(|s| {
        let stem = s
            .strip_suffix(".src.rpm")
            .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
        let (nv, _release) = stem.rsplit_once('-')?;
        Some(nv.rsplit_once('-')?.0.to_owned())
    });
    Ok(Some(Package {
        ecosystem: crate::ecosystem::Ecosystem::Rpm,
        name,
        version,
        arch: h.string(ARCH)?,
        source,
        licenses: h.string(LICENSE)?.into_iter().collect(),
        location: location.into(),
    }))
}

/// One header blob as a package, for the fuzzer (`fuzz/fuzz_targets/rpm_header.rs`).
#[doc(hidden)]
pub fn fuzz_header(blob: &[u8]) -> Result<Option<Package>, String> {
    package(blob, "/fuzz")
}

/// Read the packages from an `rpmdb.sqlite`'s bytes. Problems with single
/// headers are returned as warnings beside the packages read.
pub fn read(db: &[u8], location: &str) -> Result<(Vec<Package>, Vec<String>), String> {
    let fail = |e: rusqlite::Error| {
        format!(
            "{location}: cannot read it as rpm's SQLite database ({e}); the image's rpmdb may be damaged"
        )
    };
    let mut bytes = db.to_vec();
    // rpm keeps the database in WAL mode; an in-memory copy cannot use WAL,
    // so mark it as a rollback-journal database (bytes 18 and 19 of the header).
    if bytes.len() >= 100 && bytes.starts_with(b"SQLite format 3\0") {
        bytes[18] = 1;
        bytes[19] = 1;
    }
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(fail)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        false,
    )
    .map_err(fail)?;
    conn.deserialize_read_exact("main", bytes.as_slice(), bytes.len(), true)
        .map_err(fail)?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(fail)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .map_err(fail)?;
    let (mut out, mut warnings) = (Vec::new(), Vec::new());
    for row in rows {
        let (hnum, blob) = row.map_err(fail)?;
        match package(&blob, location) {
            Ok(p) => out.extend(p),
            Err(e) => warnings.push(format!(
                "{location}: header {hnum} skipped: {e}; the other packages were read"
            )),
        }
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header built by hand: (tag, type, bytes) in order.
    fn header(entries: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, bytes) in entries {
            for v in [*tag, *ty, data.len() as u32, 1] {
                index.extend(v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend((entries.len() as u32).to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn a_header_becomes_a_package() {
        let h = header(&[
            (NAME, STRING, b"openssl-libs\0"),
            (VERSION, STRING, b"3.0.7\0"),
            (RELEASE, STRING, b"27.el9\0"),
            (EPOCH, INT32, &1u32.to_be_bytes()),
            (ARCH, STRING, b"x86_64\0"),
            (LICENSE, STRING, b"Apache-2.0\0"),
            (SOURCERPM, STRING, b"openssl-3.0.7-27.el9.src.rpm\0"),
        ]);
        let p = package(&h, "/db").unwrap().unwrap();
        assert_eq!(p.version, "1:3.0.7-27.el9");
        assert_eq!(p.source.as_deref(), Some("openssl"));
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        assert_eq!(p.licenses, ["Apache-2.0"]);
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        let good = header(&[
            (NAME, STRING, b"a\0"),
            (VERSION, STRING, b"1\0"),
            (RELEASE, STRING, b"1\0"),
        ]);
        assert!(package(&good, "/db").unwrap().is_some());
        // Every truncation, and every byte set to 0xff, must fail or succeed cleanly.
        for n in 0..good.len() {
            let _ = package(&good[..n], "/db");
            let mut bad = good.clone();
            bad[n] = 0xff;
            let _ = package(&bad, "/db");
        }
        assert!(package(&[0, 0, 0, 1], "/db").is_err());
        assert!(
            package(&[0xff; 16], "/db")
                .unwrap_err()
                .contains("implausible")
        );
        let unterminated = header(&[(NAME, STRING, b"abc")]);
        assert!(package(&unterminated, "/db").unwrap_err().contains("NUL"));
        let wrong_type = header(&[(NAME, INT32, &[0, 0, 0, 1])]);
        assert!(
            package(&wrong_type, "/db")
                .unwrap_err()
                .contains("not a string")
        );
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_a_clear_error() {
        let e = read(b"not a database at all", "/var/lib/rpm/rpmdb.sqlite").unwrap_err();
        assert!(e.contains("/var/lib/rpm/rpmdb.sqlite"), "{e}");
    }
}
