//! Writing a journal into a directory tree.
//!
//! The tree is changed by replaying the journal entry by entry, so what lands
//! is exactly what was recorded. Before touching anything every entry's
//! `before` state is checked against the tree: a journal made against another
//! tree, or a tree changed since, is refused whole instead of half-applied.

use crate::journal::{Blobs, Entry, Op, State};
use crate::rootfs::{DirRoot, Kind, RootPath, RootView};
use cap_std::fs::{Dir, Permissions, PermissionsExt};
use std::collections::BTreeMap;
use std::io;

/// Why a journal could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The tree is not in the state the journal started from.
    #[error(
        "entry {seq} ({path}): the tree does not match the journal's before-state ({detail}); was it changed since the run?"
    )]
    Stale {
        /// Entry.
        seq: u64,
        /// Path.
        path: String,
        /// Difference.
        detail: String,
    },
    /// A blob the journal needs is missing.
    #[error("entry {seq} ({path}): blob sha256:{digest} is missing from the journal's store")]
    MissingBlob {
        /// Entry.
        seq: u64,
        /// Path.
        path: String,
        /// Digest.
        digest: String,
    },
    /// A filesystem operation failed.
    #[error("entry {seq} ({path}): {op:?} failed: {source}")]
    Io {
        /// Entry.
        seq: u64,
        /// Path.
        path: String,
        /// Operation.
        op: Op,
        /// Cause.
        source: io::Error,
    },
}

/// Check that `root` is in every entry's before-state, then apply the entries.
pub fn commit(root: &DirRoot, entries: &[Entry], blobs: &Blobs) -> Result<(), CommitError> {
    preflight(root, entries, blobs)?;
    for e in entries {
        apply(root.dir(), e, blobs).map_err(|source| CommitError::Io {
            seq: e.seq,
            path: e.path.clone(),
            op: e.op,
            source,
        })?;
    }
    Ok(())
}

