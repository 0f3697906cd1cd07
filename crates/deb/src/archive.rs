//! A `.deb`: an `ar` archive of `debian-binary`, `control.tar.*` and
//! `data.tar.*` (see deb(5)), read whole into memory with bounded sizes.

use crate::{Error, Stanza, err};
use std::collections::BTreeMap;
use std::io::Read;

/// Bounds on what a package may expand to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Total bytes after decompression, control and data together.
    pub max_unpacked_bytes: u64,
    /// Entries in the data tar.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked_bytes: 512 << 20,
            max_entries: 100_000,
        }
    }
}

/// What one data-tar entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file and its contents.
    File(Vec<u8>),
    /// A directory.
    Dir,
    /// A symlink and its target, as written in the archive.
    Symlink(String),
    /// A hardlink to an earlier entry (absolute path, like [`Entry::path`]).
    Hardlink(String),
}

/// One entry of the data tar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Absolute path without a trailing slash; the archive root is `/.`,
    /// as dpkg writes it in `info/<pkg>.list`.
    pub path: String,
    /// File, directory or link.
    pub kind: EntryKind,
    /// Permission bits, including setuid/setgid/sticky.
    pub mode: u32,
    /// Owner from the tar header.
    pub uid: u32,
    /// Group from the tar header.
    pub gid: u32,
}

/// A parsed binary package.
#[derive(Clone, Debug)]
pub struct Deb {
    /// The `control` file.
    pub control: Stanza,
    /// The other control members (`md5sums`, `conffiles`, `postinst`, ...), by name.
    pub control_files: BTreeMap<String, Vec<u8>>,
    /// The data tar, in archive order (the order of dpkg's `.list`).
    pub data: Vec<Entry>,
}

impl Deb {
    /// Parse a `.deb`.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Deb, Error> {
        let (control, data) = unpack(bytes, limits, true)?;
        Self::from_tars(&control, data.as_deref(), limits)
    }

    /// Parse only the control archive (`data` is left empty): enough to
    /// know the package, version and scripts, without inflating the files.
    pub fn parse_control(bytes: &[u8], limits: &Limits) -> Result<Deb, Error> {
        Self::from_tars(&Self::control_tar(bytes, limits)?, None, limits)
    }

    /// The decompressed `control.tar` member of a well-formed `.deb`.
    pub fn control_tar(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
        Ok(unpack(bytes, limits, false)?.0)
    }

    /// The decompressed `data.tar` member of a well-formed `.deb`.
    pub fn data_tar(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
        let (_, data) = unpack(bytes, limits, true)?;
        Ok(data.expect("unpack inflates data when asked"))
    }

    /// Parse from members decompressed before by [`Deb::control_tar`] and
    /// [`Deb::data_tar`] (and kept, say, by the host's derived-data store):
    /// the same result as [`Deb::parse`] (or, without `data_tar`,
    /// [`Deb::parse_control`]) without inflating them again.
    pub fn from_tars(
        control_tar: &[u8],
        data_tar: Option<&[u8]>,
        limits: &Limits,
    ) -> Result<Deb, Error> {
        let total = control_tar.len() as u64 + data_tar.map_or(0, |d| d.len() as u64);
        if total > limits.max_unpacked_bytes {
            return Err(err(format!(
                "control.tar and data.tar expand beyond the limit of {} bytes",
                limits.max_unpacked_bytes
            )));
        }
        let mut control_files = BTreeMap::new();
        for e in entries(control_tar, limits.max_entries, "control.tar")? {
            if let EntryKind::File(data) = e.kind {
                let name = e.path.trim_start_matches('/').to_owned();
                if !name.contains('/') {
                    control_files.insert(name, data);
                }
            }
        }
        let control = control_files
            .remove("control")
            .ok_or_else(|| err("control.tar has no control file"))?;
        let control = String::from_utf8(control).map_err(|_| err("control is not UTF-8"))?;
        let control = Stanza::parse_all(&control)?
            .into_iter()
            .next()
            .ok_or_else(|| err("control file is empty"))?;
        for f in ["Package", "Version", "Architecture"] {
            if control.get(f).is_none() {
                return Err(err(format!("control file has no {f} field")));
            }
        }
        let data = match data_tar {
            Some(t) => entries(t, limits.max_entries, "data.tar")?,
            None => Vec::new(),
        };
        Ok(Deb {
            control,
            control_files,
            data,
        })
    }

    /// `Package`.
    pub fn package(&self) -> &str {
        self.control.get("Package").unwrap_or_default()
    }

    /// `Version`.
    pub fn version(&self) -> &str {
        self.control.get("Version").unwrap_or_default()
    }

    /// `Architecture`.
    pub fn architecture(&self) -> &str {
        self.control.get("Architecture").unwrap_or_default()
    }

    /// The name of this package's files under `/var/lib/dpkg/info/`:
    /// `pkg:arch` for `Multi-Arch: same`, else `pkg`.
    pub fn info_name(&self) -> String {
        if self.control.get("Multi-Arch") == Some("same") {
            format!("{}:{}", self.package(), self.architecture())
        } else {
            self.package().to_owned()
        }
    }

    /// The conffiles this package declares (absolute paths).
    pub fn conffiles(&self) -> Vec<String> {
        self.control_files
            .get("conffiles")
            .map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(str::trim)
                    // `remove-on-upgrade /path` entries (dpkg 1.20.1+) are not conffiles to install.
                    .filter(|l| l.starts_with('/'))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A file's entry by absolute path.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.data.iter().find(|e| e.path == path)
    }
}

