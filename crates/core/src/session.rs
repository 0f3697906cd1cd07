//! A recipe's view of the rootfs: scoped, staged and journaled.
//!
//! [`Session`] is the one implementation of the `rootfs` interface. The wasm
//! sandbox calls it for guests, and the SDK's native test harness calls it
//! for recipes run as plain Rust, so both see the same semantics.
//!
//! Changes land in an in-memory overlay over the base [`RootView`]; the base
//! is never written. Reads see the overlay first. Every change appends an
//! [`Entry`] to the journal, and every new file content goes into [`Blobs`].

use crate::journal::{Blobs, Entry, Op, Sha256Hex, State};
use crate::rootfs::{
    Follow, Kind, Meta, ResolveError, RootPath, RootView, WHITEOUT_PREFIX, resolve,
};
use crate::scope::{Access, Scope};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

/// Why a rootfs call failed, as the guest sees it (the WIT `error-code`).
pub use rootwasm_types::ErrorCode;

/// A failed rootfs call the guest may handle.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FsError {
    /// Category.
    pub code: ErrorCode,
    /// The path the call was about.
    pub path: String,
    /// Details.
    pub message: String,
}

/// A failed rootfs call: either the guest's to handle, or a violation that ends the run.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SessionError {
    /// An ordinary error returned to the recipe.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The recipe touched a path outside its declared capabilities.
    #[error(
        "recipe {recipe} tried to {access} {path}{} outside its declared scope; add it to [capabilities] in recipe.toml if the recipe really needs it",
        resolved.as_ref().map(|r| format!(" (resolves to {r})")).unwrap_or_default()
    )]
    Denied {
        /// Recipe id.
        recipe: String,
        /// What it tried.
        access: Access,
        /// The path as the recipe named it.
        path: String,
        /// Where it resolved to, if that is what fell outside.
        resolved: Option<String>,
    },
    /// A write during `check`, which must not change anything.
    #[error("recipe {recipe}: `check` tried to modify {path}; check must be read-only")]
    ReadOnly {
        /// Recipe id.
        recipe: String,
        /// The path.
        path: String,
    },
}

fn fs_err(code: ErrorCode, path: &str, message: impl Into<String>) -> SessionError {
    SessionError::Fs(FsError {
        code,
        path: path.into(),
        message: message.into(),
    })
}

/// Result of a session call.
pub type SessionResult<T> = Result<T, SessionError>;

/// Limits a session enforces.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Bytes of new file content the recipe may stage.
    pub max_written: u64,
    /// Largest file the recipe may read at once.
    pub max_read: u64,
}

/// Whether the session accepts changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `check`: reads only.
    Check,
    /// `apply`: reads and staged writes.
    Apply,
}

/// A staged override of one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Staged {
    /// The path no longer exists.
    Removed,
    /// The path is this node.
    Node(Node),
}

/// A node in the staging area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Metadata.
    pub meta: Meta,
    /// File contents digest (files) or link target (symlinks).
    pub content: Content,
}

/// What a staged node holds besides metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Directories.
    None,
    /// A file's contents, in the session's blobs.
    Blob(Sha256Hex),
    /// A symlink's target.
    Link(String),
}

/// Everything a finished session changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// The journal entries, in order.
    pub entries: Vec<Entry>,
    /// New contents referenced by the entries.
    pub blobs: Blobs,
    /// Final state of every path that changed.
    pub staged: BTreeMap<RootPath, Staged>,
}

/// Staged changes over a base view: what a recipe sees, and what the next
/// recipe in a run builds on.
pub struct Overlay {
    base: Arc<dyn RootView + Send + Sync>,
    staged: BTreeMap<RootPath, Staged>,
    blobs: Blobs,
}

impl Overlay {
    /// `changes` applied over `base`.
    pub fn new(base: Arc<dyn RootView + Send + Sync>, changes: &Changes) -> Self {
        Overlay {
            base,
            staged: changes.staged.clone(),
            blobs: changes.blobs.clone(),
        }
    }

    /// `changes` applied over this overlay, as one overlay over the same
    /// base: the same view as stacking a new overlay, but every lookup stays
    /// one map deep however many recipes ran before (walking a stack of 40
    /// was about 7 % of a 40-upgrade apply's main thread).
    pub fn then(&self, changes: &Changes) -> Overlay {
        let mut staged = self.staged.clone();
        staged.extend(changes.staged.iter().map(|(p, s)| (p.clone(), s.clone())));
        let mut blobs = self.blobs.clone();
        blobs.extend_from(&changes.blobs);
        Overlay {
            base: self.base.clone(),
            staged,
            blobs,
        }
    }

