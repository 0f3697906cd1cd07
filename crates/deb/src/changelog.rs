//! `debian/changelog` entries (deb-changelog(5)), to find which CVEs a newer
//! package version fixes.

/// One changelog entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Source package name.
    pub source: String,
    /// Version of this upload.
    pub version: String,
    /// Target distribution(s), e.g. `bookworm-security`.
    pub distribution: String,
    /// The change lines between the header and the trailer.
    pub changes: String,
    /// The trailer's date, as written (RFC 2822).
    pub date: String,
}

impl Entry {
    /// Every `CVE-YYYY-NNNN…` id the entry mentions, in order, without duplicates.
    pub fn cves(&self) -> Vec<String> {
        cve_ids(&self.changes)
    }

    /// The change items: a line starting with `*`, `-` or `+` begins one, and
    /// the lines indented under it continue it (joined with spaces).
    pub fn items(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in self.changes.lines() {
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let starts = ["* ", "- ", "+ ", "~ "].iter().any(|m| t.starts_with(m));
            match out.last_mut() {
                Some(last) if !starts => {
                    last.push(' ');
                    last.push_str(t);
                }
                _ => out.push(t.to_owned()),
            }
        }
        out
    }

    /// The CVE and GHSA ids of the items that fix something, in order,
    /// without duplicates. An item that only mentions an id (tests for it, a
    /// patch amended, refreshed or upstreamed, a regression that followed its
    /// fix) claims nothing: see [`NOT_A_FIX`].
    pub fn fixed_ids(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for item in self.items() {
            let lower = item.to_ascii_lowercase();
            if NOT_A_FIX.iter().any(|p| lower.contains(p)) {
                continue;
            }
            for id in cve_ids(&item).into_iter().chain(ghsa_ids(&item)) {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }

    /// The trailer date as `YYYY-MM-DD`, if it parses.
    pub fn iso_date(&self) -> Option<String> {
        // "Tue, 21 Oct 2025 12:00:00 +0200": day, month name, year.
        let parts: Vec<&str> = self.date.split_whitespace().collect();
        let (d, m, y) = match parts.as_slice() {
            [_, d, m, y, ..] => (d, m, y),
            _ => return None,
        };
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let m = MONTHS.iter().position(|x| x == m)? + 1;
        let d: u32 = d.parse().ok()?;
        let y: u32 = y.parse().ok()?;
        Some(format!("{y:04}-{m:02}-{d:02}"))
    }
}

/// Phrases (lower case) of real Debian changelog items that mention an id
/// without fixing it in that upload: libxml2's "Fix unit tests for
/// CVE-2025-49794" and "Amend d/p/CVE-2025-7425.patch", glibc's
/// "local-CVE-2024-2961-iso-2022-cn-ext.diff: upstreamed" and "Fixes y2038
/// regression in nscd following CVE-2024-33601", python3.11's "(follow-up
/// of patch for CVE-2026-0672)", libssh2's "remove CVE-2019-17498.patch".
/// A fix named in such an item came in an earlier upload; missing it only
/// under-claims.
pub const NOT_A_FIX: &[&str] = &[
    "unit test",
    "tests for",
    "test for",
    "amend",
    "regression",
    "upstreamed",
    "refresh",
    "update patch",
    "updated patch",
    "follow-up",
    "followup",
    "revert",
    "remove cve",
    "drop cve",
    ": drop",
];

/// Every `CVE-YYYY-NNNN…` id in `text`, in order, without duplicates.
pub fn cve_ids(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("CVE-") {
        let start = i + off;
        let mut j = start + 4;
        let year = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        j += year;
        if year == 4 && b.get(j) == Some(&b'-') {
            let n = b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n >= 4 {
                let id = &text[start..j + 1 + n];
                if !out.iter().any(|x| x == id) {
                    out.push(id.to_owned());
                }
                j += 1 + n;
            }
        }
        i = j.max(start + 4);
    }
    out
}

/// `GHSA-xxxx-xxxx-xxxx` ids in `text`, in order.
pub fn ghsa_ids(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            let parts: Vec<&str> = w.split('-').collect();
            parts.len() == 4
                && parts[0] == "GHSA"
                && parts[1..]
                    .iter()
                    .all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        })
        .map(str::to_owned)
        .collect()
}