/// Walk the ar member headers before the `ar` crate does. deb(5) members
/// have plain names, but ar 0.9 trusts GNU and BSD extended names: a name
/// index past its table panics (found by fuzz/deb_archive), and a name
/// table or BSD name allocates the size its header claims. So those are
/// refused here, as is a member larger than what is left of the file.
/// The decompressed control tar and, if `with_data`, data tar of a `.deb`
/// whose format version and members are checked, within `limits`.
fn unpack(
    bytes: &[u8],
    limits: &Limits,
    with_data: bool,
) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
    let mut budget = limits.max_unpacked_bytes;
    let mut version = None;
    let mut control_tar = None;
    let mut data_tar = None;
    for (name, raw) in members(bytes)? {
        if name == "debian-binary" {
            version = Some(raw);
        } else if let Some(c) = name.strip_prefix("control.tar") {
            control_tar = Some(decompress(c, &raw, &mut budget, &name)?);
        } else if let Some(c) = name.strip_prefix("data.tar") {
            data_tar = Some(match with_data {
                true => Some(decompress(c, &raw, &mut budget, &name)?),
                false => None,
            });
        }
    }
    match version.as_deref() {
        Some(v) if v.starts_with(b"2.") => {}
        Some(v) => {
            return Err(err(format!(
                "unsupported deb format version {:?}",
                String::from_utf8_lossy(v).trim()
            )));
        }
        None => return Err(err("not a .deb: no debian-binary member")),
    }
    let control_tar = control_tar.ok_or_else(|| err("not a .deb: no control.tar member"))?;
    let data_tar = data_tar.ok_or_else(|| err("not a .deb: no data.tar member"))?;
    Ok((control_tar, data_tar))
}

