//! The Patch Explorer page: one self-contained HTML file per patched image.
//!
//! A pure function of a [`Report`] the caller filled from the image's
//! evidence and a scan. No external script, style, font or image: the page
//! carries its CSS and a few lines of JS inline, and a Content-Security-Policy
//! that forbids every fetch, so it works from `file://` and cannot reach the
//! network even if something slipped through. Every string from the image
//! (names, versions, paths, diffs, recipe output) is HTML-escaped here.

use crate::patch_checks::TestResult;
use crate::recipe::Severity;
use crate::record::PatchRecord;
use crate::sla::Sla;
use std::fmt::Write as _;

/// One vulnerability, as the scan and the SLA policy see it.
#[derive(Clone, Debug)]
pub struct Vuln {
    /// Id (CVE, GHSA, ...).
    pub id: String,
    /// Package and installed version.
    pub package: String,
    /// Installed version.
    pub version: String,
    /// Severity.
    pub severity: Severity,
    /// Publication date.
    pub published: Option<String>,
    /// SLA status.
    pub sla: Sla,
    /// Why (scan's detail).
    pub detail: String,
}

/// One file a patch changed.
#[derive(Clone, Debug)]
pub struct FileChange {
    /// Path in the image.
    pub path: String,
    /// A unified diff, or a one-line description for non-text changes.
    pub diff: String,
}

/// One patch: a recipe's change to one package.
#[derive(Clone, Debug)]
pub struct Patch {
    /// The patch record on the manifest.
    pub record: PatchRecord,
    /// Its CVEs, with SLA outcome.
    pub vulns: Vec<Vuln>,
    /// Its signed test results.
    pub tests: Vec<TestResult>,
    /// The files it changed.
    pub files: Vec<FileChange>,
}

/// Everything the page shows.
#[derive(Clone, Debug)]
pub struct Report {
    /// The image as named on the command line or by its tag.
    pub image: String,
    /// The platform shown.
    pub platform: String,
    /// All platforms of the image.
    pub platforms: Vec<String>,
    /// The patched manifest digest.
    pub manifest: String,
    /// The input manifest digest (from the provenance).
    pub input: Option<String>,
    /// When it was patched (`YYYY-MM-DD`).
    pub patched_on: Option<String>,
    /// "Today" for SLA statuses.
    pub today: String,
    /// `verify`'s checks `(name, ok, detail)`, or `None` when no key was given.
    pub verification: Option<Vec<(String, bool, String)>>,
    /// The patches.
    pub patches: Vec<Patch>,
    /// Vulnerabilities not fixed by a patch (open, no fix, not affected).
    pub others: Vec<Vuln>,
}

