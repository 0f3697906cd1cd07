//! Unified diffs with exact context.
//!
//! A security backport must land exactly where its author reviewed it, so
//! every hunk's context and removed lines must match the file exactly: at
//! the line the hunk states, or at the one other place they occur (an
//! offset, as `git apply` takes; an upstream release often moves code
//! without changing it). No fuzz: no context line is ever dropped. diffy
//! parses the diff; the placing and splicing are ours because diffy takes
//! the nearest match instead of refusing an ambiguous one.

use crate::types::{Error, Result};
use diffy::{Line, Patch};

/// One file's part of a multi-file diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePatch {
    /// The path from the `+++` line, without any timestamp.
    pub path: String,
    /// The diff text from `---` on.
    pub diff: String,
}

/// Split a multi-file unified diff (as `diff -ruN` or `git diff` write it) into files.
pub fn split(diff: &str) -> Result<Vec<FilePatch>> {
    let lines: Vec<&str> = diff.split_inclusive('\n').collect();
    let mut out: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with("--- ") && lines.get(i + 1).is_some_and(|l| l.starts_with("+++ ")) {
            let name = lines[i + 1][4..].trim_end_matches(['\n', '\r']);
            let name = name.split('\t').next().unwrap_or(name).to_owned();
            out.push(FilePatch {
                path: name,
                diff: String::new(),
            });
        }
        let starts_header = lines[i].starts_with("diff ")
            || lines[i].starts_with("index ")
            || lines[i].starts_with("Only in ");
        if let Some(f) = out.last_mut()
            && !starts_header
        {
            f.diff.push_str(lines[i]);
        }
        i += 1;
    }
    if out.is_empty() {
        return Err(Error::msg(
            "the diff names no files (no ---/+++ header lines)",
        ));
    }
    Ok(out)
}

/// Remove `n` leading components from a diff path, like `patch -p<n>`.
pub fn strip_path(path: &str, n: usize) -> Result<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() <= n || path.starts_with('/') && n == 0 {
        return Err(Error::msg(format!(
            "diff path {path:?} has too few components to strip {n}"
        )));
    }
    let rest = &parts[n..];
    if rest.iter().any(|p| *p == ".." || *p == ".") {
        return Err(Error::msg(format!(
            "diff path {path:?} contains '.' or '..'"
        )));
    }
    Ok(rest.join("/"))
}

/// Apply a one-file unified diff to `old`, the contents of `path` (named in errors).
///
/// Each hunk's context and removed lines must match exactly, at the line the
/// hunk states or, failing that, at the one other place in the file (after
/// the previous hunk) where they occur, as `git apply` allows. A hunk whose
/// lines occur nowhere, or at more than one other place, is refused: that is
/// the ambiguity a fuzzy apply would guess at.
pub fn apply(path: &str, old: &str, diff: &str) -> Result<String> {
    let patch =
        Patch::from_str(diff).map_err(|e| Error::msg(format!("{path}: malformed diff: {e}")))?;
    if patch.hunks().is_empty() {
        return Err(Error::msg(format!("{path}: the diff has no hunks")));
    }
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let mut out = String::with_capacity(old.len());
    // Lines of `old` already copied to `out` (or replaced by a hunk).
    let mut done = 0;
    for (i, h) in patch.hunks().iter().enumerate() {
        let r = h.old_range();
        let stated = if r.is_empty() {
            r.start()
        } else {
            r.start() - 1
        };
        let expected: Vec<&str> = h
            .lines()
            .iter()
            .filter_map(|l| match l {
                Line::Context(s) | Line::Delete(s) => Some(*s),
                Line::Insert(_) => None,
            })
            .collect();
        let fits = |at: usize| {
            at >= done
                && at + expected.len() <= lines.len()
                && lines[at..at + expected.len()] == expected[..]
        };
        let at = if fits(stated) {
            stated
        } else {
            let elsewhere: Vec<usize> = (done..=lines.len().saturating_sub(expected.len()))
                .filter(|&at| fits(at))
                .take(2)
                .collect();
            match elsewhere[..] {
                [at] => at,
                _ => {
                    return Err(mismatch(
                        path,
                        i,
                        h,
                        &lines,
                        stated,
                        &expected,
                        elsewhere.len(),
                    ));
                }
            }
        };
        for l in &lines[done..at] {
            out.push_str(l);
        }
        for l in h.lines() {
            match l {
                Line::Context(s) | Line::Insert(s) => out.push_str(s),
                Line::Delete(_) => {}
            }
        }
        done = at + expected.len();
    }
    for l in &lines[done..] {
        out.push_str(l);
    }
    Ok(out)
}

