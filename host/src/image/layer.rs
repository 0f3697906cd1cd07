//! Reading one layer: decompress, verify both digests while streaming, and
//! index its entries without extracting anything to disk.
//!
//! Only the contents of files some recipe may read are kept (`capture`):
//! recipes declare their read scope up front, so everything else in a layer
//! is hashed and skipped. Every entry name is checked here; checks that need
//! the layers below (symlinks, hardlinks, whiteouts) are in `merge`.

use super::error::ImageError;
use super::model::{Compression, Descriptor, Digest};
use crate::journal::Sha256Hex;
use crate::rootfs::RootPath;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read};

/// Limits against decompression and tar bombs. The defaults keep the whole
/// process under 256 MiB of RSS whatever an image declares (see
/// docs/security.md, "Limits"); a legitimate image that needs more gets an
/// error naming the flag to raise.
#[derive(Clone, Copy, Debug)]
pub struct LayerLimits {
    /// Uncompressed bytes per layer.
    pub max_layer_bytes: u64,
    /// Entries per layer.
    pub max_entries: u64,
    /// Size of one captured file.
    pub max_captured_file: u64,
    /// Captured file contents held in total: per layer here, per image in
    /// [`Merged`](super::merge::Merged).
    pub max_captured_bytes: u64,
    /// Bytes of entry metadata (names, link targets, xattrs, plus a fixed
    /// cost per entry) held: per layer here, per image in `Merged`.
    pub max_index_bytes: u64,
    /// Length of an entry name or link target (PATH_MAX).
    pub max_path_bytes: u64,
    /// Components in an entry name.
    pub max_path_depth: u64,
    /// Size of one PAX extended header.
    pub max_header_bytes: u64,
}

impl Default for LayerLimits {
    fn default() -> Self {
        LayerLimits {
            max_layer_bytes: 16 << 30,
            max_entries: 1_000_000,
            max_captured_file: 48 << 20,
            max_captured_bytes: 48 << 20,
            max_index_bytes: 48 << 20,
            max_path_bytes: 4096,
            max_path_depth: 256,
            max_header_bytes: 1 << 20,
        }
    }
}

/// What one entry costs to hold besides its strings: the `Entry`, its node
/// in the merged tree and their map overhead (measured, rounded up).
pub const ENTRY_OVERHEAD: u64 = 320;

/// What a tar entry is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntryKind {
    /// Regular file; `content` is set if it was captured.
    File {
        /// sha256 of the contents, if captured.
        content: Option<Sha256Hex>,
    },
    /// Directory.
    Dir,
    /// Symlink to `target`.
    Symlink {
        /// Link target, as stored.
        target: String,
    },
    /// Hardlink to another entry (path inside the root).
    Hardlink {
        /// The linked path.
        target: RootPath,
    },
    /// Character device.
    CharDevice(u32, u32),
    /// Block device.
    BlockDevice(u32, u32),
    /// Named pipe.
    Fifo,
    /// `.wh.<name>`: delete `name` from lower layers.
    Whiteout,
    /// `.wh..wh..opq`: hide the lower layers' contents of this directory.
    Opaque,
}

/// One indexed entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Path; for whiteouts the path they delete, for opaque markers their directory.
    pub path: RootPath,
    /// The name as stored, for messages.
    pub name: String,
    /// Kind.
    pub kind: EntryKind,
    /// Permission bits incl. setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// File size.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: u64,
    /// Extended attributes (PAX `SCHILY.xattr.*`), sorted.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// A verified, indexed layer.
#[derive(Debug, Default)]
pub struct LayerIndex {
    /// Entries in tar order.
    pub entries: Vec<Entry>,
    /// Captured file contents.
    pub contents: BTreeMap<Sha256Hex, Vec<u8>>,
}

/// Counts and hashes what passes through.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
    limit: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        if self.bytes > self.limit {
            return Err(io::Error::other(LimitHit));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct LimitHit;
impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("size limit")
    }
}
impl std::error::Error for LimitHit {}