/// Escape text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Bidi overrides and other invisible controls would let a file
            // show something other than what it holds.
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#1b1f24}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f5f7}code,pre{font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
.card{border:1px solid #c9d1d9;border-radius:6px;padding:.6em 1em;margin:1em 0;break-inside:avoid}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;font-size:.85em;border:1px solid #999}
.fixed,.passed,.within{background:#dafbe1;border-color:#1a7f37}.sla-missed,.failed,.late{background:#ffebe9;border-color:#cf222e}
.under-sla{background:#fff8c5;border-color:#9a6700}.no-fix-available,.skipped{background:#eaeef2}.not-affected{background:#f6f8fa}
.critical{color:#a40e26;font-weight:bold}.high{color:#bc4c00;font-weight:bold}.medium{color:#9a6700}
pre.diff{background:#f6f8fa;padding:.5em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.add{color:#116329}.del{color:#82071e}.meta{color:#57606a}
summary{cursor:pointer}.muted{color:#57606a}
@media print{body{margin:0;max-width:none;font-size:11px}.noprint{display:none}pre.diff{white-space:pre-wrap}.card{border-color:#888}}
"#;

/// Open every `<details>` before printing, so the printout shows the diffs.
const JS: &str = r#"window.addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach(function(d){d.open=true;});});"#;

fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(class), esc(text))
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    }
}

/// The SLA outcome in words a reviewer reads.
fn outcome(s: &Sla) -> String {
    match s {
        Sla::Fixed {
            within_sla: Some(true),
            ..
        } => badge("within", "fixed within SLA"),
        Sla::Fixed {
            within_sla: Some(false),
            ..
        } => badge("late", "fixed after the SLA"),
        Sla::Fixed { .. } => badge("fixed", "fixed"),
        Sla::UnderSla { .. } => badge("under-sla", "under SLA"),
        Sla::SlaMissed { .. } => badge("sla-missed", "SLA missed"),
        Sla::NoFixAvailable => badge("no-fix-available", "no fix available"),
        Sla::NotAffected => badge("not-affected", "not affected"),
    }
}

/// The whole page.
pub fn html(r: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Patch report: {}</title><style>{CSS}</style><script>{JS}</script></head><body>\n",
        esc(&r.image)
    );
    image_section(&mut h, r);
    summary_section(&mut h, r);
    let _ = writeln!(h, "<h2>Patches ({})</h2>", r.patches.len());
    if r.patches.is_empty() {
        h.push_str("<p>No patch was applied to this platform.</p>\n");
    }
    for (i, p) in r.patches.iter().enumerate() {
        patch_section(&mut h, i, p);
    }
    others_section(&mut h, r);
    let _ = writeln!(
        h,
        "<p class=\"muted\">Written by rootwasm {} from the image's signed evidence, its journal and a scan; \
         SLA statuses as of {}. Every string from the image is escaped.</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        esc(&r.today)
    );
    h
}

fn image_section(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h1>Patch report: <code>{}</code></h1>\n<table id=\"image\">\
         <tr><th>Image</th><td><code>{}</code></td></tr>\
         <tr><th>Platform</th><td>{} <span class=\"muted\">(image platforms: {})</span></td></tr>\
         <tr><th>Patched manifest</th><td><code>{}</code></td></tr>\
         <tr><th>Input manifest</th><td><code>{}</code></td></tr>\
         <tr><th>Patched on</th><td>{}</td></tr>",
        esc(&r.image),
        esc(&r.image),
        esc(&r.platform),
        esc(&r.platforms.join(", ")),
        esc(&r.manifest),
        esc(r.input.as_deref().unwrap_or("unknown")),
        esc(r.patched_on.as_deref().unwrap_or("unknown")),
    );
    let v = match &r.verification {
        None => "not checked (no public key given; run <code>rootwasm verify</code>)".to_owned(),
        Some(checks) if checks.iter().all(|c| c.1) => format!(
            "{} all {} checks of <code>rootwasm verify</code> passed",
            badge("passed", "verified"),
            checks.len()
        ),
        Some(checks) => {
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| !c.1)
                .map(|c| format!("{}: {}", esc(&c.0), esc(&c.2)))
                .collect();
            format!(
                "{} the evidence did NOT verify; what this page shows may be forged: {}",
                badge("failed", "NOT VERIFIED"),
                failed.join("; ")
            )
        }
    };
    let _ = writeln!(
        h,
        "<tr><th>Evidence</th><td id=\"verification\">{v}</td></tr></table>"
    );
}

fn summary_section(h: &mut String, r: &Report) {
    let all = r.patches.iter().flat_map(|p| &p.vulns).chain(&r.others);
    let mut counts = std::collections::BTreeMap::new();
    for v in all {
        *counts.entry(v.sla.label()).or_insert(0usize) += 1;
    }
    h.push_str("<h2>Summary</h2>\n<p id=\"summary\">");
    for label in [
        "fixed",
        "under-sla",
        "sla-missed",
        "no-fix-available",
        "not-affected",
    ] {
        let n = counts.get(label).copied().unwrap_or(0);
        let _ = write!(
            h,
            "{} ",
            badge(label, &format!("{n} {}", label.replace('-', " ")))
        );
    }
    h.push_str("</p>\n");
}

fn patch_section(h: &mut String, i: usize, p: &Patch) {
    let rec = &p.record;
    let kind = match rec.patch_type {
        crate::recipe::PatchType::Backport => "backport (the fix applied to the installed version)",
        crate::recipe::PatchType::DistroUpgrade => {
            "distribution upgrade (the distribution's fixed package)"
        }
    };
    let _ = writeln!(
        h,
        "<section class=\"card patch\" id=\"patch-{i}\"><h3>{} <code>{}</code></h3>\
         <table><tr><th>Recipe</th><td><code>{}</code></td></tr>\
         <tr><th>Type</th><td>{}</td></tr>\
         <tr><th>Version</th><td class=\"versions\"><code>{}</code> &rarr; <code>{}</code></td></tr>\
         <tr><th>Installed at</th><td><code>{}</code></td></tr>\
         <tr><th>Fix from</th><td>{}</td></tr></table>",
        esc(&rec.package),
        esc(&rec.ecosystem.to_string()),
        esc(&rec.recipe),
        esc(kind),
        esc(&rec.version_before),
        esc(&rec.version_after),
        esc(&rec.location),
        esc(rec.origin.as_deref().unwrap_or("-")),
    );
    vuln_table(h, &p.vulns, true);
    h.push_str("<h4>Test results</h4>\n<table class=\"tests\"><tr><th>Test</th><th>Result</th><th>Detail</th></tr>");
    if p.tests.is_empty() {
        h.push_str("<tr><td colspan=\"3\">no test results recorded</td></tr>");
    }
    for t in &p.tests {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.name),
            badge(&t.result, &t.result),
            esc(&t.detail)
        );
    }
    let _ = write!(
        h,
        "</table>\n<details class=\"diff\"><summary>Files changed ({}) &mdash; show the diff</summary>\n",
        p.files.len()
    );
    for f in &p.files {
        let _ = writeln!(
            h,
            "<p><code>{}</code></p><pre class=\"diff\">{}</pre>",
            esc(&f.path),
            diff_html(&f.diff)
        );
    }
    h.push_str("</details></section>\n");
}