/// Parse a changelog. Lines outside entries (old-format trailers, Emacs
/// local variables) are skipped, as dpkg-parsechangelog does.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut cur: Option<Entry> = None;
    for line in text.lines() {
        if let Some(e) = cur.as_mut() {
            if let Some(rest) = line.strip_prefix(" -- ") {
                e.date = rest
                    .split_once("  ")
                    .map(|(_, d)| d.trim().to_owned())
                    .unwrap_or_default();
                out.push(cur.take().expect("some"));
            } else {
                e.changes.push_str(line);
                e.changes.push('\n');
            }
            continue;
        }
        if line.starts_with(char::is_whitespace) || line.is_empty() {
            continue;
        }
        // "expat (2.5.0-1+deb12u5) bookworm-security; urgency=medium"
        let Some((source, rest)) = line.split_once(" (") else {
            continue;
        };
        let Some((version, rest)) = rest.split_once(')') else {
            continue;
        };
        // Other unindented lines (an "Old Changelog:" section, Emacs
        // variables) are not headers: a header has a bare package name, a
        // version without spaces, and `; key=value` after the distribution.
        let Some((dist, keys)) = rest.split_once(';') else {
            continue;
        };
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.~:_".contains(&b))
        };
        if !plain(source) || !plain(version) || !keys.contains('=') || dist.trim().is_empty() {
            continue;
        }
        let distribution = dist.trim().to_owned();
        cur = Some(Entry {
            source: source.to_owned(),
            version: version.to_owned(),
            distribution,
            changes: String::new(),
            date: String::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_format_sections_are_not_entries() {
        let text = "bash (5.2.15-2) unstable; urgency=medium\n\n  * Fix.\n\n -- A <a@b.c>  Mon, 02 Jan 2023 10:00:00 +0100\n\nOld Changelog (from the upstream tarball):\nbash (1.14) released (see NEWS)\nLocal variables:\n";
        let e = parse(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].version, "5.2.15-2");
    }

    #[test]
    fn entries_and_cves() {
        let text = "expat (2.5.0-1+deb12u2) bookworm; urgency=medium\n\n  * Fix CVE-2024-45490, CVE-2024-45491 and\n    CVE-2024-45492 (closes: #1080149).\n  * Again CVE-2024-45490. Not CVE-12-3 nor CVE-2024-1.\n\n -- Someone <s@example.org>  Tue, 24 Sep 2024 18:27:24 +0200\n\nexpat (2.5.0-1) unstable; urgency=medium\n\n  * New.\n\n -- Someone <s@example.org>  Fri, 28 Oct 2022 10:00:00 +0200\n";
        let e = parse(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].version, "2.5.0-1+deb12u2");
        assert_eq!(e[0].distribution, "bookworm");
        assert_eq!(
            e[0].cves(),
            ["CVE-2024-45490", "CVE-2024-45491", "CVE-2024-45492"]
        );
        assert_eq!(e[0].iso_date().as_deref(), Some("2024-09-24"));
        assert!(e[1].cves().is_empty());
    }

    #[test]
    fn only_items_that_fix_claim_their_ids() {
        // Items as libxml2's and glibc's bookworm changelogs word them.
        let text = "libxml2 (2.9.14+dfsg-1.3~deb12u6) bookworm; urgency=high\n\n  * Fix CVE-2026-0990: `xmlCatalogXMLResolveURI()` will recurse\n    infinitely. (Closes: #1125695)\n  * Fix unit tests for CVE-2025-49794 and -49796.\n  * Amend d/p/CVE-2025-7425.patch to better reflect the original fix.\n  * Security fixes:\n    - CVE-2023-39615: out-of-bounds read\n    - debian/patches/any/local-CVE-2024-2961-iso-2022-cn-ext.diff: upstreamed.\n    - Fixes y2038 regression in nscd following CVE-2024-33601 and\n      CVE-2024-33602 fix.\n\n -- A <a@b.c>  Sun, 07 Jun 2026 17:53:53 +0200\n";
        let e = parse(text);
        assert_eq!(e[0].fixed_ids(), ["CVE-2026-0990", "CVE-2023-39615"]);
    }
}
