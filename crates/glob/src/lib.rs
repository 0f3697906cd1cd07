//! Absolute path globs for rootfs paths, shared by the host (capability
//! scopes) and the SDK (walking the rootfs).
//!
//! Besides "does this path match", both sides need "could anything below this
//! directory match": the host to let a recipe list the directories on the way
//! to its files and nothing else, the SDK to prune its walk. Glob crates only
//! answer the first question, so patterns are matched here component by
//! component; the `glob` crate matches each component.
//!
//! ```
//! let p = rootwasm_glob::Glob::new("/usr/lib/python3*/**/requests/*.py").unwrap();
//! assert!(p.matches("/usr/lib/python3.11/site-packages/requests/sessions.py"));
//! assert!(p.may_contain("/usr/lib"));
//! assert!(!p.may_contain("/etc"));
//! ```
#![deny(missing_docs)]

use glob::{MatchOptions, Pattern};

#[derive(Clone, Debug)]
enum Seg {
    /// `**`: zero or more components.
    Any,
    /// A literal component, kept apart so walks can jump straight to it.
    Literal(String),
    /// A component with wildcards.
    Wild(Pattern),
}

/// A compiled absolute glob. `*`, `?` and `[...]` match within one path
/// component; a whole component `**` matches any number of components,
/// zero included (so `/a/**` matches `/a` itself).
#[derive(Clone, Debug)]
pub struct Glob {
    text: String,
    segs: Vec<Seg>,
}

/// Why a pattern is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "glob {:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for GlobError {}

/// A glob matching exactly `path`: its `*`, `?`, `[` and `]` escaped.
pub fn escape(path: &str) -> String {
    Pattern::escape(path)
}

const OPTS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

fn parts(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty() && *s != ".")
}

impl Glob {
    /// Compile `text`, which must start with `/` and contain no `.` or `..` components.
    pub fn new(text: &str) -> Result<Self, GlobError> {
        let err = |reason: &str| GlobError {
            pattern: text.into(),
            reason: reason.into(),
        };
        if !text.starts_with('/') {
            return Err(err("must be absolute, starting with '/'"));
        }
        let mut segs = Vec::new();
        for part in text.split('/').filter(|s| !s.is_empty()) {
            match part {
                "." | ".." => return Err(err("'.' and '..' components are not allowed")),
                "**" => {
                    if !matches!(segs.last(), Some(Seg::Any)) {
                        segs.push(Seg::Any);
                    }
                }
                p if p.contains("**") => return Err(err("'**' must be a whole path component")),
                p if !p.contains(['*', '?', '[']) => segs.push(Seg::Literal(p.into())),
                p => segs.push(Seg::Wild(Pattern::new(p).map_err(|e| err(e.msg))?)),
            }
        }
        Ok(Glob {
            text: text.into(),
            segs,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The directory a walk can start from: the literal components before the first wildcard.
    pub fn base(&self) -> String {
        let mut s = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Literal(l) => {
                    s.push('/');
                    s.push_str(l);
                }
                _ => break,
            }
        }
        if s.is_empty() { "/".into() } else { s }
    }

    /// The one path the pattern matches when it has no wildcard, as
    /// `/a/b` (`/` for the root), so callers can look it up in a set.
    pub fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for seg in &self.segs {
            let Seg::Literal(l) = seg else {
                return None;
            };
            s.push('/');
            s.push_str(l);
        }
        Some(if s.is_empty() { "/".into() } else { s })
    }

    /// Does the absolute `path` match the whole pattern?
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = parts(path).collect();
        matches_from(&self.segs, &parts)
    }

    /// Could some path strictly below the directory `dir` match?
    pub fn may_contain(&self, dir: &str) -> bool {
        let parts: Vec<&str> = parts(dir).collect();
        may_contain_from(&self.segs, &parts)
    }
}

fn seg_matches(seg: &Seg, part: &str) -> bool {
    match seg {
        Seg::Any => true,
        Seg::Literal(l) => l == part,
        Seg::Wild(p) => p.matches_with(part, OPTS),
    }
}

fn matches_from(segs: &[Seg], parts: &[&str]) -> bool {
    match (segs.first(), parts.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(Seg::Any), _) => {
            matches_from(&segs[1..], parts)
                || (!parts.is_empty() && matches_from(segs, &parts[1..]))
        }
        (Some(_), None) => false,
        (Some(s), Some(p)) => seg_matches(s, p) && matches_from(&segs[1..], &parts[1..]),
    }
}

fn may_contain_from(segs: &[Seg], parts: &[&str]) -> bool {
    match (segs.first(), parts.first()) {
        (Some(_), None) => true,
        (None, _) => false,
        (Some(Seg::Any), _) => true,
        (Some(s), Some(p)) => seg_matches(s, p) && may_contain_from(&segs[1..], &parts[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let g = Glob::new("/usr/lib/python3*/**/requests/**").unwrap();
        assert!(g.matches("/usr/lib/python3.11/site-packages/requests/x/y"));
        assert!(g.matches("/usr/lib/python3/requests/a.py"));
        assert!(!g.matches("/usr/lib/python3.11"));
        // `**` matches zero components too, so `dir/**` covers `dir` itself.
        assert!(g.matches("/usr/lib/python3.11/requests"));
        assert!(!g.matches("/usr/lib/python3.11/urllib3/x"));
        let one = Glob::new("/a/*.py").unwrap();
        assert!(one.matches("/a/x.py"));
        assert!(!one.matches("/a/b/x.py"));
        assert!(
            Glob::new("/etc/os-release")
                .unwrap()
                .matches("/etc/os-release")
        );
    }

    #[test]
    fn containment() {
        let g = Glob::new("/usr/lib/python3*/**/requests/*.py").unwrap();
        assert!(g.may_contain("/"));
        assert!(g.may_contain("/usr/lib"));
        assert!(g.may_contain("/usr/lib/python3.11/a/b/c"));
        assert!(!g.may_contain("/usr/share"));
        assert!(
            !Glob::new("/etc/os-release")
                .unwrap()
                .may_contain("/etc/os-release")
        );
        assert_eq!(g.base(), "/usr/lib");
        assert_eq!(g.literal(), None);
        let l = Glob::new("/etc//os-release").unwrap();
        assert_eq!(l.literal().as_deref(), Some("/etc/os-release"));
        assert_eq!(Glob::new("/").unwrap().literal().as_deref(), Some("/"));
    }

    #[test]
    fn bad_patterns() {
        assert!(Glob::new("relative/x").is_err());
        assert!(Glob::new("/a/../b").is_err());
        assert!(Glob::new("/a/b**").is_err());
        assert!(Glob::new("/a/[").is_err());
    }
}
