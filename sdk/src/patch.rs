//! Unified diffs with exact context.
//!
//! A security backport must land exactly where its author reviewed it, so
//! every hunk's context and removed lines must match the file at the line
//! numbers the hunk states: no fuzz and no offset. diffy parses the diff and
//! does the splicing; the exactness check is ours because diffy searches for
//! a matching position instead of refusing.

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
pub fn apply(path: &str, old: &str, diff: &str) -> Result<String> {
    let patch =
        Patch::from_str(diff).map_err(|e| Error::msg(format!("{path}: malformed diff: {e}")))?;
    if patch.hunks().is_empty() {
        return Err(Error::msg(format!("{path}: the diff has no hunks")));
    }
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    for (i, h) in patch.hunks().iter().enumerate() {
        let r = h.old_range();
        let header = format!(
            "@@ -{},{} +{},{} @@",
            r.start(),
            r.len(),
            h.new_range().start(),
            h.new_range().len()
        );
        let at = if r.is_empty() {
            r.start()
        } else {
            r.start() - 1
        };
        let expected = h.lines().iter().filter_map(|l| match l {
            Line::Context(s) | Line::Delete(s) => Some(*s),
            Line::Insert(_) => None,
        });
        for (k, want) in expected.enumerate() {
            let got = lines.get(at + k).copied();
            if got != Some(want) {
                return Err(Error::msg(format!(
                    "{path}: hunk #{} {header} does not apply: line {} is {:?}, the diff expects {:?}",
                    i + 1,
                    at + k + 1,
                    got.unwrap_or("<end of file>").trim_end(),
                    want.trim_end()
                )));
            }
        }
    }
    diffy::apply(old, &patch).map_err(|e| Error::msg(format!("{path}: {e}")))
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
    fn refuses_offset_and_names_the_hunk() {
        let e = apply("/x", "z\na\nb\nc\nd\n", DIFF)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/x: hunk #1 @@ -2,2 +2,2 @@ does not apply: line 2"),
            "{e}"
        );
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