    pub(crate) fn node(&self, p: &RootPath) -> SessionResult<Option<Meta>> {
        match self.staged.get(p) {
            Some(Staged::Removed) => Ok(None),
            Some(Staged::Node(n)) => Ok(Some(n.meta)),
            None => self
                .base
                .lstat(p)
                .map_err(|e| fs_err(ErrorCode::Io, p.as_str(), e.to_string())),
        }
    }

    pub(crate) fn link_target(&self, p: &RootPath) -> std::io::Result<String> {
        match self.staged.get(p) {
            Some(Staged::Node(Node {
                content: Content::Link(t),
                ..
            })) => Ok(t.clone()),
            Some(_) => Err(std::io::Error::other("not a symlink")),
            None => self.base.readlink(p),
        }
    }

    pub(crate) fn contents(&self, p: &RootPath) -> SessionResult<Arc<[u8]>> {
        match self.staged.get(p) {
            Some(Staged::Node(Node {
                content: Content::Blob(d),
                ..
            })) => Ok(self.blobs.get(d).expect("staged blob is stored").clone()),
            _ => self
                .base
                .read_shared(p)
                .map_err(|e| fs_err(ErrorCode::Io, p.as_str(), e.to_string())),
        }
    }

    /// What [`Overlay::contents`] would hash to, if known without reading.
    fn known_digest(&self, p: &RootPath) -> Option<Sha256Hex> {
        match self.staged.get(p) {
            Some(Staged::Node(Node {
                content: Content::Blob(d),
                ..
            })) => Some(d.clone()),
            _ => self.base.known_sha256(p),
        }
    }

    pub(crate) fn list(&self, dir: &RootPath) -> SessionResult<BTreeMap<String, Kind>> {
        let mut out = BTreeMap::new();
        let base_is_dir = !self.staged.contains_key(dir)
            || matches!(self.base.lstat(dir), Ok(Some(m)) if m.kind == Kind::Dir);
        if base_is_dir {
            let base = self
                .base
                .read_dir(dir)
                .map_err(|e| fs_err(ErrorCode::Io, dir.as_str(), e.to_string()))?;
            out.extend(base);
        }
        // Only the staged paths below `dir`, which sort together after "dir/".
        let prefix = if dir.is_root() {
            "/".to_owned()
        } else {
            format!("{}/", dir.as_str())
        };
        let below = (self.staged)
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(p, _)| p.as_str().starts_with(&prefix));
        for (p, s) in below {
            let name = &p.as_str()[prefix.len()..];
            if name.is_empty() || name.contains('/') {
                continue;
            }
            match s {
                Staged::Removed => out.remove(name),
                Staged::Node(n) => out.insert(name.to_owned(), n.meta.kind),
            };
        }
        Ok(out)
    }
}

fn io_of(e: SessionError) -> std::io::Error {
    match e {
        SessionError::Fs(FsError {
            code: ErrorCode::NotFound,
            message,
            ..
        }) => std::io::Error::new(std::io::ErrorKind::NotFound, message),
        e => std::io::Error::other(e.to_string()),
    }
}

impl RootView for Overlay {
    fn lstat(&self, path: &RootPath) -> std::io::Result<Option<Meta>> {
        self.node(path).map_err(io_of)
    }
    fn read(&self, path: &RootPath) -> std::io::Result<Vec<u8>> {
        self.contents(path).map(|c| c.to_vec()).map_err(io_of)
    }
    fn read_shared(&self, path: &RootPath) -> std::io::Result<Arc<[u8]>> {
        self.contents(path).map_err(io_of)
    }
    fn known_sha256(&self, path: &RootPath) -> Option<Sha256Hex> {
        self.known_digest(path)
    }
    fn read_dir(&self, path: &RootPath) -> std::io::Result<Vec<(String, Kind)>> {
        self.list(path)
            .map(|m| m.into_iter().collect())
            .map_err(io_of)
    }
    fn readlink(&self, path: &RootPath) -> std::io::Result<String> {
        self.link_target(path)
    }
}

/// A recipe's scoped, staged, journaled view of one rootfs.
pub struct Session {
    view: Overlay,
    scope: Scope,
    recipe: String,
    limits: SessionLimits,
    phase: Phase,
    entries: Vec<Entry>,
    written: u64,
    base_digests: HashMap<RootPath, Sha256Hex>,
}

