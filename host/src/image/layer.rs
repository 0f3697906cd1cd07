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
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};

/// Limits against decompression and tar bombs.
#[derive(Clone, Copy, Debug)]
pub struct LayerLimits {
    /// Uncompressed bytes per layer.
    pub max_layer_bytes: u64,
    /// Entries per layer.
    pub max_entries: u64,
    /// Size of one captured file.
    pub max_captured_file: u64,
}

impl Default for LayerLimits {
    fn default() -> Self {
        LayerLimits {
            max_layer_bytes: 16 << 30,
            max_entries: 2_000_000,
            max_captured_file: 256 << 20,
        }
    }
}

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
    let result = {
        let decoded: Box<dyn Read + '_> = match compression {
            Compression::None => Box::new(&mut outer),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut outer)),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(&mut outer).map_err(|e| {
                    ImageError::Layer {
                        layer: layer.clone(),
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
        let index = index_tar(&mut inner, &layer, limits, capture);
        let index = match index {
            Ok(i) => i,
            Err(e) if inner.bytes > limits.max_layer_bytes => {
                let _ = e;
                return Err(ImageError::Limit {
                    layer,
                    reason: format!("uncompressed size exceeds {} bytes", limits.max_layer_bytes),
                    flag: "--max-layer-bytes",
                });
            }
            Err(e) => return Err(e),
        };
        // The tar end marker may be followed by padding: hash it all.
        io::copy(&mut inner, &mut io::sink()).map_err(|e| ImageError::Layer {
            layer: layer.clone(),
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
        index
    };
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

fn index_tar(
    r: &mut dyn Read,
    layer: &str,
    limits: &LayerLimits,
    capture: &dyn Fn(&RootPath) -> bool,
) -> Result<LayerIndex, ImageError> {
    let mut ar = tar::Archive::new(r);
    let mut out = LayerIndex::default();
    let mut seen: HashSet<String> = HashSet::new();
    let entries = ar.entries().map_err(|e| ImageError::Layer {
        layer: layer.into(),
        reason: io_reason(&e),
    })?;
    for (n, e) in entries.enumerate() {
        if n as u64 >= limits.max_entries {
            return Err(ImageError::Limit {
                layer: layer.into(),
                reason: format!("more than {} entries", limits.max_entries),
                flag: "--max-layer-entries",
            });
        }
        let mut e = e.map_err(|e| ImageError::Layer {
            layer: layer.into(),
            reason: io_reason(&e),
        })?;
        let raw = e.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let path = entry_path(&raw, layer)?;
        let err = |reason: String| ImageError::Entry {
            layer: layer.into(),
            entry: name.clone(),
            reason,
        };
        if !seen.insert(path.clone()) {
            return Err(err(
                "duplicate entry: the same path appears twice in this layer".into(),
            ));
        }
        let h = e.header().clone();
        let mode = h.mode().map_err(|x| err(x.to_string()))? & 0o7777;
        let uid = h.uid().map_err(|x| err(x.to_string()))? as u32;
        let gid = h.gid().map_err(|x| err(x.to_string()))? as u32;
        let mtime = h.mtime().unwrap_or(0);
        let size = h.entry_size().map_err(|x| err(x.to_string()))?;
        let et = h.entry_type();
        let (dir, base) = path.rsplit_once('/').expect("starts with /");
        let dir = if dir.is_empty() { "/" } else { dir };
        let mut xattrs = Vec::new();
        if let Some(pax) = e.pax_extensions().map_err(|x| err(x.to_string()))? {
            for ext in pax {
                let ext = ext.map_err(|x| err(x.to_string()))?;
                if let Ok(k) = ext.key()
                    && let Some(x) = k.strip_prefix("SCHILY.xattr.")
                {
                    xattrs.push((x.to_owned(), ext.value_bytes().to_vec()));
                }
            }
        }
        xattrs.sort();
        let (path, kind) = if base == ".wh..wh..opq" {
            (dir.to_owned(), EntryKind::Opaque)
        } else if let Some(victim) = base.strip_prefix(".wh.") {
            if victim.is_empty() || victim == "." || victim == ".." {
                return Err(err("whiteout names nothing".into()));
            }
            (
                if dir == "/" {
                    format!("/{victim}")
                } else {
                    format!("{dir}/{victim}")
                },
                EntryKind::Whiteout,
            )
        } else {
            let kind = match et {
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    let content = if capture(&RootPath::lexical(&path).expect("normalised")) {
                        if size > limits.max_captured_file {
                            return Err(ImageError::Limit {
                                layer: layer.into(),
                                reason: format!(
                                    "entry {name:?} is {size} bytes, more than {} to index",
                                    limits.max_captured_file
                                ),
                                flag: "--max-file-bytes",
                            });
                        }
                        let mut buf = Vec::with_capacity(size as usize);
                        e.read_to_end(&mut buf).map_err(|x| ImageError::Layer {
                            layer: layer.into(),
                            reason: io_reason(&x),
                        })?;
                        let d = Sha256Hex::of(&buf);
                        out.contents.insert(d.clone(), buf);
                        Some(d)
                    } else {
                        None
                    };
                    EntryKind::File { content }
                }
                tar::EntryType::Directory => EntryKind::Dir,
                tar::EntryType::Symlink => {
                    let t = e
                        .link_name_bytes()
                        .ok_or_else(|| err("symlink without a target".into()))?;
                    let t = String::from_utf8(t.into_owned())
                        .map_err(|_| err("symlink target is not UTF-8".into()))?;
                    if t.is_empty() || t.contains('\0') {
                        return Err(err("invalid symlink target".into()));
                    }
                    EntryKind::Symlink { target: t }
                }
                tar::EntryType::Link => {
                    let t = e
                        .link_name_bytes()
                        .ok_or_else(|| err("hardlink without a target".into()))?;
                    let t = String::from_utf8(t.into_owned())
                        .map_err(|_| err("hardlink target is not UTF-8".into()))?;
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
            (path, kind)
        };
        if path == "/" && kind != EntryKind::Dir && kind != EntryKind::Opaque {
            return Err(err("entry replaces the root directory".into()));
        }
        out.entries.push(Entry {
            path: RootPath::lexical(&path).expect("normalised"),
            name,
            kind,
            mode,
            uid,
            gid,
            size,
            mtime,
            xattrs,
        });
    }
    Ok(out)
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
