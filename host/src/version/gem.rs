//! RubyGems versions, as `Gem::Version` orders them.
//!
//! Hand-written because no maintained Rust crate implements RubyGems'
//! rules; checked against Ruby's own `Gem::Version#<=>` in the tests
//! (`host/tests/it/versions.rs`). The rules (rubygems/version.rb): a
//! version is split into segments at dots and at every change between
//! digits and letters (`1.0.a10` is 1, 0, "a", 10); trailing zero
//! segments, and zeros just before the first letter segment, do not count;
//! numbers compare as numbers, strings as strings, and a string segment
//! (a prerelease) sorts before any number.

use super::VersionError;
use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Num(u64),
    Str(String),
}

/// A parsed gem version.
#[derive(Clone, Debug)]
pub struct Version {
    segs: Vec<Seg>,
}

impl Version {
    /// Parse `s` (RubyGems accepts digits, letters, dots and `-`, which means `.pre.`).
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let s = s.trim();
        // Gem::Version::ANCHORED_VERSION_PATTERN: digits, then `.alnum`
        // segments, then optionally `-` and `.`-separated `[alnum-]` parts.
        let (main, pre) = s.split_once('-').unwrap_or((s, ""));
        let mut parts = main.split('.');
        let first_ok = parts
            .next()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let rest_ok = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        let pre_ok = !s.contains('-')
            || pre.split('.').all(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !(first_ok && rest_ok && pre_ok) {
            return Err(VersionError(format!("{s:?} is not a RubyGems version")));
        }
        let s = s.replace('-', ".pre.");
        let mut segs = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let mut cur = String::new();
            for c in part.chars() {
                if !cur.is_empty()
                    && cur.chars().last().unwrap().is_ascii_digit() != c.is_ascii_digit()
                {
                    segs.push(seg(&cur)?);
                    cur.clear();
                }
                cur.push(c);
            }
            segs.push(seg(&cur)?);
        }
        Ok(Version { segs })
    }

    /// `Gem::Version#canonical_segments`: trailing zeros dropped, and zeros
    /// right before the first string segment dropped.
    fn canonical(&self) -> Vec<Seg> {
        let first_str = self.segs.iter().position(|s| matches!(s, Seg::Str(_)));
        let (mut rel, pre) = match first_str {
            Some(i) => (self.segs[..i].to_vec(), self.segs[i..].to_vec()),
            None => (self.segs.clone(), Vec::new()),
        };
        while rel.last() == Some(&Seg::Num(0)) {
            rel.pop();
        }
        let mut pre = pre;
        while pre.last() == Some(&Seg::Num(0)) {
            pre.pop();
        }
        rel.extend(pre);
        rel
    }

    /// `Gem::Version#bump`, for `~>`: drop prerelease segments and the last
    /// segment (if more than one), then increment the last.
    pub fn bump(&self) -> Version {
        let mut segs: Vec<Seg> = self
            .segs
            .iter()
            .take_while(|s| matches!(s, Seg::Num(_)))
            .cloned()
            .collect();
        if segs.len() > 1 {
            segs.pop();
        }
        if let Some(Seg::Num(n)) = segs.last_mut() {
            *n += 1;
        }
        Version { segs }
    }
}

fn seg(s: &str) -> Result<Seg, VersionError> {
    if s.chars().all(|c| c.is_ascii_digit()) {
        s.parse()
            .map(Seg::Num)
            .map_err(|_| VersionError(format!("{s:?}: version segment too large")))
    } else {
        Ok(Seg::Str(s.to_owned()))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.canonical(), other.canonical());
        let n = a.len().max(b.len());
        for i in 0..n {
            let x = a.get(i).cloned().unwrap_or(Seg::Num(0));
            let y = b.get(i).cloned().unwrap_or(Seg::Num(0));
            let o = match (&x, &y) {
                (Seg::Num(p), Seg::Num(q)) => p.cmp(q),
                (Seg::Str(p), Seg::Str(q)) => p.cmp(q),
                (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
                (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().cmp(&Version::parse(b).unwrap())
    }

    #[test]
    fn rubygems_order() {
        assert_eq!(c("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(c("1.0.a", "1.0"), Ordering::Less);
        assert_eq!(c("2.2.8.1", "2.2.8"), Ordering::Greater);
        assert_eq!(c("1.0.b1", "1.0.a2"), Ordering::Greater);
        assert_eq!(c("1.0.0-rc1", "1.0.0"), Ordering::Less);
        assert!(Version::parse("x1").is_err());
        assert!(Version::parse("1a").is_err());
    }
}