impl Session {
    /// A session for `recipe` over `base`, limited to `scope`.
    pub fn new(
        base: Arc<dyn RootView + Send + Sync>,
        scope: Scope,
        recipe: &str,
        limits: SessionLimits,
    ) -> Self {
        Session {
            view: Overlay {
                base,
                staged: BTreeMap::new(),
                blobs: Blobs::default(),
            },
            scope,
            recipe: recipe.into(),
            limits,
            phase: Phase::Check,
            entries: Vec::new(),
            written: 0,
            base_digests: HashMap::new(),
        }
    }

    /// Switch between read-only `check` and `apply`.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// The recipe id.
    pub fn recipe(&self) -> &str {
        &self.recipe
    }

    /// The journal so far.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Stop and hand over the changes.
    pub fn finish(self) -> Changes {
        Changes {
            entries: self.entries,
            blobs: self.view.blobs,
            staged: self.view.staged,
        }
    }

    // ---- the merged view -------------------------------------------------

    fn node(&self, p: &RootPath) -> SessionResult<Option<Meta>> {
        self.view.node(p)
    }

    fn link_target(&self, p: &RootPath) -> std::io::Result<String> {
        self.view.link_target(p)
    }

    fn contents(&self, p: &RootPath) -> SessionResult<Arc<[u8]>> {
        self.view.contents(p)
    }

    fn list(&self, dir: &RootPath) -> SessionResult<BTreeMap<String, Kind>> {
        self.view.list(dir)
    }

    /// The journal state of `p` in the merged view.
    fn state(&mut self, p: &RootPath) -> SessionResult<Option<State>> {
        let Some(meta) = self.node(p)? else {
            return Ok(None);
        };
        let mut st = State {
            kind: meta.kind,
            size: None,
            sha256: None,
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            target: None,
        };
        match meta.kind {
            Kind::File => {
                st.size = Some(meta.size);
                st.sha256 = Some(match self.view.staged.get(p) {
                    Some(Staged::Node(Node {
                        content: Content::Blob(d),
                        ..
                    })) => d.clone(),
                    _ => match self.base_digests.get(p) {
                        Some(d) => d.clone(),
                        None if let Some(d) = self.view.known_digest(p) => d,
                        None => {
                            let d = Sha256Hex::of(&self.contents(p)?);
                            self.base_digests.insert(p.clone(), d.clone());
                            d
                        }
                    },
                });
            }
            Kind::Symlink => {
                st.target = Some(
                    self.link_target(p)
                        .map_err(|e| fs_err(ErrorCode::Io, p.as_str(), e.to_string()))?,
                )
            }
            _ => {}
        }
        Ok(Some(st))
    }

    // ---- checks ----------------------------------------------------------

    fn resolve(&self, path: &str, follow: Follow) -> SessionResult<RootPath> {
        resolve(
            path,
            follow,
            |p| match self.node(p) {
                Ok(m) => Ok(m),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            },
            |p| self.link_target(p),
        )
        .map_err(|e| {
            let code = match e {
                ResolveError::Invalid(_) => ErrorCode::InvalidPath,
                ResolveError::Loop(_) => ErrorCode::SymlinkLoop,
                ResolveError::NotFound(_) => ErrorCode::NotFound,
                ResolveError::NotADirectory(_) => ErrorCode::NotADirectory,
                ResolveError::Io { .. } => ErrorCode::Io,
            };
            fs_err(code, path, e.to_string())
        })
    }

    /// Check the named path, resolve it, check the resolved path.
    fn scoped(&self, access: Access, path: &str, follow: Follow) -> SessionResult<RootPath> {
        let named = RootPath::lexical(path)
            .map_err(|e| fs_err(ErrorCode::InvalidPath, path, e.to_string()))?;
        let denied = |resolved: Option<&RootPath>| SessionError::Denied {
            recipe: self.recipe.clone(),
            access,
            path: path.into(),
            resolved: resolved.map(|r| r.to_string()),
        };
        if !self.scope.allows(access, &named) {
            return Err(denied(None));
        }
        let resolved = self.resolve(path, follow)?;
        if !self.scope.allows(access, &resolved) {
            return Err(denied(Some(&resolved)));
        }
        // A container runtime reads these names as deletions (`.wh.<name>`,
        // `.wh..wh..opq`): staging one would delete what the scope does not grant.
        if access == Access::Write
            && resolved
                .as_str()
                .split('/')
                .any(|c| c.starts_with(WHITEOUT_PREFIX))
        {
            return Err(fs_err(
                ErrorCode::InvalidPath,
                path,
                "names starting with .wh. are whiteouts in image layers; a recipe cannot create them",
            ));
        }
        Ok(resolved)
    }