/// Normalise a tar entry name into a root path, refusing names that climb out.
fn entry_path(raw: &[u8], layer: &str) -> Result<String, ImageError> {
    let name = std::str::from_utf8(raw).map_err(|_| ImageError::Entry {
        layer: layer.into(),
        entry: String::from_utf8_lossy(raw).into_owned(),
        reason: "entry name is not UTF-8".into(),
    })?;
    let err = |reason: &str| ImageError::Entry {
        layer: layer.into(),
        entry: name.into(),
        reason: reason.into(),
    };
    if name.starts_with('/') {
        return Err(err(
            "absolute entry name; layer entries must be relative to the root",
        ));
    }
    if name.contains('\0') {
        return Err(err("entry name contains NUL"));
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(err(
                    "entry name contains '..'; it could land outside the root",
                ));
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the blob is truncated".into(),
        _ => format!("cannot read the layer: {e}"),
    }
}

/// Read, verify and index one layer. `capture` says which file paths' contents to keep.
pub fn read_layer(
    reader: Box<dyn Read + Send + '_>,
    desc: &Descriptor,
    diff_id: &Digest,
    limits: &LayerLimits,
    capture: &dyn Fn(&RootPath) -> bool,
) -> Result<LayerIndex, ImageError> {
    let layer = desc.digest.to_string();
    let compression =
        Compression::of_media_type(&desc.media_type).ok_or_else(|| ImageError::Layer {
            layer: layer.clone(),
            reason: format!(
                "media type {:?} is not a layer type rootwasm reads (tar, tar+gzip, tar+zstd)",
                desc.media_type
            ),
        })?;
    let mut outer = Hashing {
        inner: reader,
        hash: Sha256::new(),
        bytes: 0,
        limit: desc.size.saturating_add(1),
    };
    let result = index_decoded(&mut outer, compression, &layer, diff_id, limits, capture)?;
    io::copy(&mut outer, &mut io::sink()).map_err(|e| ImageError::Layer {
        layer: layer.clone(),
        reason: io_reason(&e),
    })?;
    let size = outer.bytes;
    let actual = Digest::from_hasher(outer.hash);
    if actual != desc.digest || size != desc.size {
        return Err(ImageError::DigestMismatch {
            what: format!("layer blob {layer}"),
            expected: format!("{} ({} bytes)", desc.digest, desc.size),
            actual: format!("{actual} ({size} bytes)"),
        });
    }
    Ok(result)
}

/// Decompress and index the layer, verifying the uncompressed bytes
/// against `diff_id`.
fn index_decoded<R: Read>(
    outer: &mut Hashing<R>,
    compression: Compression,
    layer: &str,
    diff_id: &Digest,
    limits: &LayerLimits,
    capture: &dyn Fn(&RootPath) -> bool,
) -> Result<LayerIndex, ImageError> {
    let decoded: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(&mut *outer),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut *outer)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(&mut *outer).map_err(|e| {
                ImageError::Layer {
                    layer: layer.to_owned(),
                    reason: format!("zstd: {e}"),
                }
            })?)
        }
    };
    let mut inner = Hashing {
        inner: decoded,
        hash: Sha256::new(),
        bytes: 0,
        limit: limits.max_layer_bytes,
    };
    let index = index_tar(&mut inner, layer, limits, capture);
    let index = match index {
        Ok(i) => i,
        // The tar error is only a symptom of the cut-off stream.
        Err(_) if inner.bytes > limits.max_layer_bytes => {
            return Err(ImageError::Limit {
                layer: layer.to_owned(),
                reason: format!("uncompressed size exceeds {} bytes", limits.max_layer_bytes),
                flag: "--max-layer-bytes",
            });
        }
        Err(e) => return Err(e),
    };
    // The tar end marker may be followed by padding: hash it all.
    io::copy(&mut inner, &mut io::sink()).map_err(|e| ImageError::Layer {
        layer: layer.to_owned(),
        reason: io_reason(&e),
    })?;
    let actual = Digest::from_hasher(inner.hash);
    if &actual != diff_id {
        return Err(ImageError::DigestMismatch {
            what: format!("layer {layer}: uncompressed contents (diff_id)"),
            expected: diff_id.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(index)
}

/// Extension headers read so far for the next real entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

/// The value of PAX record `key`, if present.
fn pax_value<'a>(pax: Option<&'a [u8]>, key: &str) -> Result<Option<&'a [u8]>, String> {
    let Some(pax) = pax else { return Ok(None) };
    let mut found = None;
    for ext in tar::PaxExtensions::new(pax) {
        let ext = ext.map_err(|_| "malformed PAX extended header".to_owned())?;
        if ext.key_bytes() == key.as_bytes() {
            found = Some(ext.value_bytes());
        }
    }
    Ok(found)
}

