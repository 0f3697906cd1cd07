//! The patch layer, built from a journal and nothing else.
//!
//! `apply`, `replay` and `verify` all call [`build_layer`] with the base
//! layers' merged view, a journal and its blobs, so "replaying the journal
//! rebuilds the layer" holds by construction.
//!
//! The layer holds exactly the final state of every path the journal
//! changed: files, directories and symlinks as they are after the recipes,
//! deletions as whiteouts, plus the unchanged parent directories a runtime
//! needs to extract them (with their original metadata). Entries are sorted,
//! owners and modes are the journal's, and mtimes are clamped to
//! SOURCE_DATE_EPOCH, so the same inputs give the same bytes anywhere.
//!
//! **Invariant:** applied to the base under OCI whiteout semantics, the
//! layer has exactly the journal's effect. So no emitted name is one a
//! runtime gives meaning to (`.wh.*`), nothing is emitted below a path the
//! journal turns into a non-directory (a runtime would follow it), and a
//! parent is only ever emitted as the directory it is in the base.

use super::error::ImageError;
use super::gzip::{Ahead, SPAN_MIN, Span, gzip};
use super::merge::Merged;
use super::model::{Compression, Digest};
use crate::journal::{Blobs, Journal, State};
use crate::rootfs::{Kind, RootPath, RootView, WHITEOUT_PREFIX};
use std::collections::{BTreeMap, BTreeSet};

/// gzip's default level, as docker and BuildKit write layers.
pub const GZIP_LEVEL: flate2::Compression = flate2::Compression::new(6);

/// A built layer.
#[derive(Debug)]
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

fn layer_err(reason: impl std::fmt::Display) -> ImageError {
    ImageError::Layer {
        layer: "(patch layer)".into(),
        reason: reason.to_string(),
    }
}

/// The journal's final states, checked for what a layer cannot say.
type Finals = BTreeMap<RootPath, Option<State>>;

/// Refuse final states a runtime would read differently from the journal.
fn check_finals(finals: &Finals) -> Result<(), ImageError> {
    for (path, state) in finals {
        if path.is_root() {
            return Err(layer_err("the journal changes the root directory itself"));
        }
        if let Some(c) = path
            .as_str()
            .split('/')
            .find(|c| c.starts_with(WHITEOUT_PREFIX))
        {
            return Err(layer_err(format!(
                "{path}: {c:?} is a whiteout name in an image layer; a patch may not create it"
            )));
        }
        // A node below a path the journal removes or turns into a non-directory
        // cannot exist; only a forged journal says so.
        if state.is_some()
            && let Some(a) = replaced_ancestor(finals, path)
        {
            return Err(layer_err(format!(
                "{path} is created below {a}, which the journal removes or replaces with a non-directory"
            )));
        }
    }
    Ok(())
}

/// The nearest strict ancestor of `path` that the journal removes or makes a
/// non-directory: everything below it is already gone from the runtime's view.
fn replaced_ancestor<'a>(finals: &'a Finals, path: &RootPath) -> Option<&'a RootPath> {
    let mut a = path.parent();
    while !a.is_root() {
        if let Some((k, s)) = finals.get_key_value(&a)
            && s.as_ref().is_none_or(|s| s.kind != Kind::Dir)
        {
            return Some(k);
        }
        a = a.parent();
    }
    None
}