/// Why hunk `i` applies nowhere: its first differing line at the stated
/// position, and whether its lines occur more than once elsewhere.
fn mismatch(
    path: &str,
    i: usize,
    h: &diffy::Hunk<'_, str>,
    lines: &[&str],
    stated: usize,
    expected: &[&str],
    elsewhere: usize,
) -> Error {
    let header = format!(
        "@@ -{},{} +{},{} @@",
        h.old_range().start(),
        h.old_range().len(),
        h.new_range().start(),
        h.new_range().len()
    );
    if elsewhere > 1 {
        return Error::msg(format!(
            "{path}: hunk #{} {header} does not apply at its line, and its context occurs at more than one other place; refusing to guess",
            i + 1
        ));
    }
    let (k, want) = expected
        .iter()
        .enumerate()
        .find(|(k, want)| lines.get(stated + k) != Some(*want))
        .map_or((0, ""), |(k, w)| (k, *w));
    let got = lines.get(stated + k).copied();
    Error::msg(format!(
        "{path}: hunk #{} {header} does not apply: line {} is {:?}, the diff expects {:?}, and its lines occur nowhere else in the file",
        i + 1,
        stated + k + 1,
        got.unwrap_or("<end of file>").trim_end(),
        want.trim_end()
    ))
}

/// The reverse of a one-file unified diff (what undoing it would apply).
/// Applying the reverse cleanly shows a file already carries the fix.
pub fn reverse(path: &str, diff: &str) -> Result<String> {
    // diffy writes a reversed hunk's section heading (`@@ ... @@ def f():`,
    // as `git diff` adds) so that it no longer parses; the heading is only
    // a comment, so drop it first.
    let plain: String = diff
        .split_inclusive('\n')
        .map(
            |l| match l.strip_prefix("@@ ").and_then(|r| r.find(" @@")) {
                Some(end) if l.len() > end + 6 => format!("{}\n", &l[..end + 6]),
                _ => l.to_owned(),
            },
        )
        .collect();
    let patch =
        Patch::from_str(&plain).map_err(|e| Error::msg(format!("{path}: malformed diff: {e}")))?;
    Ok(patch.reverse().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "a\nb\nc\nd\n";
    const DIFF: &str = "--- a/x\n+++ b/x\n@@ -2,2 +2,2 @@\n b\n-c\n+C\n";

    #[test]
    fn applies_exactly() {
        assert_eq!(apply("/x", OLD, DIFF).unwrap(), "a\nb\nC\nd\n");
    }

    #[test]
    fn takes_an_offset_where_the_context_is_unique() {
        assert_eq!(
            apply("/x", "z\na\nb\nc\nd\n", DIFF).unwrap(),
            "z\na\nb\nC\nd\n"
        );
    }

    #[test]
    fn refuses_context_found_nowhere_and_names_the_hunk() {
        let e = apply("/x", "z\na\nb\nX\nd\n", DIFF)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/x: hunk #1 @@ -2,2 +2,2 @@ does not apply: line 2 is \"a\""),
            "{e}"
        );
    }

    #[test]
    fn refuses_an_ambiguous_offset() {
        let e = apply("/x", "b\nc\nz\nb\nc\n", DIFF)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than one other place"), "{e}");
    }

    #[test]
    fn hunks_keep_their_order() {
        // The second hunk's lines occur only before the first hunk: refused.
        let diff = "--- a/x\n+++ b/x\n@@ -3,1 +3,1 @@\n-c\n+C\n@@ -1,1 +1,1 @@\n-a\n+A\n";
        assert!(apply("/x", OLD, diff).is_err());
        let diff = "--- a/x\n+++ b/x\n@@ -1,1 +1,1 @@\n-a\n+A\n@@ -3,1 +3,1 @@\n-c\n+C\n";
        assert_eq!(apply("/x", OLD, diff).unwrap(), "A\nb\nC\nd\n");
    }

    #[test]
    fn splices_as_diffy_does_at_the_stated_lines() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let diff = "--- a/x\n+++ b/x\n@@ -2,2 +2,3 @@\n b\n-c\n+C\n+c2\n@@ -7,2 +8,1 @@\n-g\n h\n";
        let ours = apply("/x", old, diff).unwrap();
        let theirs = diffy::apply(old, &Patch::from_str(diff).unwrap()).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours, "a\nb\nC\nc2\nd\ne\nf\nh\n");
    }

    #[test]
    fn reverses_hunks_with_a_section_heading() {
        let diff = "--- a/x\n+++ b/x\n@@ -2,2 +2,2 @@ def f(x)\n b\n-c\n+C\n";
        let new = apply("/x", OLD, diff).unwrap();
        let rev = reverse("/x", diff).unwrap();
        assert_eq!(apply("/x", &new, &rev).unwrap(), OLD);
    }

    #[test]
    fn splits_git_diffs() {
        let d = format!(
            "diff --git a/x b/x\nindex 1..2 100644\n{DIFF}diff --git a/y b/y\n--- a/y\n+++ b/y\t2023-01-01\n@@ -1 +1 @@\n-a\n+b\n"
        );
        let files = split(&d).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "b/x");
        assert_eq!(files[0].diff, DIFF);
        assert_eq!(files[1].path, "b/y");
        assert_eq!(strip_path(&files[1].path, 1).unwrap(), "y");
        assert!(strip_path("a/../../etc/passwd", 1).is_err());
    }
}