/// The members of the `ar` archive by name, in order. Members other than
/// `debian-binary`, `control.tar.*` and `data.tar.*` (signatures,
/// `_gpgbuilder`) are ignored by the callers, as dpkg does.
fn members(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    check_ar_headers(bytes)?;
    let mut ar = ar::Archive::new(bytes);
    let mut out = Vec::new();
    while let Some(member) = ar.next_entry() {
        let mut member = member.map_err(|e| err(format!("not a .deb (ar archive): {e}")))?;
        let name = String::from_utf8_lossy(member.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        let mut raw = Vec::new();
        member
            .read_to_end(&mut raw)
            .map_err(|e| err(format!("reading ar member {name}: {e}")))?;
        out.push((name, raw));
    }
    Ok(out)
}

fn check_ar_headers(bytes: &[u8]) -> Result<(), Error> {
    let Some(mut rest) = bytes.strip_prefix(b"!<arch>\n") else {
        return Ok(()); // the ar crate names what is wrong
    };
    while !rest.is_empty() {
        let Some(h) = rest.get(..60) else {
            return Ok(());
        };
        let name = String::from_utf8_lossy(&h[..16]).trim_end().to_owned();
        if name.starts_with('/') || name.starts_with("#1/") {
            return Err(err(format!(
                "not a .deb: ar member {name:?} uses an extended name (GNU or BSD), which packages never have"
            )));
        }
        let Some(size) = std::str::from_utf8(&h[48..58])
            .ok()
            .and_then(|s| s.trim_end().parse::<usize>().ok())
        else {
            return Ok(());
        };
        let left = rest.len() - 60;
        if size > left {
            return Err(err(format!(
                "not a .deb: ar member {name:?} claims {size} bytes, but only {left} follow"
            )));
        }
        // Members are 2-byte aligned; the last one's padding may be missing.
        rest = rest.get(60 + size + size % 2..).unwrap_or_default();
    }
    Ok(())
}

fn decompress(suffix: &str, raw: &[u8], budget: &mut u64, name: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let limit = *budget + 1;
    let result = match suffix {
        "" => (raw).take(limit).read_to_end(&mut out).map(|_| ()),
        ".gz" => flate2::read::GzDecoder::new(raw)
            .take(limit)
            .read_to_end(&mut out)
            .map(|_| ()),
        ".xz" => {
            let mut w = Bounded {
                out: &mut out,
                limit,
            };
            lzma_rs::xz_decompress(&mut std::io::BufReader::new(raw), &mut w)
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
        ".zst" => ruzstd::decoding::StreamingDecoder::new(raw)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|d| d.take(limit).read_to_end(&mut out).map(|_| ())),
        other => {
            return Err(err(format!(
                "{name}: unsupported compression {other:?} (dpkg uses gz, xz or zst)"
            )));
        }
    };
    result.map_err(|e| err(format!("{name}: {e}")))?;
    if out.len() as u64 > *budget {
        return Err(err(format!(
            "{name} expands beyond the limit of {} bytes",
            *budget
        )));
    }
    *budget -= out.len() as u64;
    Ok(out)
}

/// A writer that refuses to grow past `limit` bytes (for decoders that push).
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    limit: u64,
}