/// Compare each path's first recorded before-state with the base: a journal
/// that lies about what it replaced does not explain the layer.
fn check_befores(base: &Merged, journal: &Journal) -> Result<(), ImageError> {
    let mut seen = BTreeSet::new();
    for e in &journal.entries {
        let mut paths = vec![e.path.as_str()];
        paths.extend(e.from.as_deref());
        for p in paths {
            let Ok(path) = RootPath::lexical(p) else {
                continue; // final_states reports it
            };
            if !seen.insert(path.clone()) {
                continue;
            }
            // A rename's source has no recorded before-state of its own.
            if e.from.as_deref() == Some(p) && p != e.path {
                continue;
            }
            let actual = base.get(&path);
            let ok = match (&e.before, actual) {
                (None, None) => true,
                (Some(b), Some(n)) => {
                    b.kind == n.meta.kind
                        && b.mode == n.meta.mode
                        && b.uid == n.meta.uid
                        && b.gid == n.meta.gid
                        && (b.kind != Kind::File || b.size == Some(n.meta.size))
                        && (b.kind != Kind::Symlink || b.target == n.link)
                        // Contents are compared where the base read captured them.
                        && (n.content.is_none() || b.sha256 == n.content)
                }
                _ => false,
            };
            if !ok {
                return Err(layer_err(format!(
                    "journal entry {} says {path} was {}, but in the base layers it is {}",
                    e.seq,
                    describe(e.before.as_ref()),
                    match actual {
                        None => "absent".to_owned(),
                        Some(n) => format!("a {:?} with mode {:04o}", n.meta.kind, n.meta.mode),
                    }
                )));
            }
        }
    }
    Ok(())
}

fn describe(s: Option<&State>) -> String {
    match s {
        None => "absent".into(),
        Some(s) => format!("a {:?} with mode {:04o}", s.kind, s.mode),
    }
}

/// Build the patch layer that has exactly `journal`'s effect on `base`.
///
/// Refuses a journal whose before-states disagree with `base`, that names a
/// blob not in `blobs`, or whose final states a layer cannot express (see
/// the module docs).
pub fn build_layer(
    base: &Merged,
    journal: &Journal,
    blobs: &Blobs,
    epoch: u64,
    compression: Compression,
    ahead: Option<&Ahead>,
) -> Result<BuiltLayer, ImageError> {
    let finals = journal.final_states(blobs).map_err(layer_err)?;
    check_finals(&finals)?;
    check_befores(base, journal)?;
    let mut w = LayerWriter {
        tar: tar::Builder::new(Vec::new()),
        base,
        finals: &finals,
        emitted: BTreeSet::new(),
        epoch,
        count: 0,
        spans: Vec::new(),
    };
    w.tar.mode(tar::HeaderMode::Complete);
    for (path, state) in &finals {
        // Below a removed or replaced path everything is gone already.
        if replaced_ancestor(&finals, path).is_some() {
            continue;
        }
        w.parents(path)?;
        match state {
            None => w.whiteout(path)?,
            Some(s) => w.node(path, s, blobs)?,
        }
    }
    let tar = w.tar.into_inner().map_err(layer_err)?;
    // The diff_id's hash runs beside the compression.
    let (diff_id, blob) = std::thread::scope(|s| {
        let id = s.spawn(|| Digest::of(&tar));
        let blob = compress(&tar, &w.spans, compression, ahead);
        (id.join().expect("hashing does not panic"), blob)
    });
    Ok(BuiltLayer {
        blob: blob?,
        diff_id,
        entries: w.count,
    })
}

struct LayerWriter<'a> {
    tar: tar::Builder<Vec<u8>>,
    base: &'a Merged,
    finals: &'a Finals,
    emitted: BTreeSet<RootPath>,
    epoch: u64,
    count: usize,
    /// Where big files' contents are in the tar (for [`gzip`]'s seams).
    spans: Vec<Span>,
}