fn pax_number(pax: Option<&[u8]>, key: &str) -> Result<Option<u64>, String> {
    match pax_value(pax, key)? {
        None => Ok(None),
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| format!("PAX {key} record is not a number")),
    }
}

/// A numeric header field that must fit in 32 bits (uid, gid).
fn id32(v: io::Result<u64>, what: &str) -> Result<u32, String> {
    let v = v.map_err(|_| format!("{what} field is not an octal number"))?;
    u32::try_from(v).map_err(|_| format!("{what} {v} overflows 32 bits"))
}

// The tar crate, left to itself, reads GNU long names and PAX headers whole
// into memory (a header may claim 3 GiB) and expands GNU sparse files. So
// entries are iterated raw (`Entries::raw(true)`): extension headers are
// read here against `max_path_bytes` / `max_header_bytes`, checked before
// reading against the size their header declares, and sparse entries are
// refused (Docker, containerd and BuildKit never write them). Raw mode
// cannot honour a PAX `size` that differs from the header's (the crate has
// already used the header's to find the next entry), so such an entry is
// refused rather than parsed differently from a container runtime.
fn index_tar(
    r: &mut dyn Read,
    layer: &str,
    limits: &LayerLimits,
    capture: &dyn Fn(&RootPath) -> bool,
) -> Result<LayerIndex, ImageError> {
    let mut ar = tar::Archive::new(r);
    let entries = ar
        .entries()
        .map_err(|e| ImageError::Layer {
            layer: layer.into(),
            reason: io_reason(&e),
        })?
        .raw(true);
    let mut ix = Indexer {
        layer,
        limits,
        capture,
        out: LayerIndex::default(),
        pending: Pending::default(),
        captured: 0,
        held: 0,
        count: 0,
        last: String::new(),
    };
    for (n, e) in entries.enumerate() {
        let mut e = e.map_err(|e| ix.header_error(n, &e))?;
        if !ix.extension(&mut e)? {
            ix.entry(&mut e)?;
        }
    }
    if !ix.pending.is_empty() {
        return Err(ImageError::Layer {
            layer: layer.into(),
            reason: format!(
                "the tar ends with extension headers after entry {:?} but no entry they describe",
                ix.last
            ),
        });
    }
    check_duplicates(&ix.out.entries, layer)?;
    Ok(ix.out)
}

/// One layer's indexing: the budgets spent so far and the extension
/// headers waiting for their entry.
struct Indexer<'a> {
    layer: &'a str,
    limits: &'a LayerLimits,
    capture: &'a dyn Fn(&RootPath) -> bool,
    out: LayerIndex,
    pending: Pending,
    /// File contents held.
    captured: u64,
    /// Index metadata held.
    held: u64,
    /// Real entries seen.
    count: u64,
    /// The last entry's name, for messages.
    last: String,
}

/// The header fields of one entry, checked.
struct Fields {
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
}

