//! Alpine package versions, compared the way apk-tools compares them.
//!
//! Hand-written on purpose: crates.io has no maintained pure-Rust apk
//! comparator (the near matches compare pacman versions or bind apk-tools'
//! C library), and the rules are small. They follow apk-tools'
//! `src/version.c` (2.14 / 3.x), read as a specification:
//!
//! `digits{.digits}[letter]{_suffix[digits]}[~hexhash][-rdigits]`
//!
//! * the first number compares numerically; later dot-separated numbers too,
//!   unless either side starts with `0`, which makes it a plain byte-string
//!   comparison (`1.01 < 1.1`, `1.0 < 1.00`);
//! * one lowercase letter may follow a number (`1.2a`);
//! * suffixes rank `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn <
//!   _git < _hg < _p`, each with an optional number;
//! * `~hash` compares as bytes, `-rN` numerically;
//! * when one version runs out of parts or the next parts differ in kind,
//!   a pre-release suffix loses, otherwise the part that comes *earlier* in
//!   the grammar wins (`1.2.1 > 1.2a > 1.2_p1 > 1.2~ab > 1.2-r1 > 1.2`).
//!
//! Versions apk-tools' `apk_version_validate` rejects (two letters as in
//! `0.9.8zh`, unknown suffixes, anything after `-rN`) are errors here:
//! abuild refuses to build such packages, so an installed database should
//! not contain them, and a range that names one is a typo worth reporting.
//! One deliberate difference: numbers of any length compare exactly, where
//! apk-tools parses them into 64 bits.

use super::VersionError;
use std::cmp::Ordering;

/// A part of a version, in grammar order; the derived order is apk-tools' token order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Initial,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    Hash,
    Revision,
    End,
}

/// Suffix ranks: negative ones are pre-releases, sorting before the bare release.
const SUFFIXES: &[(&str, i8)] = &[
    ("alpha", -4),
    ("beta", -3),
    ("pre", -2),
    ("rc", -1),
    ("cvs", 1),
    ("svn", 2),
    ("git", 3),
    ("hg", 4),
    ("p", 5),
];

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    /// Only for `Kind::Suffix`.
    rank: i8,
}

/// A valid apk version, split into parts.
#[derive(Clone, Debug)]
pub struct Version<'a>(Vec<Token<'a>>);

fn run(s: &str, from: usize, f: impl Fn(u8) -> bool) -> usize {
    s.as_bytes()[from..]
        .iter()
        .position(|&c| !f(c))
        .map_or(s.len(), |n| from + n)
}

impl<'a> Version<'a> {
    /// Split `v`, or say why apk-tools would reject it.
    pub fn parse(v: &'a str) -> Result<Self, VersionError> {
        let bad = |why: &str| {
            Err(VersionError(format!(
                "{v:?} is not an apk version ({why}); apk versions look like 1.2.3[a][_rc1][-r0]"
            )))
        };
        let b = v.as_bytes();
        let end = run(v, 0, |c| c.is_ascii_digit());
        if end == 0 {
            return bad("it must start with a digit");
        }
        let mut out = vec![Token {
            kind: Kind::Initial,
            text: &v[..end],
            rank: 0,
        }];
        let mut i = end;
        while i < b.len() {
            let prev = out.last().expect("starts with the initial number").kind;
            let (kind, start, stop) = match b[i] {
                b'a'..=b'z' if prev <= Kind::Digit => (Kind::Letter, i, i + 1),
                b'.' if prev <= Kind::Digit => {
                    (Kind::Digit, i + 1, run(v, i + 1, |c| c.is_ascii_digit()))
                }
                b'0'..=b'9' if prev == Kind::Suffix => {
                    (Kind::SuffixNo, i, run(v, i, |c| c.is_ascii_digit()))
                }
                b'_' if prev <= Kind::SuffixNo => (
                    Kind::Suffix,
                    i + 1,
                    run(v, i + 1, |c| c.is_ascii_lowercase()),
                ),
                b'~' if prev < Kind::Hash => (
                    Kind::Hash,
                    i + 1,
                    run(v, i + 1, |c| {
                        c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
                    }),
                ),
                b'-' if prev < Kind::Revision && b.get(i + 1) == Some(&b'r') => {
                    (Kind::Revision, i + 2, run(v, i + 2, |c| c.is_ascii_digit()))
                }
                _ => return bad(&format!("unexpected {:?} at byte {i}", char::from(b[i]))),
            };
            if start == stop {
                return bad(&format!("nothing after {:?} at byte {i}", char::from(b[i])));
            }
            let text = &v[start..stop];
            let rank = if kind == Kind::Suffix {
                match SUFFIXES.iter().find(|(s, _)| *s == text) {
                    Some((_, r)) => *r,
                    None => return bad(&format!("unknown suffix _{text}")),
                }
            } else {
                0
            };
            out.push(Token { kind, text, rank });
            i = stop;
        }
        Ok(Version(out))
    }