impl std::io::Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.out.len() + buf.len()) as u64 > self.limit {
            return Err(std::io::Error::other("decompressed size over the limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `./usr/bin/x`, `usr/bin/x/` or `/usr/bin/x` → `/usr/bin/x`; `./` → `/.`.
/// Refuses `..` and empty components so a path can never leave the root.
pub(crate) fn normalize(raw: &str) -> Result<String, Error> {
    let mut out = String::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(err(format!("path {raw:?} contains `..`"))),
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    Ok(if out.is_empty() { "/.".into() } else { out })
}

fn entries(tar_bytes: &[u8], max: usize, what: &str) -> Result<Vec<Entry>, Error> {
    let mut ar = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    let e = |m: String| err(format!("{what}: {m}"));
    for entry in ar.entries().map_err(|x| e(x.to_string()))? {
        let mut entry = entry.map_err(|x| e(x.to_string()))?;
        if out.len() >= max {
            return Err(e(format!("more than {max} entries")));
        }
        let raw = entry.path_bytes();
        let raw = std::str::from_utf8(&raw)
            .map_err(|_| e("a path is not UTF-8".into()))?
            .to_owned();
        let path = normalize(&raw).map_err(|x| e(x.0))?;
        let h = entry.header();
        let mode = h.mode().map_err(|x| e(format!("{raw}: {x}")))? & 0o7777;
        let id = |v: std::io::Result<u64>| -> Result<u32, Error> {
            let v = v.map_err(|x| e(format!("{raw}: {x}")))?;
            u32::try_from(v).map_err(|_| e(format!("{raw}: owner id {v} is out of range")))
        };
        let uid = id(h.uid())?;
        let gid = id(h.gid())?;
        let link = || -> Result<String, Error> {
            let l = entry
                .link_name_bytes()
                .ok_or_else(|| e(format!("{raw}: link without a target")))?;
            String::from_utf8(l.into_owned()).map_err(|_| e(format!("{raw}: target is not UTF-8")))
        };
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .map_err(|x| e(format!("{raw}: {x}")))?;
                EntryKind::File(data)
            }
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink(link()?),
            tar::EntryType::Link => EntryKind::Hardlink(normalize(&link()?).map_err(|x| e(x.0))?),
            other => {
                return Err(e(format!(
                    "{raw}: unsupported entry type {other:?} (devices and fifos are not installed by recipes)"
                )));
            }
        };
        out.push(Entry {
            path,
            kind,
            mode,
            uid,
            gid,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_like_dpkg_list() {
        assert_eq!(normalize("./").unwrap(), "/.");
        assert_eq!(normalize("./usr/lib/").unwrap(), "/usr/lib");
        assert_eq!(normalize("usr//x").unwrap(), "/usr/x");
        assert!(normalize("./usr/../etc").is_err());
    }
}

#[cfg(test)]
mod hostile {
    //! Crafted packages: each must be refused with an error naming the
    //! problem, never a panic or an unbounded allocation.
    use super::*;
    use std::io::Write;

    fn tar_gz(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            // Bypass the tar crate's own path checks: the point is a hostile name.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    fn deb(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut a = ar::Builder::new(Vec::new());
        for (name, data) in members {
            let h = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
            a.append(&h, data.as_slice()).unwrap();
        }
        a.into_inner().unwrap()
    }

    const CONTROL: &[u8] = b"Package: x\nVersion: 1\nArchitecture: amd64\n";

    fn good_control() -> Vec<u8> {
        tar_gz(&[("./control", tar::EntryType::Regular, CONTROL, "")])
    }

    fn parse(members: &[(&str, Vec<u8>)]) -> Result<Deb, Error> {
        Deb::parse(&deb(members), &Limits::default())
    }

    #[test]
    fn a_good_package_parses() {
        let d = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", good_control()),
            (
                "data.tar.gz",
                tar_gz(&[("./usr/bin/x", tar::EntryType::Regular, b"x", "")]),
            ),
        ])
        .unwrap();
        assert_eq!(d.package(), "x");
        assert_eq!(d.data[0].path, "/usr/bin/x");
    }

    #[test]
    fn members_decompressed_before_parse_the_same() {
        let bytes = deb(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", good_control()),
            (
                "data.tar.gz",
                tar_gz(&[("./usr/bin/x", tar::EntryType::Regular, b"x", "")]),
            ),
        ]);
        let limits = Limits::default();
        let control = Deb::control_tar(&bytes, &limits).unwrap();
        let data = Deb::data_tar(&bytes, &limits).unwrap();
        let given = Deb::from_tars(&control, Some(&data), &limits).unwrap();
        let whole = Deb::parse(&bytes, &limits).unwrap();
        assert_eq!(given.data, whole.data);
        assert_eq!(given.control_files, whole.control_files);
        let only = Deb::from_tars(&control, None, &limits).unwrap();
        assert_eq!(
            only.control,
            Deb::parse_control(&bytes, &limits).unwrap().control
        );
        assert!(only.data.is_empty());
        // The given tars still count against the limit.
        let small = Limits {
            max_unpacked_bytes: (control.len() + data.len()) as u64 - 1,
            ..limits
        };
        let e = Deb::from_tars(&control, Some(&data), &small).unwrap_err();
        assert!(e.to_string().contains("beyond the limit"), "{e}");
    }

    #[test]
    fn dotdot_in_data_is_refused() {
        let e = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", good_control()),
            (
                "data.tar.gz",
                tar_gz(&[("./../../etc/passwd", tar::EntryType::Regular, b"x", "")]),
            ),
        ])
        .unwrap_err();
        assert!(e.0.contains("`..`"), "{e}");
    }

    #[test]
    fn a_hardlink_out_of_the_root_is_refused() {
        let e = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", good_control()),
            (
                "data.tar.gz",
                tar_gz(&[("./x", tar::EntryType::Link, b"", "../../etc/shadow")]),
            ),
        ])
        .unwrap_err();
        assert!(e.0.contains("`..`"), "{e}");
    }

    #[test]
    fn devices_are_refused() {
        let e = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", good_control()),
            (
                "data.tar.gz",
                tar_gz(&[("./dev/sda", tar::EntryType::Block, b"", "")]),
            ),
        ])
        .unwrap_err();
        assert!(e.0.contains("unsupported entry type"), "{e}");
    }

    #[test]
    fn a_decompression_bomb_hits_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = tar_gz(&[("./big", tar::EntryType::Regular, &zeros, "")]);
        let e = Deb::parse(
            &deb(&[
                ("debian-binary", b"2.0\n".to_vec()),
                ("control.tar.gz", good_control()),
                ("data.tar.gz", bomb),
            ]),
            &Limits {
                max_unpacked_bytes: 1 << 20,
                max_entries: 10,
            },
        )
        .unwrap_err();
        assert!(e.0.contains("beyond the limit"), "{e}");
    }

    #[test]
    fn missing_or_odd_members_are_named() {
        let e = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("data.tar.gz", good_control()),
        ])
        .unwrap_err();
        assert!(e.0.contains("no control.tar"), "{e}");
        let e = parse(&[("debian-binary", b"3.0\n".to_vec())]).unwrap_err();
        assert!(e.0.contains("unsupported deb format version"), "{e}");
        let e = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.bz2", good_control()),
        ])
        .unwrap_err();
        assert!(e.0.contains("unsupported compression"), "{e}");
        let e = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            (
                "control.tar.gz",
                tar_gz(&[("./control", tar::EntryType::Regular, b"Package: x\n", "")]),
            ),
            ("data.tar.gz", good_control()),
        ])
        .unwrap_err();
        assert!(e.0.contains("no Version field"), "{e}");
        assert!(Deb::parse(b"not an ar archive at all", &Limits::default()).is_err());
        assert!(Deb::parse(&[], &Limits::default()).is_err());
    }

    /// Found by `fuzz/deb_archive` (see docs/fuzzing.md): an xz stream
    /// whose footer says its index is 2^32 * 4 bytes made lzma-rs 0.3.0
    /// panic with "attempt to add with overflow" in builds with overflow checks.
    #[test]
    fn an_xz_footer_with_the_largest_backward_size_is_an_error() {
        // `xz` of nothing, with the footer's Backward Size set to 0xffffffff.
        let mut xz =
            hex::decode("fd377a585a0000016922de36000000001cdf44219042990d010000000001595a")
                .unwrap();
        xz[24..28].copy_from_slice(&[0xff; 4]);
        let e = parse(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.xz", xz),
            ("data.tar.gz", good_control()),
        ])
        .unwrap_err();
        assert!(e.0.contains("control.tar.xz"), "{e}");
    }

    /// Found by `fuzz/deb_archive` (docs/fuzzing.md): the ar crate panicked
    /// ("range start index 10000000000 out of range") on a GNU name index
    /// past the name table, and allocates whatever a name table claims.
    #[test]
    fn extended_ar_names_and_oversized_members_are_refused() {
        let member = |name: &str, size: &str, data: &[u8]| {
            let mut h = format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
                0, 0, 0, 100644
            )
            .into_bytes();
            h.extend_from_slice(data);
            h
        };
        let start = [
            b"!<arch>\n".to_vec(),
            member("debian-binary", "4", b"2.0\n"),
        ]
        .concat();
        for (hostile, says) in [
            (member("/10000000000", "0", b""), "extended name"),
            (member("//", "9999999999", b""), "extended name"),
            (member("#1/999999999", "0", b""), "extended name"),
            (
                member("control.tar.gz", "9999999999", b"x"),
                "claims 9999999999 bytes",
            ),
        ] {
            let bytes = [start.clone(), hostile].concat();
            for parse in [Deb::parse, Deb::parse_control] {
                let e = parse(&bytes, &Limits::default()).unwrap_err();
                assert!(e.0.contains(says), "{e}");
            }
        }
    }

    #[test]
    fn truncation_anywhere_is_an_error_not_a_panic() {
        let full = deb(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", good_control()),
            (
                "data.tar.gz",
                tar_gz(&[("./usr/bin/x", tar::EntryType::Regular, b"hello", "")]),
            ),
        ]);
        for n in 0..full.len() {
            let _ = Deb::parse(&full[..n], &Limits::default());
        }
    }
}