impl Indexer<'_> {
    fn limit(&self, reason: String, flag: &'static str) -> ImageError {
        ImageError::Limit {
            layer: self.layer.into(),
            reason,
            flag,
        }
    }

    fn layer_err(&self, reason: impl Into<String>) -> ImageError {
        ImageError::Layer {
            layer: self.layer.into(),
            reason: reason.into(),
        }
    }

    fn header_error(&self, n: usize, e: &io::Error) -> ImageError {
        self.layer_err(if e.kind() == io::ErrorKind::UnexpectedEof {
            "the blob is truncated".to_owned()
        } else if n == 0 {
            "not a tar archive (after decompression); check the layer's media type and contents"
                .to_owned()
        } else {
            // The tar crate's message may quote raw header bytes: leave them out.
            format!(
                "corrupt tar header after entry {:?} (bad checksum or a non-numeric field)",
                self.last
            )
        })
    }

    /// Read an extension header's body, refusing before reading one that
    /// declares more than `max`.
    fn read_ext<R: Read>(
        &self,
        e: &mut tar::Entry<'_, R>,
        max: u64,
        what: &str,
        flag: &'static str,
    ) -> Result<Vec<u8>, ImageError> {
        let declared = e.size();
        if declared > max {
            return Err(self.limit(
                format!(
                    "{what} after entry {:?} declares {declared} bytes, more than {max}",
                    self.last
                ),
                flag,
            ));
        }
        let mut buf = Vec::with_capacity(declared as usize);
        e.take(max)
            .read_to_end(&mut buf)
            .map_err(|x| self.layer_err(io_reason(&x)))?;
        if (buf.len() as u64) < declared {
            return Err(self.layer_err("the blob is truncated"));
        }
        Ok(buf)
    }

    /// A GNU long name or link, or a PAX header: kept for the next entry.
    /// False for a real entry.
    fn extension<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<bool, ImageError> {
        let et = e.header().entry_type();
        let header_name = String::from_utf8_lossy(&e.header().path_bytes()).into_owned();
        let ext_err = |reason: String| ImageError::Entry {
            layer: self.layer.into(),
            entry: header_name.clone(),
            reason,
        };
        match et {
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                let is_name = et == tar::EntryType::GNULongName;
                let what = if is_name {
                    "a GNU long name"
                } else {
                    "a GNU long link target"
                };
                // The body is NUL-terminated: allow one byte for it.
                let max = self.limits.max_path_bytes + 1;
                let mut v = self.read_ext(e, max, what, "--max-path-bytes")?;
                while v.last() == Some(&0) {
                    v.pop();
                }
                let slot = if is_name {
                    &mut self.pending.long_name
                } else {
                    &mut self.pending.long_link
                };
                if slot.replace(v).is_some() {
                    return Err(ext_err(format!("two {what} headers for one entry")));
                }
                Ok(true)
            }
            tar::EntryType::XHeader => {
                let v = self.read_ext(
                    e,
                    self.limits.max_header_bytes,
                    "a PAX extended header",
                    "--max-header-bytes",
                )?;
                if self.pending.pax.replace(v).is_some() {
                    return Err(ext_err("two PAX extended headers for one entry".into()));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A real entry, with the extension headers before it.
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        self.count += 1;
        if self.count > self.limits.max_entries {
            return Err(self.limit(
                format!("more than {} entries", self.limits.max_entries),
                "--max-layer-entries",
            ));
        }
        let h = e.header().clone();
        let ext = std::mem::take(&mut self.pending);
        let pax = ext.pax.as_deref();
        let (raw, name, path) = self.name_of(&h, &ext)?;
        let err = |reason: String| ImageError::Entry {
            layer: self.layer.into(),
            entry: name.clone(),
            reason,
        };
        let f = fields(&h, pax).map_err(&err)?;
        let link_raw = self.link_of(&h, &ext, &name)?;
        let xattrs = xattrs_of(pax).map_err(&err)?;
        self.held += ENTRY_OVERHEAD
            + 2 * raw.len() as u64
            + link_raw.as_ref().map_or(0, |l| l.len() as u64)
            + xattrs
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>();
        if self.held > self.limits.max_index_bytes {
            return Err(self.limit(
                format!(
                    "its index (names, link targets, xattrs of {} entries) reached entry {name:?} and needs more than {} bytes",
                    self.count, self.limits.max_index_bytes
                ),
                "--max-index-bytes",
            ));
        }
        let (path, kind) = self.kind_of(e, &h, path, f.size, link_raw, &name)?;
        if path == "/" && kind != EntryKind::Dir && kind != EntryKind::Opaque {
            return Err(err("entry replaces the root directory".into()));
        }
        self.last.clone_from(&name);
        self.out.entries.push(Entry {
            path: RootPath::lexical(&path).expect("normalised"),
            name,
            kind,
            mode: f.mode,
            uid: f.uid,
            gid: f.gid,
            size: f.size,
            mtime: f.mtime,
            xattrs,
        });
        Ok(())
    }

    /// The entry's name (raw bytes, as text, normalised path), from a GNU
    /// long name, a PAX path or the header, checked against the limits.
    fn name_of(
        &self,
        h: &tar::Header,
        ext: &Pending,
    ) -> Result<(Vec<u8>, String, String), ImageError> {
        let pax = ext.pax.as_deref();
        let header_name = String::from_utf8_lossy(&h.path_bytes()).into_owned();
        let ext_err = |reason: String| ImageError::Entry {
            layer: self.layer.into(),
            entry: header_name.clone(),
            reason,
        };
        let pax_path = pax_value(pax, "path").map_err(ext_err)?;
        let raw: Vec<u8> = match (&ext.long_name, pax_path) {
            (Some(_), Some(_)) => {
                return Err(ImageError::Entry {
                    layer: self.layer.into(),
                    entry: header_name,
                    reason: "entry has both a GNU long name and a PAX path; runtimes disagree on which wins"
                        .into(),
                });
            }
            (Some(l), None) => l.clone(),
            (None, Some(p)) => p.to_vec(),
            (None, None) => h.path_bytes().into_owned(),
        };
        let name = String::from_utf8_lossy(&raw).into_owned();
        let err = |reason: String| ImageError::Entry {
            layer: self.layer.into(),
            entry: name.clone(),
            reason,
        };
        if raw.len() as u64 > self.limits.max_path_bytes {
            return Err(self.limit(
                format!(
                    "entry name of {} bytes, more than {}",
                    raw.len(),
                    self.limits.max_path_bytes
                ),
                "--max-path-bytes",
            ));
        }
        let path = entry_path(&raw, self.layer)?;
        let depth = path.split('/').filter(|c| !c.is_empty()).count() as u64;
        if depth > self.limits.max_path_depth {
            return Err(err(format!(
                "name is {depth} directories deep, more than the limit of {}; raise it with --max-path-depth if the image is legitimate",
                self.limits.max_path_depth
            )));
        }
        if matches!(h.entry_type(), tar::EntryType::GNUSparse)
            || pax_value(pax, "GNU.sparse.major").map_err(&err)?.is_some()
            || pax_value(pax, "GNU.sparse.size").map_err(&err)?.is_some()
            || pax_value(pax, "GNU.sparse.map").map_err(&err)?.is_some()
        {
            return Err(err(
                "GNU sparse file: container layers never hold sparse files (Docker, containerd and BuildKit do not write them), and its expanded size is not bounded by the layer's".into(),
            ));
        }
        Ok((raw, name, path))
    }

    /// The link target, from a GNU long link, a PAX linkpath or the header.
    fn link_of(
        &self,
        h: &tar::Header,
        ext: &Pending,
        name: &str,
    ) -> Result<Option<Vec<u8>>, ImageError> {
        let err = |reason: String| ImageError::Entry {
            layer: self.layer.into(),
            entry: name.into(),
            reason,
        };
        let link_raw = match (
            &ext.long_link,
            pax_value(ext.pax.as_deref(), "linkpath").map_err(err)?,
        ) {
            (Some(_), Some(_)) => {
                return Err(ImageError::Entry {
                    layer: self.layer.into(),
                    entry: name.into(),
                    reason: "entry has both a GNU long link and a PAX linkpath; runtimes disagree on which wins".into(),
                });
            }
            (Some(l), None) => Some(l.clone()),
            (None, Some(p)) => Some(p.to_vec()),
            (None, None) => h.link_name_bytes().map(|c| c.into_owned()),
        };
        if let Some(l) = &link_raw
            && l.len() as u64 > self.limits.max_path_bytes
        {
            return Err(self.limit(
                format!(
                    "entry {name:?} has a link target of {} bytes, more than {}",
                    l.len(),
                    self.limits.max_path_bytes
                ),
                "--max-path-bytes",
            ));
        }
        Ok(link_raw)
    }

    /// What the entry is, and the path it acts on (a whiteout's victim, an
    /// opaque marker's directory).
    fn kind_of<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        h: &tar::Header,
        path: String,
        size: u64,
        link_raw: Option<Vec<u8>>,
        name: &str,
    ) -> Result<(String, EntryKind), ImageError> {
        let err = |reason: String| ImageError::Entry {
            layer: self.layer.into(),
            entry: name.into(),
            reason,
        };
        let link = |what: &str| -> Result<String, ImageError> {
            let t = link_raw
                .clone()
                .ok_or_else(|| err(format!("{what} without a target")))?;
            String::from_utf8(t).map_err(|_| err(format!("{what} target is not UTF-8")))
        };
        let (dir, base) = path.rsplit_once('/').expect("starts with /");
        let dir = if dir.is_empty() { "/" } else { dir };
        if base == ".wh..wh..opq" {
            return Ok((dir.to_owned(), EntryKind::Opaque));
        }
        if let Some(victim) = base.strip_prefix(".wh.") {
            if victim.is_empty() || victim == "." || victim == ".." {
                return Err(err("whiteout names nothing".into()));
            }
            let p = if dir == "/" {
                format!("/{victim}")
            } else {
                format!("{dir}/{victim}")
            };
            return Ok((p, EntryKind::Whiteout));
        }
        let et = h.entry_type();
        let kind = match et {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let wanted = (self.capture)(&RootPath::lexical(&path).expect("normalised"));
                let content = if wanted {
                    Some(self.capture_file(e, size, name)?)
                } else {
                    None
                };
                EntryKind::File { content }
            }
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => {
                let t = link("symlink")?;
                if t.is_empty() || t.contains('\0') {
                    return Err(err("invalid symlink target".into()));
                }
                EntryKind::Symlink { target: t }
            }
            tar::EntryType::Link => {
                let t = link("hardlink")?;
                let target = hardlink_target(&t).map_err(&err)?;
                EntryKind::Hardlink { target }
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                if et == tar::EntryType::Char {
                    EntryKind::CharDevice(major, minor)
                } else {
                    EntryKind::BlockDevice(major, minor)
                }
            }
            tar::EntryType::Fifo => EntryKind::Fifo,
            other => return Err(err(format!("unsupported tar entry type {other:?}"))),
        };
        Ok((path, kind))
    }

    /// Keep a file's contents, within the per-file and per-layer budgets.
    fn capture_file<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        size: u64,
        name: &str,
    ) -> Result<Sha256Hex, ImageError> {
        if size > self.limits.max_captured_file {
            return Err(self.limit(
                format!(
                    "entry {name:?} is {size} bytes, more than {} to index",
                    self.limits.max_captured_file
                ),
                "--max-file-bytes",
            ));
        }
        if self.captured + size > self.limits.max_captured_bytes {
            return Err(self.limit(
                format!(
                    "capturing entry {name:?} ({size} bytes) would hold more than {} bytes of file contents",
                    self.limits.max_captured_bytes
                ),
                "--max-captured-bytes",
            ));
        }
        // Bounded by the size already checked, never by what the stream holds.
        let mut buf = Vec::with_capacity(size as usize);
        e.take(size)
            .read_to_end(&mut buf)
            .map_err(|x| self.layer_err(io_reason(&x)))?;
        if (buf.len() as u64) != size {
            return Err(self.layer_err("the blob is truncated"));
        }
        let d = Sha256Hex::of(&buf);
        if !self.out.contents.contains_key(&d) {
            self.captured += size;
            self.out.contents.insert(d.clone(), buf);
        }
        Ok(d)
    }
}

