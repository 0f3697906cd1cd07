//! The paths a recipe declared it may read and write.
//!
//! Patterns are absolute globs over rootfs paths (`/usr/lib/python3*/**/requests/*.py`).
//! Besides "does this path match", the sandbox must answer "could anything
//! below this directory match", so a recipe can walk from `/` down to its
//! files without seeing anything else. `rootwasm-glob` answers both.

use crate::rootfs::RootPath;
use rootwasm_glob::Glob;
use std::collections::HashSet;

pub use rootwasm_glob::GlobError as PatternError;

/// What an access needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// See the node's metadata: allowed on readable paths and on directories on the way to them.
    Stat,
    /// Read contents or list a directory.
    Read,
    /// Create, replace, remove or change the node.
    Write,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Stat => "stat",
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// A recipe's declared read and write scope. Write implies read.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    read: Patterns,
    write: Patterns,
}

/// One pattern list. Generated recipes name thousands of exact paths (one
/// per file of a package), and every call the sandbox serves asks: so exact
/// paths and their ancestors are looked up in sets, and only patterns with
/// wildcards are tried one by one.
#[derive(Clone, Debug, Default)]
struct Patterns {
    exact: HashSet<String>,
    /// Strict ancestors of the exact paths: directories on the way to them.
    ancestors: HashSet<String>,
    wild: Vec<Glob>,
}

impl Patterns {
    fn new(texts: &[String]) -> Result<Self, PatternError> {
        let mut out = Patterns::default();
        for t in texts {
            let g = Glob::new(t)?;
            let Some(path) = g.literal() else {
                out.wild.push(g);
                continue;
            };
            let mut dir = path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/').filter(|_| dir != "/") {
                dir = if parent.is_empty() { "/" } else { parent };
                if !out.ancestors.insert(dir.to_owned()) {
                    break;
                }
            }
            out.exact.insert(path);
        }
        Ok(out)
    }

    fn matches(&self, path: &str) -> bool {
        self.exact.contains(path) || self.wild.iter().any(|p| p.matches(path))
    }

    fn matches_or_leads_to(&self, path: &str) -> bool {
        self.exact.contains(path)
            || self.ancestors.contains(path)
            || self
                .wild
                .iter()
                .any(|p| p.matches(path) || p.may_contain(path))
    }
}

impl Scope {
    /// Compile the `read` and `write` pattern lists.
    pub fn new(read: &[String], write: &[String]) -> Result<Self, PatternError> {
        Ok(Scope {
            read: Patterns::new(read)?,
            write: Patterns::new(write)?,
        })
    }

    /// May the recipe perform `access` on `path`?
    pub fn allows(&self, access: Access, path: &RootPath) -> bool {
        let path = path.as_str();
        match access {
            Access::Write => self.write.matches(path),
            Access::Read => self.read.matches(path) || self.write.matches(path),
            Access::Stat => {
                self.read.matches_or_leads_to(path) || self.write.matches_or_leads_to(path)
            }
        }
    }

    /// May a directory listing show `path`? Yes if it is readable or leads to something readable.
    pub fn visible(&self, path: &RootPath) -> bool {
        self.allows(Access::Stat, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RootPath {
        RootPath::lexical(s).unwrap()
    }

    fn scope() -> Scope {
        Scope::new(
            &[
                "/usr/lib/python3*/**/requests/**".into(),
                "/etc/os-release".into(),
            ],
            &["/usr/lib/python3*/**/requests/*.py".into()],
        )
        .unwrap()
    }

    #[test]
    fn matching() {
        let s = scope();
        assert!(s.allows(
            Access::Read,
            &p("/usr/lib/python3.11/site-packages/requests/x/y")
        ));
        assert!(s.allows(Access::Read, &p("/usr/lib/python3/requests/a.py")));
        assert!(s.allows(
            Access::Write,
            &p("/usr/lib/python3/dist-packages/requests/a.py")
        ));
        assert!(!s.allows(
            Access::Write,
            &p("/usr/lib/python3/dist-packages/requests/x/a.py")
        ));
        assert!(!s.allows(Access::Read, &p("/etc/passwd")));
        assert!(!s.allows(Access::Read, &p("/usr/lib/python3.11")));
    }

    #[test]
    fn directories_on_the_way_are_visible_but_not_readable() {
        let s = scope();
        assert!(s.allows(Access::Stat, &p("/")));
        assert!(s.allows(Access::Stat, &p("/usr/lib")));
        assert!(s.allows(Access::Stat, &p("/usr/lib/python3.11/anything/deep")));
        assert!(s.allows(Access::Stat, &p("/etc")));
        assert!(!s.allows(Access::Stat, &p("/etc/shadow")));
        assert!(!s.allows(Access::Stat, &p("/var")));
        assert!(!s.allows(Access::Read, &p("/etc")));
    }

    #[test]
    fn exact_paths_answer_like_globs() {
        let s = Scope::new(&["/etc/ssl/certs/ca.pem".into(), "/".into()], &[]).unwrap();
        assert!(s.allows(Access::Read, &p("/etc/ssl/certs/ca.pem")));
        assert!(s.allows(Access::Read, &p("/")));
        assert!(!s.allows(Access::Read, &p("/etc/ssl")));
        for dir in ["/etc", "/etc/ssl", "/etc/ssl/certs"] {
            assert!(s.allows(Access::Stat, &p(dir)), "{dir}");
        }
        assert!(!s.allows(Access::Stat, &p("/etc/ssl/private")));
        assert!(!s.allows(Access::Stat, &p("/etc/ssl/certs/ca.pem/x")));
    }

    #[test]
    fn bad_patterns() {
        assert!(Scope::new(&["relative/x".into()], &[]).is_err());
        assert!(Scope::new(&["/a/../b".into()], &[]).is_err());
        assert!(Scope::new(&["/a/b**".into()], &[]).is_err());
    }
}