    fn kind_at(&self, i: usize) -> Kind {
        self.0.get(i).map_or(Kind::End, |t| t.kind)
    }

    /// Does `self` start with `prefix`, part for part (apk's fuzzy `~` match)?
    pub fn fuzzy_matches(&self, prefix: &Version<'_>) -> bool {
        prefix.0.len() <= self.0.len()
            && self
                .0
                .iter()
                .zip(&prefix.0)
                .all(|(a, b)| a.kind == b.kind && same_kind(a, b) == Ordering::Equal)
    }
}

/// Numbers of any length, compared by value.
fn numeric(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn same_kind(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        Kind::Digit if a.text.starts_with('0') || b.text.starts_with('0') => a.text.cmp(b.text),
        Kind::Initial | Kind::Digit | Kind::SuffixNo | Kind::Revision => numeric(a.text, b.text),
        Kind::Suffix => a.rank.cmp(&b.rank),
        Kind::Letter | Kind::Hash | Kind::End => a.text.cmp(b.text),
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut i = 0;
        while i < self.0.len() && i < other.0.len() && self.0[i].kind == other.0[i].kind {
            let o = same_kind(&self.0[i], &other.0[i]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
        }
        let (ka, kb) = (self.kind_at(i), other.kind_at(i));
        if ka == kb {
            return Ordering::Equal;
        }
        let pre = |v: &Version<'_>| {
            v.0.get(i)
                .is_some_and(|t| t.kind == Kind::Suffix && t.rank < 0)
        };
        if pre(self) {
            return Ordering::Less;
        }
        if pre(other) {
            return Ordering::Greater;
        }
        // The part earlier in the grammar means "more version": it wins.
        kb.cmp(&ka)
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().cmp(&Version::parse(b).unwrap())
    }

    #[test]
    fn grammar_order_decides_when_parts_differ_in_kind() {
        use Ordering::*;
        assert_eq!(cmp("1.2.1", "1.2a"), Greater);
        assert_eq!(cmp("1.2a", "1.2_p1"), Greater);
        assert_eq!(cmp("1.2_p1", "1.2~ab"), Greater);
        assert_eq!(cmp("1.2~ab", "1.2-r1"), Greater);
        assert_eq!(cmp("1.2-r1", "1.2"), Greater);
        assert_eq!(cmp("1.2_rc1", "1.2"), Less);
        assert_eq!(cmp("1.2_rc1", "1.2-r5"), Less);
        // A numbered suffix against a second suffix: the later kind loses unless it is a pre-release.
        assert_eq!(cmp("1_git1", "1_git_p"), Less);
        assert_eq!(cmp("1_git1", "1_git_rc"), Greater);
    }

    #[test]
    fn leading_zeros_compare_as_strings() {
        use Ordering::*;
        assert_eq!(cmp("1.01", "1.1"), Less);
        assert_eq!(cmp("1.0", "1.00"), Less);
        assert_eq!(cmp("1.10", "1.010"), Greater);
        assert_eq!(
            cmp("01.2", "1.2"),
            Equal,
            "the first number is always numeric"
        );
        assert_eq!(cmp("1_p01", "1_p1"), Equal);
    }

    #[test]
    fn invalid_versions_are_refused() {
        for v in [
            "",
            "a1",
            "0.9.8zh",
            "1.2_foo",
            "1.2-r",
            "1.2-r1-r2",
            "1.2-1",
            "1..2",
            "1.2~",
            "1.2~XY",
            "1.2 ",
            "1.2a.3",
        ] {
            assert!(Version::parse(v).is_err(), "{v:?} should be invalid");
        }
    }
}