/// Size, mode, owner and time, with PAX overrides, checked.
fn fields(h: &tar::Header, pax: Option<&[u8]>) -> Result<Fields, String> {
    let size = h
        .entry_size()
        .map_err(|_| "size field is not an octal number".to_owned())?;
    if let Some(pax_size) = pax_number(pax, "size")?
        && pax_size != size
    {
        return Err(format!(
            "PAX size {pax_size} differs from the header's {size}; rootwasm cannot index such entries (files over 8 GiB)"
        ));
    }
    let mode = h
        .mode()
        .map_err(|_| "mode field is not an octal number".to_owned())?
        & 0o7777;
    let uid = match pax_number(pax, "uid")? {
        Some(v) => id32(Ok(v), "PAX uid")?,
        None => id32(h.uid(), "uid")?,
    };
    let gid = match pax_number(pax, "gid")? {
        Some(v) => id32(Ok(v), "PAX gid")?,
        None => id32(h.gid(), "gid")?,
    };
    Ok(Fields {
        size,
        mode,
        uid,
        gid,
        mtime: h.mtime().unwrap_or(0),
    })
}

/// The `SCHILY.xattr.*` records of a PAX header, sorted.
fn xattrs_of(pax: Option<&[u8]>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut xattrs = Vec::new();
    if let Some(pax) = pax {
        for x in tar::PaxExtensions::new(pax) {
            let x = x.map_err(|_| "malformed PAX extended header".to_owned())?;
            if let Ok(k) = x.key()
                && let Some(k) = k.strip_prefix("SCHILY.xattr.")
            {
                xattrs.push((k.to_owned(), x.value_bytes().to_vec()));
            }
        }
    }
    xattrs.sort();
    Ok(xattrs)
}