fn diff_html(d: &str) -> String {
    d.lines()
        .map(|l| {
            let class = if l.starts_with("+++") || l.starts_with("---") || l.starts_with("@@") {
                "meta"
            } else if l.starts_with('+') {
                "add"
            } else if l.starts_with('-') {
                "del"
            } else {
                ""
            };
            format!("<span class=\"{class}\">{}</span>\n", esc(l))
        })
        .collect()
}

fn vuln_table(h: &mut String, vulns: &[Vuln], patched: bool) {
    h.push_str(
        "<table class=\"vulns\"><tr><th>Vulnerability</th><th>Package</th><th>Severity</th><th>Published</th>\
         <th>Patched</th><th>Due</th><th>SLA</th></tr>",
    );
    for v in vulns {
        let on = match &v.sla {
            Sla::Fixed { on, .. } => on.clone(),
            _ => None,
        };
        let _ = write!(
            h,
            "<tr><td class=\"cve\"><code>{}</code></td><td><code>{} {}</code></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td></tr>",
            esc(&v.id),
            esc(&v.package),
            esc(&v.version),
            severity(v.severity),
            severity(v.severity),
            esc(v.published.as_deref().unwrap_or("-")),
            esc(on.as_deref().unwrap_or(if patched { "-" } else { "" })),
            esc(v.sla.due().unwrap_or("-")),
            esc(&v.detail),
            outcome(&v.sla),
        );
    }
    h.push_str("</table>\n");
}

fn others_section(h: &mut String, r: &Report) {
    let (open, rest): (Vec<Vuln>, Vec<Vuln>) = r
        .others
        .iter()
        .cloned()
        .partition(|v| !matches!(v.sla, Sla::NotAffected | Sla::Fixed { .. }));
    let _ = write!(
        h,
        "<h2>Open vulnerabilities ({})</h2>\n<div id=\"open\">",
        open.len()
    );
    if open.is_empty() {
        h.push_str("<p>None known from the recipes and advisories given.</p>");
    } else {
        vuln_table(h, &open, false);
    }
    h.push_str("</div>\n");
    if !rest.is_empty() {
        let _ = write!(
            h,
            "<details><summary>Not affected or already fixed ({})</summary>",
            rest.len()
        );
        vuln_table(h, &rest, false);
        h.push_str("</details>\n");
    }
}

/// A unified diff of two texts, or a summary when the changed region is
/// larger than `budget` lines (line diffs cost the product of both sides).
pub fn unified(path: &str, before: &str, after: &str, budget: usize) -> String {
    let b = before.lines().count();
    let a = after.lines().count();
    let head = before
        .lines()
        .zip(after.lines())
        .take_while(|(x, y)| x == y)
        .count();
    if (a + b).saturating_sub(2 * head) > budget {
        return format!(
            "--- a{path}\n+++ b{path}\n@@ {b} -> {a} lines; over the {budget}-line diff budget @@\n"
        );
    }
    let patch = diffy::create_patch(before, after).to_string();
    let hunks = patch
        .split_once("\n+++ ")
        .and_then(|(_, r)| r.split_once('\n'))
        .map_or("", |(_, h)| h);
    format!("--- a{path}\n+++ b{path}\n{hunks}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything from the image is escaped: names, versions, paths,
    /// recipe details and diff lines.
    #[test]
    fn hostile_strings_are_escaped() {
        let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let record = PatchRecord {
            recipe: evil.into(),
            patch_type: crate::recipe::PatchType::Backport,
            origin: Some(evil.into()),
            ecosystem: crate::ecosystem::Ecosystem::Pypi,
            package: evil.into(),
            location: evil.into(),
            version_before: evil.into(),
            version_after: evil.into(),
            fixes: vec![evil.into()],
        };
        let vuln = Vuln {
            id: evil.into(),
            package: evil.into(),
            version: evil.into(),
            severity: Severity::High,
            published: Some(evil.into()),
            sla: Sla::NoFixAvailable,
            detail: evil.into(),
        };
        let r = Report {
            image: evil.into(),
            platform: evil.into(),
            platforms: vec![evil.into()],
            manifest: evil.into(),
            input: Some(evil.into()),
            patched_on: Some(evil.into()),
            today: evil.into(),
            verification: Some(vec![(evil.into(), false, evil.into())]),
            patches: vec![Patch {
                record,
                vulns: vec![vuln.clone()],
                tests: vec![TestResult {
                    name: evil.into(),
                    result: evil.into(),
                    detail: evil.into(),
                }],
                files: vec![FileChange {
                    path: evil.into(),
                    diff: format!("+{evil}\n-{evil}"),
                }],
            }],
            others: vec![vuln],
        };
        let page = html(&r);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert_eq!(
            page.matches("<script>").count(),
            1,
            "only the page's own script"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<script>alert('x')</script>&\"\u{202e}\x1b"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\\u{202e}\\u{1b}"
        );
    }
}