/// The first time the journal touches a path, the tree must match its `before`.
fn preflight(root: &DirRoot, entries: &[Entry], blobs: &Blobs) -> Result<(), CommitError> {
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    for e in entries {
        if let Some(State {
            sha256: Some(d), ..
        }) = &e.after
            && blobs.get(d).is_none()
        {
            return Err(CommitError::MissingBlob {
                seq: e.seq,
                path: e.path.clone(),
                digest: d.to_string(),
            });
        }
        let paths = std::iter::once((e.path.as_str(), &e.before))
            .chain(e.from.as_deref().map(|f| (f, &None)));
        for (path, before) in paths {
            if seen.insert(path, ()).is_some() || (e.from.as_deref() == Some(path)) {
                continue;
            }
            let stale = |detail: String| CommitError::Stale {
                seq: e.seq,
                path: path.into(),
                detail,
            };
            let p = RootPath::lexical(path).map_err(|err| stale(err.to_string()))?;
            let now = root.lstat(&p).map_err(|err| stale(err.to_string()))?;
            match (before, now) {
                (None, None) => {}
                (None, Some(m)) => {
                    return Err(stale(format!("expected nothing, found a {:?}", m.kind)));
                }
                (Some(b), None) => {
                    return Err(stale(format!("expected a {:?}, found nothing", b.kind)));
                }
                (Some(b), Some(m)) => {
                    if b.kind != m.kind
                        || b.mode != m.mode
                        || b.uid != m.uid
                        || b.gid != m.gid
                        || b.size.is_some_and(|s| s != m.size)
                    {
                        return Err(stale(format!(
                            "expected {:?} mode {:04o} owner {}:{}, found {:?} mode {:04o} owner {}:{}",
                            b.kind, b.mode, b.uid, b.gid, m.kind, m.mode, m.uid, m.gid
                        )));
                    }
                    if let Some(d) = &b.sha256 {
                        let bytes = root.read(&p).map_err(|err| stale(err.to_string()))?;
                        let actual = crate::journal::Sha256Hex::of(&bytes);
                        if &actual != d {
                            return Err(stale(format!(
                                "contents have sha256 {actual}, expected {d}"
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn split(path: &str) -> io::Result<(RootPath, String)> {
    let p = RootPath::lexical(path).map_err(io::Error::other)?;
    if p.is_root() {
        return Err(io::Error::other("the root cannot be changed"));
    }
    Ok((p.parent(), p.file_name().to_owned()))
}

fn chown(parent: &Dir, name: &str, uid: u32, gid: u32) -> io::Result<()> {
    use rustix::fs::{AtFlags, Gid, Uid, chownat};
    let (cur_uid, cur_gid) = {
        let m = parent.symlink_metadata(name)?;
        (
            cap_std::fs::MetadataExt::uid(&m),
            cap_std::fs::MetadataExt::gid(&m),
        )
    };
    if (cur_uid, cur_gid) == (uid, gid) {
        return Ok(());
    }
    chownat(
        parent,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("chown to {uid}:{gid}: {e} (committing ownership changes needs root)"),
        )
    })
}

/// Write a file as a new node: a temporary file in the same directory, renamed over the name.
///
/// The temporary name is unpredictable and created exclusively (`O_EXCL`,
/// which never follows a symlink), and its mode and owner are set through the
/// open handle: a name planted in the tree cannot redirect the write.
fn replace_file(parent: &Dir, name: &str, bytes: &[u8], st: &State) -> io::Result<()> {
    let (tmp, mut file) = create_temp(parent, name)?;
    let written = (|| {
        io::Write::write_all(&mut file, bytes)?;
        let mode = rustix::fs::Mode::from_raw_mode(st.mode & 0o7777);
        rustix::fs::fchmod(&file, mode)?;
        fchown(&file, st.uid, st.gid)?;
        // chown may clear setuid bits; set the mode again.
        rustix::fs::fchmod(&file, mode)?;
        drop(file);
        parent.rename(&tmp, parent, name)
    })();
    if written.is_err() {
        let _ = parent.remove_file(&tmp);
    }
    written
}

/// A new, exclusively created file `.<name>.<random>.rootwasm-tmp` in `parent`.
fn create_temp(parent: &Dir, name: &str) -> io::Result<(String, cap_std::fs::File)> {
    use cap_std::fs::{OpenOptions, OpenOptionsExt};
    use std::hash::{BuildHasher, Hasher};
    // Each RandomState is seeded from the OS's random source once per
    // process and then perturbed: unguessable to whoever planted names.
    let keys = std::collections::hash_map::RandomState::new();
    for attempt in 0u32..16 {
        let mut h = keys.build_hasher();
        h.write_u32(attempt);
        h.write_u32(std::process::id());
        let tmp = format!(".{name}.{:016x}.rootwasm-tmp", h.finish());
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true).mode(0o600);
        match parent.open_with(&tmp, &opts) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("could not create a temporary file next to {name}: every name tried exists"),
    ))
}

fn fchown(file: &cap_std::fs::File, uid: u32, gid: u32) -> io::Result<()> {
    use rustix::fs::{Gid, Uid};
    let m = file.metadata()?;
    let (cur_uid, cur_gid) = (
        cap_std::fs::MetadataExt::uid(&m),
        cap_std::fs::MetadataExt::gid(&m),
    );
    if (cur_uid, cur_gid) == (uid, gid) {
        return Ok(());
    }
    rustix::fs::fchown(file, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("chown to {uid}:{gid}: {e} (committing ownership changes needs root)"),
        )
    })
}

fn apply(root: &Dir, e: &Entry, blobs: &Blobs) -> io::Result<()> {
    let (parent_path, name) = split(&e.path)?;
    let parent = root.open_dir(parent_path.relative())?;
    let blob = |st: &State| -> io::Result<std::sync::Arc<[u8]>> {
        let d = st
            .sha256
            .as_ref()
            .ok_or_else(|| io::Error::other("file state without sha256"))?;
        blobs
            .get(d)
            .cloned()
            .ok_or_else(|| io::Error::other(format!("missing blob {d}")))
    };
    let after = e.after.as_ref();
    match e.op {
        Op::WriteFile | Op::Hardlink if after.is_some_and(|a| a.kind == Kind::File) => {
            let a = after.expect("checked");
            if e.op == Op::Hardlink {
                let (sp, sn) = split(e.from.as_deref().unwrap_or_default())?;
                let sdir = root.open_dir(sp.relative())?;
                return sdir.hard_link(&sn, &parent, &name);
            }
            replace_file(&parent, &name, &blob(a)?, a)
        }
        Op::Mkdir => {
            let a = after.ok_or_else(|| io::Error::other("mkdir without after-state"))?;
            parent.create_dir(&name)?;
            parent.set_permissions(&name, Permissions::from_mode(a.mode))?;
            chown(&parent, &name, a.uid, a.gid)
        }
        Op::Symlink => {
            let a = after.ok_or_else(|| io::Error::other("symlink without after-state"))?;
            let target = a
                .target
                .as_deref()
                .ok_or_else(|| io::Error::other("symlink without target"))?;
            parent.symlink_contents(target, &name)?;
            chown(&parent, &name, a.uid, a.gid)
        }
        Op::Remove => match e.before.as_ref().map(|b| b.kind) {
            Some(Kind::Dir) => parent.remove_dir(&name),
            _ => parent.remove_file(&name),
        },
        Op::Rename => {
            let (sp, sn) = split(e.from.as_deref().unwrap_or_default())?;
            let sdir = root.open_dir(sp.relative())?;
            sdir.rename(&sn, &parent, &name)
        }
        Op::Chmod | Op::Chown => {
            let a = after.ok_or_else(|| io::Error::other("metadata change without after-state"))?;
            match a.kind {
                // Files are copied up: a new node, so other hardlinks keep the old metadata.
                Kind::File => replace_file(&parent, &name, &blob(a)?, a),
                _ => {
                    chown(&parent, &name, a.uid, a.gid)?;
                    if a.kind != Kind::Symlink {
                        parent.set_permissions(&name, Permissions::from_mode(a.mode))?;
                    }
                    Ok(())
                }
            }
        }
        op => Err(io::Error::other(format!(
            "{op:?} entry has no usable after-state"
        ))),
    }
}