/// The same path twice in one layer: refused, since extractors disagree on
/// which one wins. Sorting indexes costs 4 bytes per entry, not a copy of
/// every name.
fn check_duplicates(entries: &[Entry], layer: &str) -> Result<(), ImageError> {
    let key = |i: u32| {
        let e = &entries[i as usize];
        // A whiteout and a file of the same name are distinct entries.
        (
            &e.path,
            matches!(e.kind, EntryKind::Whiteout),
            matches!(e.kind, EntryKind::Opaque),
        )
    };
    let mut order: Vec<u32> = (0..entries.len() as u32).collect();
    order.sort_by(|&a, &b| key(a).cmp(&key(b)).then(a.cmp(&b)));
    for w in order.windows(2) {
        if key(w[0]) == key(w[1]) {
            return Err(ImageError::Entry {
                layer: layer.into(),
                entry: entries[w[1] as usize].name.clone(),
                reason: "duplicate entry: the same path appears twice in this layer".into(),
            });
        }
    }
    Ok(())
}

/// A hardlink target must name a path inside the root.
fn hardlink_target(t: &str) -> Result<RootPath, String> {
    let mut depth: i64 = 0;
    for c in t.trim_start_matches('/').split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("hardlink to {t:?}, a path outside the root"));
                }
            }
            _ => depth += 1,
        }
    }
    if t.starts_with('/') {
        return Err(format!(
            "hardlink to the absolute path {t:?}; hardlink targets must be relative to the root"
        ));
    }
    RootPath::lexical(t).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::MEDIA_LAYER_TAR;

    fn index(tar: &[u8], limits: &LayerLimits) -> Result<LayerIndex, ImageError> {
        let desc = Descriptor::for_bytes(MEDIA_LAYER_TAR, tar);
        let diff_id = Digest::of(tar);
        read_layer(Box::new(tar), &desc, &diff_id, limits, &|_| true)
    }

    #[test]
    fn long_names_pax_records_and_links_survive_raw_iteration() {
        let long = format!("usr/{}/file", "x".repeat(150));
        let link = format!("/opt/{}", "y".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        // GNU long name and long link (the tar crate writes `././@LongLink`).
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o4755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_size(3);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_size(0);
        b.append_link(&mut h, "usr/l", &link).unwrap();
        // PAX path, uid and an xattr.
        b.append_pax_extensions([
            ("path", "etc/pax-named".as_bytes()),
            ("uid", b"3000000000"),
            ("SCHILY.xattr.security.capability", &[1, 2, 3][..]),
        ])
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path("placeholder").unwrap();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
        let tar = b.into_inner().unwrap();
        let idx = index(&tar, &LayerLimits::default()).unwrap();
        let e: Vec<_> = idx.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(e, [format!("/{long}").as_str(), "/usr/l", "/etc/pax-named"]);
        assert_eq!(idx.entries[0].mode, 0o4755);
        assert_eq!(
            idx.entries[1].kind,
            EntryKind::Symlink {
                target: link.clone()
            }
        );
        assert_eq!(idx.entries[2].uid, 3_000_000_000);
        assert_eq!(
            idx.entries[2].xattrs,
            vec![("security.capability".to_owned(), vec![1, 2, 3])]
        );
        assert_eq!(idx.contents.values().next().unwrap(), b"abc");

        // The same layer under tight limits: each one names itself.
        let tight = |f: fn(&mut LayerLimits)| {
            let mut l = LayerLimits::default();
            f(&mut l);
            index(&tar, &l).unwrap_err().to_string()
        };
        assert!(tight(|l| l.max_path_bytes = 100).contains("--max-path-bytes"));
        assert!(tight(|l| l.max_path_depth = 1).contains("directories deep"));
        assert!(tight(|l| l.max_header_bytes = 16).contains("--max-header-bytes"));
        assert!(tight(|l| l.max_captured_bytes = 2).contains("--max-captured-bytes"));
        assert!(tight(|l| l.max_index_bytes = 1000).contains("--max-index-bytes"));
    }

    #[test]
    fn extension_headers_without_an_entry_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("path", b"a".as_slice())])
            .unwrap();
        let tar = b.into_inner().unwrap();
        let e = index(&tar, &LayerLimits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no entry they describe"), "{e}");
    }
}