    fn writable(&self, path: &str) -> SessionResult<()> {
        match self.phase {
            Phase::Apply => Ok(()),
            Phase::Check => Err(SessionError::ReadOnly {
                recipe: self.recipe.clone(),
                path: path.into(),
            }),
        }
    }

    fn not_root(p: &RootPath, path: &str) -> SessionResult<()> {
        if p.is_root() {
            Err(fs_err(
                ErrorCode::InvalidPath,
                path,
                "the root itself cannot be changed",
            ))
        } else {
            Ok(())
        }
    }

    fn store(&mut self, path: &str, bytes: Vec<u8>) -> SessionResult<Sha256Hex> {
        let len = bytes.len() as u64;
        let digest = Sha256Hex::of(&bytes);
        if self.view.blobs.get(&digest).is_none() {
            if self.written + len > self.limits.max_written {
                return Err(fs_err(
                    ErrorCode::LimitExceeded,
                    path,
                    format!(
                        "writing {len} bytes would exceed the recipe's limit of {} bytes written",
                        self.limits.max_written
                    ),
                ));
            }
            self.written += len;
            self.view.blobs.insert_hashed(digest.clone(), bytes);
        }
        Ok(digest)
    }

    fn record(
        &mut self,
        op: Op,
        path: &RootPath,
        from: Option<&RootPath>,
        before: Option<State>,
    ) -> SessionResult<()> {
        let after = self.state(path)?;
        self.entries.push(Entry {
            seq: self.entries.len() as u64,
            recipe: self.recipe.clone(),
            op,
            path: path.to_string(),
            from: from.map(|f| f.to_string()),
            before,
            after,
        });
        Ok(())
    }

    // ---- the rootfs interface -------------------------------------------

    /// Metadata without following a final symlink.
    pub fn lstat(&mut self, path: &str) -> SessionResult<Option<Meta>> {
        let p = self.scoped(Access::Stat, path, Follow::NotFinal)?;
        self.node(&p)
    }

    /// Metadata following symlinks.
    pub fn stat(&mut self, path: &str) -> SessionResult<Option<Meta>> {
        let p = match self.scoped(Access::Stat, path, Follow::Final) {
            Err(SessionError::Fs(FsError {
                code: ErrorCode::NotFound,
                ..
            })) => return Ok(None),
            r => r?,
        };
        self.node(&p)
    }

    /// File contents, following symlinks.
    pub fn read(&mut self, path: &str) -> SessionResult<Vec<u8>> {
        let p = self.scoped(Access::Read, path, Follow::Final)?;
        match self.node(&p)? {
            None => Err(fs_err(ErrorCode::NotFound, path, "no such file")),
            Some(m) if m.kind == Kind::Dir => {
                Err(fs_err(ErrorCode::IsADirectory, path, "is a directory"))
            }
            Some(m) if m.kind != Kind::File => {
                Err(fs_err(ErrorCode::Unsupported, path, "not a regular file"))
            }
            Some(m) if m.size > self.limits.max_read => Err(fs_err(
                ErrorCode::LimitExceeded,
                path,
                format!(
                    "file is {} bytes, more than the recipe's memory limit of {}",
                    m.size, self.limits.max_read
                ),
            )),
            Some(_) => Ok(self.contents(&p)?.to_vec()),
        }
    }

    /// Directory entries, sorted, with out-of-scope entries left out.
    pub fn read_dir(&mut self, path: &str) -> SessionResult<Vec<(String, Kind)>> {
        let p = self.scoped(Access::Stat, path, Follow::Final)?;
        match self.node(&p)? {
            None => Err(fs_err(ErrorCode::NotFound, path, "no such directory")),
            Some(m) if m.kind != Kind::Dir => {
                Err(fs_err(ErrorCode::NotADirectory, path, "not a directory"))
            }
            Some(_) => Ok(self
                .list(&p)?
                .into_iter()
                .filter(|(name, _)| self.scope.visible(&p.join(name)))
                .collect()),
        }
    }

    /// Symlink target.
    pub fn readlink(&mut self, path: &str) -> SessionResult<String> {
        let p = self.scoped(Access::Read, path, Follow::NotFinal)?;
        match self.node(&p)? {
            Some(m) if m.kind == Kind::Symlink => self
                .link_target(&p)
                .map_err(|e| fs_err(ErrorCode::Io, path, e.to_string())),
            Some(_) => Err(fs_err(ErrorCode::InvalidPath, path, "not a symlink")),
            None => Err(fs_err(ErrorCode::NotFound, path, "no such symlink")),
        }
    }