impl LayerWriter<'_> {
    /// Parents first, as they are in the base (a runtime would otherwise
    /// invent them); only ever a directory that is one in the base.
    fn parents(&mut self, path: &RootPath) -> Result<(), ImageError> {
        let mut chain = Vec::new();
        let mut a = path.parent();
        while !a.is_root() {
            chain.push(a.clone());
            a = a.parent();
        }
        for dir in chain.into_iter().rev() {
            if self.emitted.contains(&dir) || self.finals.contains_key(&dir) {
                continue;
            }
            let n = self
                .base
                .get(&dir)
                .ok_or_else(|| layer_err(format!("parent {dir} of {path} is not in the image")))?;
            if n.meta.kind != Kind::Dir {
                return Err(layer_err(format!(
                    "parent {dir} of {path} is a {:?} in the image, not a directory",
                    n.meta.kind
                )));
            }
            xattr_pax(&mut self.tar, &n.xattrs).map_err(layer_err)?;
            let m = &n.meta;
            let mut h = header(
                tar::EntryType::Directory,
                m.mode,
                m.uid,
                m.gid,
                n.mtime.min(self.epoch),
            );
            self.tar
                .append_data(&mut h, format!("{}/", rel(&dir)), std::io::empty())
                .map_err(layer_err)?;
            self.emitted.insert(dir);
            self.count += 1;
        }
        Ok(())
    }

    fn whiteout(&mut self, path: &RootPath) -> Result<(), ImageError> {
        if self.base.lstat(path).map_err(layer_err)?.is_none() {
            return Ok(()); // created and removed again: nothing to say
        }
        let name = format!("{WHITEOUT_PREFIX}{}", path.file_name());
        let wh = if path.parent().is_root() {
            name
        } else {
            format!("{}/{name}", rel(&path.parent()))
        };
        let mut h = header(tar::EntryType::Regular, 0o644, 0, 0, self.epoch);
        self.tar
            .append_data(&mut h, wh, std::io::empty())
            .map_err(layer_err)?;
        self.count += 1;
        Ok(())
    }

    fn node(&mut self, path: &RootPath, s: &State, blobs: &Blobs) -> Result<(), ImageError> {
        // Extended attributes survive only where the kind did.
        let keep_xattrs = self
            .base
            .get(path)
            .filter(|bn| bn.meta.kind == s.kind)
            .map(|bn| bn.xattrs.clone())
            .unwrap_or_default();
        xattr_pax(&mut self.tar, &keep_xattrs).map_err(layer_err)?;
        let (epoch, name) = (self.epoch, rel(path));
        match (s.kind, &s.sha256, &s.target) {
            (Kind::File, Some(d), None) => {
                let data = blobs
                    .get(d)
                    .ok_or_else(|| layer_err(format!("blob {d} missing")))?;
                let mut h = header(tar::EntryType::Regular, s.mode, s.uid, s.gid, epoch);
                h.set_size(data.len() as u64);
                self.tar
                    .append_data(&mut h, name, &data[..])
                    .map_err(layer_err)?;
                if data.len() >= SPAN_MIN {
                    // Only the padding to 512 bytes follows the contents.
                    let start = self.tar.get_ref().len() - data.len().next_multiple_of(512);
                    self.spans.push(Span {
                        start,
                        len: data.len(),
                        sha256: d.clone(),
                    });
                }
            }
            (Kind::Dir, None, None) => {
                let mut h = header(tar::EntryType::Directory, s.mode, s.uid, s.gid, epoch);
                self.tar
                    .append_data(&mut h, format!("{name}/"), std::io::empty())
                    .map_err(layer_err)?;
                self.emitted.insert(path.clone());
            }
            (Kind::Symlink, None, Some(t)) => {
                let mut h = header(tar::EntryType::Symlink, 0o777, s.uid, s.gid, epoch);
                self.tar.append_link(&mut h, name, t).map_err(layer_err)?;
            }
            (k, sha, target) => {
                return Err(layer_err(format!(
                    "{path}: a {k:?} cannot be written with sha256 {sha:?} and target {target:?}"
                )));
            }
        }
        self.count += 1;
        Ok(())
    }
}

fn compress(
    tar: &[u8],
    spans: &[Span],
    compression: Compression,
    ahead: Option<&Ahead>,
) -> Result<Vec<u8>, ImageError> {
    Ok(match compression {
        Compression::None => tar.to_vec(),
        Compression::Gzip => gzip(tar, spans, GZIP_LEVEL, ahead).map_err(layer_err)?,
        Compression::Zstd => zstd::encode_all(tar, 3).map_err(layer_err)?,
    })
}
