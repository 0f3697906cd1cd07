//! The patch layer and the documents around it.
//!
//! The layer holds exactly the final state of every path the journal
//! changed: files, directories and symlinks as they are after the recipes,
//! deletions as whiteouts, plus the unchanged parent directories a runtime
//! needs to extract them (with their original metadata). Entries are sorted,
//! owners and modes are the journal's, and mtimes are clamped to
//! SOURCE_DATE_EPOCH, so the same inputs give the same bytes anywhere.

use super::error::ImageError;
use super::merge::Merged;
use super::model::{Compression, Digest};
use crate::journal::Blobs;
use crate::rootfs::{Kind, RootPath, RootView};
use crate::session::{Content, Staged};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// A built layer.
pub struct BuiltLayer {
    /// The (compressed) blob.
    pub blob: Vec<u8>,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Number of tar entries.
    pub entries: usize,
}

fn rel(p: &RootPath) -> String {
    p.as_str().trim_start_matches('/').to_owned()
}

fn header(kind: tar::EntryType, mode: u32, uid: u32, gid: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(mtime);
    h.set_size(0);
    h
}

fn xattr_pax(b: &mut tar::Builder<Vec<u8>>, xattrs: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    if xattrs.is_empty() {
        return Ok(());
    }
    let keys: Vec<(String, &[u8])> = xattrs
        .iter()
        .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
        .collect();
    b.append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), *v)))
}

/// Build the layer for `staged` (final states, by path) over `base`.
pub fn build_layer(
    base: &Merged,
    staged: &BTreeMap<RootPath, Staged>,
    blobs: &Blobs,
    epoch: u64,
    compression: Compression,
) -> Result<BuiltLayer, ImageError> {
    let err = |e: std::io::Error| ImageError::Layer {
        layer: "(patch layer)".into(),
        reason: e.to_string(),
    };
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Complete);
    let mut emitted: BTreeSet<RootPath> = BTreeSet::new();
    let mut count = 0usize;
    let removed = |p: &RootPath| matches!(staged.get(p), Some(Staged::Removed));
    for (path, st) in staged {
        // A whiteout of an ancestor already covers everything below it.
        let mut a = path.parent();
        let mut covered = false;
        while !a.is_root() {
            if removed(&a) {
                covered = true;
                break;
            }
            a = a.parent();
        }
        if covered {
            continue;
        }
        // Parents first, as they are in the base (a runtime would otherwise invent them).
        let mut chain = Vec::new();
        let mut a = path.parent();
        while !a.is_root() {
            chain.push(a.clone());
            a = a.parent();
        }
        for dir in chain.into_iter().rev() {
            if emitted.contains(&dir) || staged.contains_key(&dir) {
                continue;
            }
            let n = base.get(&dir).ok_or_else(|| {
                err(std::io::Error::other(format!(
                    "parent {dir} of {path} is not in the image"
                )))
            })?;
            xattr_pax(&mut b, &n.xattrs).map_err(err)?;
            let mut h = header(
                tar::EntryType::Directory,
                n.meta.mode,
                n.meta.uid,
                n.meta.gid,
                n.mtime.min(epoch),
            );
            b.append_data(&mut h, format!("{}/", rel(&dir)), std::io::empty())
                .map_err(err)?;
            emitted.insert(dir);
            count += 1;
        }
        let base_node = base.get(path);
        match st {
            Staged::Removed => {
                if base.lstat(path).map_err(err)?.is_none() {
                    continue; // created and removed again: nothing to say
                }
                let wh = if path.parent().is_root() {
                    format!(".wh.{}", path.file_name())
                } else {
                    format!("{}/.wh.{}", rel(&path.parent()), path.file_name())
                };
                let mut h = header(tar::EntryType::Regular, 0o644, 0, 0, epoch);
                b.append_data(&mut h, wh, std::io::empty()).map_err(err)?;
            }
            Staged::Node(n) => {
                let keep_xattrs = base_node
                    .filter(|bn| bn.meta.kind == n.meta.kind)
                    .map(|bn| bn.xattrs.clone())
                    .unwrap_or_default();
                xattr_pax(&mut b, &keep_xattrs).map_err(err)?;
                let m = &n.meta;
                match (&n.content, m.kind) {
                    (Content::Blob(d), Kind::File) => {
                        let data = blobs.get(d).ok_or_else(|| {
                            err(std::io::Error::other(format!("blob {d} missing")))
                        })?;
                        let mut h = header(tar::EntryType::Regular, m.mode, m.uid, m.gid, epoch);
                        h.set_size(data.len() as u64);
                        b.append_data(&mut h, rel(path), &data[..]).map_err(err)?;
                    }
                    (Content::None, Kind::Dir) => {
                        let mut h = header(tar::EntryType::Directory, m.mode, m.uid, m.gid, epoch);
                        b.append_data(&mut h, format!("{}/", rel(path)), std::io::empty())
                            .map_err(err)?;
                        emitted.insert(path.clone());
                    }
                    (Content::Link(t), Kind::Symlink) => {
                        let mut h = header(tar::EntryType::Symlink, 0o777, m.uid, m.gid, epoch);
                        b.append_link(&mut h, rel(path), t).map_err(err)?;
                    }
                    (c, k) => {
                        return Err(err(std::io::Error::other(format!(
                            "{path}: cannot write a {k:?} with {c:?}"
                        ))));
                    }
                }
            }
        }
        count += 1;
    }
    let tar = b.into_inner().map_err(err)?;
    let diff_id = Digest::of(&tar);
    let blob = match compression {
        Compression::None => tar,
        Compression::Gzip => {
            let mut e = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::default());
            e.write_all(&tar).map_err(err)?;
            e.finish().map_err(err)?
        }
        Compression::Zstd => zstd::encode_all(&tar[..], 3).map_err(err)?,
    };
    Ok(BuiltLayer {
        blob,
        diff_id,
        entries: count,
    })
}

/// RFC 3339 UTC time for `secs`.
pub fn rfc3339(secs: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Seconds since the epoch of an RFC 3339 time (a config's `created`).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
}