    /// Create or replace a file (never writing through a final symlink).
    pub fn write_file(&mut self, path: &str, contents: Vec<u8>, mode: u32) -> SessionResult<()> {
        self.writable(path)?;
        let p = self.scoped(Access::Write, path, Follow::NotFinal)?;
        Self::not_root(&p, path)?;
        let existing = self.node(&p)?;
        if existing.is_some_and(|m| m.kind == Kind::Dir) {
            return Err(fs_err(ErrorCode::IsADirectory, path, "is a directory"));
        }
        let owner = match existing {
            Some(m) => (m.uid, m.gid),
            None => self.owner_of_parent(&p)?,
        };
        let before = self.state(&p)?;
        let size = contents.len() as u64;
        let digest = self.store(path, contents)?;
        let meta = Meta {
            kind: Kind::File,
            size,
            mode: mode & 0o7777,
            uid: owner.0,
            gid: owner.1,
        };
        self.view.staged.insert(
            p.clone(),
            Staged::Node(Node {
                meta,
                content: Content::Blob(digest),
            }),
        );
        self.record(Op::WriteFile, &p, None, before)
    }

    fn owner_of_parent(&self, p: &RootPath) -> SessionResult<(u32, u32)> {
        match self.node(&p.parent())? {
            Some(m) if m.kind == Kind::Dir => Ok((m.uid, m.gid)),
            _ => Err(fs_err(
                ErrorCode::NotFound,
                p.as_str(),
                "parent directory does not exist",
            )),
        }
    }

    fn create(
        &mut self,
        op: Op,
        path: &str,
        kind: Kind,
        mode: u32,
        content: Content,
    ) -> SessionResult<()> {
        self.writable(path)?;
        let p = self.scoped(Access::Write, path, Follow::NotFinal)?;
        Self::not_root(&p, path)?;
        if self.node(&p)?.is_some() {
            return Err(fs_err(ErrorCode::AlreadyExists, path, "already exists"));
        }
        let (uid, gid) = self.owner_of_parent(&p)?;
        let meta = Meta {
            kind,
            size: 0,
            mode,
            uid,
            gid,
        };
        self.view
            .staged
            .insert(p.clone(), Staged::Node(Node { meta, content }));
        self.record(op, &p, None, None)
    }

    /// Create a directory.
    pub fn mkdir(&mut self, path: &str, mode: u32) -> SessionResult<()> {
        self.create(Op::Mkdir, path, Kind::Dir, mode & 0o7777, Content::None)
    }

    /// Create a symlink at `path` to `target`.
    pub fn symlink(&mut self, target: &str, path: &str) -> SessionResult<()> {
        if target.is_empty() || target.contains('\0') {
            return Err(fs_err(
                ErrorCode::InvalidPath,
                path,
                format!("invalid symlink target {target:?}"),
            ));
        }
        self.create(
            Op::Symlink,
            path,
            Kind::Symlink,
            0o777,
            Content::Link(target.into()),
        )
    }

    /// Create `path` as a hardlink to the file `existing`.
    pub fn hardlink(&mut self, existing: &str, path: &str) -> SessionResult<()> {
        self.writable(path)?;
        let src = self.scoped(Access::Read, existing, Follow::NotFinal)?;
        let p = self.scoped(Access::Write, path, Follow::NotFinal)?;
        Self::not_root(&p, path)?;
        let Some(meta) = self.node(&src)? else {
            return Err(fs_err(ErrorCode::NotFound, existing, "no such file"));
        };
        if meta.kind != Kind::File {
            return Err(fs_err(
                ErrorCode::Unsupported,
                existing,
                "only regular files can be hardlinked",
            ));
        }
        if self.node(&p)?.is_some() {
            return Err(fs_err(ErrorCode::AlreadyExists, path, "already exists"));
        }
        let bytes = self.contents(&src)?.to_vec();
        let digest = self.store(path, bytes)?;
        self.view.staged.insert(
            p.clone(),
            Staged::Node(Node {
                meta,
                content: Content::Blob(digest),
            }),
        );
        self.record(Op::Hardlink, &p, Some(&src), None)
    }

