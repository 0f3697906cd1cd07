//! Paths inside the root, and symlink resolution that cannot leave it.

use super::{Kind, Meta};
use std::collections::VecDeque;
use std::fmt;

/// Symlinks followed in one resolution before it is called a loop (Linux's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

/// An absolute, normalised path inside a root: `/`, or `/a/b` with no `.`,
/// `..`, empty or NUL-containing components.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RootPath(String);

/// Ordered, compared and hashed as its string, so maps keyed by `RootPath`
/// can be searched by `&str` ranges.
impl std::borrow::Borrow<str> for RootPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RootPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let p = RootPath::lexical(&s).map_err(|e| e.to_string())?;
        if p.0 != s {
            return Err(format!("{s:?} is not a normalised absolute path"));
        }
        Ok(p)
    }
}

impl From<RootPath> for String {
    fn from(p: RootPath) -> String {
        p.0
    }
}

impl RootPath {
    /// The root itself.
    pub fn root() -> Self {
        RootPath("/".into())
    }

    /// Lexically normalise `path` as seen from the root: relative paths start
    /// at `/`, `.` is dropped, and `..` stops at `/`. Symlinks are *not*
    /// followed; use [`resolve`] for that.
    pub fn lexical(path: &str) -> Result<Self, ResolveError> {
        if path.contains('\0') {
            return Err(ResolveError::Invalid(path.into()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        Ok(Self::from_parts(&parts))
    }

    fn from_parts<S: AsRef<str>>(parts: &[S]) -> Self {
        let mut s = String::new();
        for p in parts {
            s.push('/');
            s.push_str(p.as_ref());
        }
        if s.is_empty() {
            s.push('/');
        }
        RootPath(s)
    }

    /// The path as a string, always starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path relative to the root (`.` for the root), for `cap-std`.
    pub fn relative(&self) -> &str {
        if self.0 == "/" { "." } else { &self.0[1..] }
    }

    /// Is this the root?
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The parent directory; the root is its own parent.
    pub fn parent(&self) -> RootPath {
        match self.0.rfind('/') {
            Some(0) | None => RootPath::root(),
            Some(i) => RootPath(self.0[..i].into()),
        }
    }

    /// The last component; empty for the root.
    pub fn file_name(&self) -> &str {
        &self.0[self.0.rfind('/').map_or(0, |i| i + 1)..]
    }

    /// `self/name`, where `name` is one component.
    pub fn join(&self, name: &str) -> RootPath {
        debug_assert!(!name.contains('/') && name != ".." && name != "." && !name.is_empty());
        if self.is_root() {
            RootPath(format!("/{name}"))
        } else {
            RootPath(format!("{}/{name}", self.0))
        }
    }

    /// Is `self` strictly below `dir`?
    pub fn is_inside(&self, dir: &RootPath) -> bool {
        if dir.is_root() {
            !self.is_root()
        } else {
            self.0.len() > dir.0.len()
                && self.0.starts_with(&dir.0)
                && self.0.as_bytes()[dir.0.len()] == b'/'
        }
    }
}

impl fmt::Display for RootPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether [`resolve`] follows a symlink in the last component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Follow it, like `stat(2)` and `open(2)`.
    Final,
    /// Leave it, like `lstat(2)`, `unlink(2)` and `readlink(2)`.
    NotFinal,
}

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    /// A path containing NUL.
    #[error("invalid path {0:?}")]
    Invalid(String),
    /// More than 40 symlinks on the way.
    #[error("too many levels of symbolic links resolving {0}")]
    Loop(String),
    /// A directory on the way is missing.
    #[error("{0} does not exist")]
    NotFound(String),
    /// A non-directory on the way.
    #[error("{0} is not a directory")]
    NotADirectory(String),
    /// The view failed to answer.
    #[error("reading {path}: {message}")]
    Io {
        /// Where.
        path: String,
        /// What the view said.
        message: String,
    },
}

/// Resolve `path` inside the root described by `lstat`/`readlink`.
///
/// Symlinks resolve as if the root were `/`: an absolute target restarts at
/// the root, and `..` never climbs above it. The result names no symlink
/// except, with [`Follow::NotFinal`], the last component. The last component
/// may be absent; every component before it exists and is a directory.
pub fn resolve<L, R>(
    path: &str,
    follow: Follow,
    mut lstat: L,
    mut readlink: R,
) -> Result<RootPath, ResolveError>
where
    L: FnMut(&RootPath) -> std::io::Result<Option<Meta>>,
    R: FnMut(&RootPath) -> std::io::Result<String>,
{
    if path.contains('\0') {
        return Err(ResolveError::Invalid(path.into()));
    }
    let io_err = |p: &RootPath, e: std::io::Error| ResolveError::Io {
        path: p.to_string(),
        message: e.to_string(),
    };
    let mut todo: VecDeque<String> = components(path).collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        done.push(c);
        let here = RootPath::from_parts(&done);
        let last = todo.is_empty();
        if last && follow == Follow::NotFinal {
            break;
        }
        match lstat(&here).map_err(|e| io_err(&here, e))? {
            Some(m) if m.kind == Kind::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ResolveError::Loop(path.into()));
                }
                let target = readlink(&here).map_err(|e| io_err(&here, e))?;
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                for (i, t) in components(&target).enumerate() {
                    todo.insert(i, t);
                }
            }
            Some(m) if m.kind == Kind::Dir => {}
            Some(_) if !last => return Err(ResolveError::NotADirectory(here.to_string())),
            None if !last => return Err(ResolveError::NotFound(here.to_string())),
            _ => {}
        }
    }
    Ok(RootPath::from_parts(&done))
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tiny in-memory tree: path -> Some(link target) for symlinks, None for dirs/files.
    struct Tree(BTreeMap<&'static str, (Kind, &'static str)>);

    impl Tree {
        fn resolve(&self, p: &str, f: Follow) -> Result<RootPath, ResolveError> {
            resolve(
                p,
                f,
                |p| {
                    Ok(self
                        .0
                        .get(p.as_str())
                        .map(|(kind, _)| Meta {
                            kind: *kind,
                            size: 0,
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                        })
                        .or_else(|| {
                            p.is_root().then_some(Meta {
                                kind: Kind::Dir,
                                size: 0,
                                mode: 0o755,
                                uid: 0,
                                gid: 0,
                            })
                        }))
                },
                |p| Ok(self.0[p.as_str()].1.to_string()),
            )
        }
    }

    fn tree() -> Tree {
        Tree(BTreeMap::from([
            ("/etc", (Kind::Dir, "")),
            ("/etc/passwd", (Kind::File, "")),
            ("/usr", (Kind::Dir, "")),
            ("/usr/lib", (Kind::Dir, "")),
            ("/lib", (Kind::Symlink, "usr/lib")),
            ("/hostetc", (Kind::Symlink, "/etc")),
            ("/up", (Kind::Symlink, "../../..")),
            ("/usr/lib/up2", (Kind::Symlink, "../../../../etc/passwd")),
            ("/loop1", (Kind::Symlink, "loop2")),
            ("/loop2", (Kind::Symlink, "/loop1")),
            ("/usr/lib/file", (Kind::File, "")),
        ]))
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        assert_eq!(
            tree()
                .resolve("/hostetc/passwd", Follow::Final)
                .unwrap()
                .as_str(),
            "/etc/passwd"
        );
    }

    #[test]
    fn dotdot_cannot_climb_out() {
        let t = tree();
        assert_eq!(
            t.resolve("/../../etc/passwd", Follow::Final)
                .unwrap()
                .as_str(),
            "/etc/passwd"
        );
        assert_eq!(
            t.resolve("/up/etc", Follow::Final).unwrap().as_str(),
            "/etc"
        );
        assert_eq!(
            t.resolve("/usr/lib/up2", Follow::Final).unwrap().as_str(),
            "/etc/passwd"
        );
        assert_eq!(
            t.resolve("/lib/../etc", Follow::Final).unwrap().as_str(),
            "/usr/etc"
        );
    }

    #[test]
    fn final_symlink_is_kept_when_asked() {
        assert_eq!(
            tree().resolve("/lib", Follow::NotFinal).unwrap().as_str(),
            "/lib"
        );
        assert_eq!(
            tree()
                .resolve("/lib/file", Follow::NotFinal)
                .unwrap()
                .as_str(),
            "/usr/lib/file"
        );
    }

    #[test]
    fn loops_are_errors() {
        assert!(matches!(
            tree().resolve("/loop1/x", Follow::Final),
            Err(ResolveError::Loop(_))
        ));
        assert!(matches!(
            tree().resolve("/loop1", Follow::Final),
            Err(ResolveError::Loop(_))
        ));
    }

    #[test]
    fn missing_and_non_directories() {
        assert!(matches!(
            tree().resolve("/nope/x", Follow::Final),
            Err(ResolveError::NotFound(_))
        ));
        assert!(matches!(
            tree().resolve("/etc/passwd/x", Follow::Final),
            Err(ResolveError::NotADirectory(_))
        ));
        assert_eq!(
            tree().resolve("/etc/new", Follow::Final).unwrap().as_str(),
            "/etc/new"
        );
    }

    #[test]
    fn lexical_normalisation() {
        assert_eq!(RootPath::lexical("a/./b//../c").unwrap().as_str(), "/a/c");
        assert_eq!(RootPath::lexical("/../..").unwrap().as_str(), "/");
        assert!(RootPath::lexical("/a\0b").is_err());
        let p = RootPath::lexical("/usr/lib/x").unwrap();
        assert_eq!(p.parent().as_str(), "/usr/lib");
        assert_eq!(p.file_name(), "x");
        assert!(p.is_inside(&RootPath::lexical("/usr").unwrap()));
        assert!(
            !RootPath::lexical("/usrx")
                .unwrap()
                .is_inside(&RootPath::lexical("/usr").unwrap())
        );
    }
}