    /// Remove a file, symlink or empty directory.
    pub fn remove(&mut self, path: &str) -> SessionResult<()> {
        self.writable(path)?;
        let p = self.scoped(Access::Write, path, Follow::NotFinal)?;
        Self::not_root(&p, path)?;
        match self.node(&p)? {
            None => {
                return Err(fs_err(
                    ErrorCode::NotFound,
                    path,
                    "no such file or directory",
                ));
            }
            Some(m) if m.kind == Kind::Dir && !self.list(&p)?.is_empty() => {
                return Err(fs_err(
                    ErrorCode::DirectoryNotEmpty,
                    path,
                    "directory is not empty",
                ));
            }
            Some(_) => {}
        }
        let before = self.state(&p)?;
        self.view.staged.insert(p.clone(), Staged::Removed);
        self.record(Op::Remove, &p, None, before)
    }

    /// Move a file or symlink.
    pub fn rename(&mut self, from: &str, to: &str) -> SessionResult<()> {
        self.writable(to)?;
        let src = self.scoped(Access::Write, from, Follow::NotFinal)?;
        let dst = self.scoped(Access::Write, to, Follow::NotFinal)?;
        Self::not_root(&src, from)?;
        Self::not_root(&dst, to)?;
        let Some(meta) = self.node(&src)? else {
            return Err(fs_err(ErrorCode::NotFound, from, "no such file"));
        };
        if meta.kind == Kind::Dir {
            return Err(fs_err(
                ErrorCode::Unsupported,
                from,
                "renaming directories is not supported; create the new one and move its entries",
            ));
        }
        if meta.kind != Kind::File && meta.kind != Kind::Symlink {
            return Err(fs_err(
                ErrorCode::Unsupported,
                from,
                "only files and symlinks can be renamed",
            ));
        }
        if self.node(&dst)?.is_some_and(|m| m.kind == Kind::Dir) {
            return Err(fs_err(ErrorCode::IsADirectory, to, "is a directory"));
        }
        if src == dst {
            return Ok(());
        }
        let node = self.copy_up(&src)?;
        let before = self.state(&dst)?;
        self.view.staged.insert(src.clone(), Staged::Removed);
        self.view.staged.insert(dst.clone(), Staged::Node(node));
        // One entry: `from` is gone afterwards, and its old state is `after`.
        self.record(Op::Rename, &dst, Some(&src), before)?;
        Ok(())
    }

    /// The node at `p` as a staged node, its contents copied into the blobs.
    fn copy_up(&mut self, p: &RootPath) -> SessionResult<Node> {
        if let Some(Staged::Node(n)) = self.view.staged.get(p) {
            return Ok(n.clone());
        }
        let meta = self
            .node(p)?
            .ok_or_else(|| fs_err(ErrorCode::NotFound, p.as_str(), "no such file"))?;
        let content = match meta.kind {
            Kind::File => {
                let bytes = self.contents(p)?.to_vec();
                Content::Blob(self.store(p.as_str(), bytes)?)
            }
            Kind::Symlink => Content::Link(
                self.link_target(p)
                    .map_err(|e| fs_err(ErrorCode::Io, p.as_str(), e.to_string()))?,
            ),
            Kind::Dir => Content::None,
            _ => {
                return Err(fs_err(
                    ErrorCode::Unsupported,
                    p.as_str(),
                    "devices, fifos and sockets cannot be changed",
                ));
            }
        };
        Ok(Node { meta, content })
    }

    fn change_meta(&mut self, op: Op, path: &str, f: impl FnOnce(&mut Meta)) -> SessionResult<()> {
        self.writable(path)?;
        let p = self.scoped(Access::Write, path, Follow::Final)?;
        Self::not_root(&p, path)?;
        let before = self.state(&p)?;
        if before.is_none() {
            return Err(fs_err(
                ErrorCode::NotFound,
                path,
                "no such file or directory",
            ));
        }
        let mut node = self.copy_up(&p)?;
        f(&mut node.meta);
        self.view.staged.insert(p.clone(), Staged::Node(node));
        self.record(op, &p, None, before)
    }

    /// Change permission bits (following symlinks).
    pub fn chmod(&mut self, path: &str, mode: u32) -> SessionResult<()> {
        self.change_meta(Op::Chmod, path, |m| m.mode = mode & 0o7777)
    }

    /// Change owner and group (following symlinks).
    pub fn chown(&mut self, path: &str, uid: u32, gid: u32) -> SessionResult<()> {
        self.change_meta(Op::Chown, path, |m| {
            m.uid = uid;
            m.gid = gid;
        })
    }
}
