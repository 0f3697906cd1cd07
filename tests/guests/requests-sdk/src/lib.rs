//! CVE-2023-32681: requests leaked `Proxy-Authorization` to the destination
//! server when following a redirect to HTTPS through an authenticated proxy.
//!
//! Upstream fixed it in 2.31.0 (psf/requests commit 74ea7cf7). This recipe
//! backports exactly that change, the `sessions.py` hunk of the diff between
//! the 2.30.0 and 2.31.0 release sources on PyPI, onto requests 2.30.0 as pip
//! installs it. The version stays 2.30.0; RECORD is updated so the install
//! stays consistent, and the stale `sessions` bytecode is removed so Python
//! recompiles from the patched source.

use rootwasm_sdk::python::{Record, dist_version};
use rootwasm_sdk::{Check, Context, Error, PackageChange, Recipe, Report, Result};

/// The version whose sources the patch's context was taken from.
const VERSION: &str = "2.30.0";
const CVE: &str = "CVE-2023-32681";
const PATCH: &str = "cve-2023-32681.patch";
const VULNERABLE: &str =
    "        if username and password:\n            headers[\"Proxy-Authorization\"]";
const FIXED: &str = "        if not scheme.startswith('https') and username and password:\n";

/// One installed copy of requests.
struct Install {
    dist_info: String,
    site: String,
    version: String,
}

impl Install {
    fn sessions(&self) -> String {
        format!("{}/requests/sessions.py", self.site)
    }
}

fn installs(cx: &mut Context) -> Result<Vec<Install>> {
    let mut out = Vec::new();
    for pattern in [
        "/**/site-packages/requests-*.dist-info",
        "/**/dist-packages/requests-*.dist-info",
    ] {
        for dist_info in cx.glob(pattern)? {
            let Some(version) = dist_version(cx, &dist_info)? else {
                continue;
            };
            let site = dist_info
                .rsplit_once('/')
                .map(|(s, _)| s.to_owned())
                .unwrap_or_default();
            out.push(Install {
                dist_info,
                site,
                version,
            });
        }
    }
    Ok(out)
}

enum State {
    Vulnerable,
    Fixed,
    Unknown,
}

fn state(cx: &mut Context, i: &Install) -> Result<State> {
    let src = cx.read_to_string(&i.sessions())?;
    Ok(if src.contains(FIXED) {
        State::Fixed
    } else if src.contains(VULNERABLE) {
        State::Vulnerable
    } else {
        State::Unknown
    })
}

pub struct RequestsProxyAuthLeak;

impl Recipe for RequestsProxyAuthLeak {
    fn check(cx: &mut Context) -> Result<Check> {
        let mut vulnerable = Vec::new();
        let mut fixed = Vec::new();
        let mut other = Vec::new();
        for i in installs(cx)? {
            if i.version != VERSION {
                other.push(format!("{} ({})", i.dist_info, i.version));
                continue;
            }
            match state(cx, &i)? {
                State::Vulnerable => vulnerable.push(i.sessions()),
                State::Fixed => fixed.push(i.sessions()),
                State::Unknown => other.push(format!("{} (modified sessions.py)", i.sessions())),
            }
        }
        Ok(if !vulnerable.is_empty() {
            Check::vulnerable(format!("{CVE} present in {}", vulnerable.join(", ")))
        } else if !fixed.is_empty() {
            Check::fixed(format!("{CVE} fix present in {}", fixed.join(", ")))
        } else if other.is_empty() {
            Check::not_applicable(format!("requests {VERSION} is not installed"))
        } else {
            Check::not_applicable(format!(
                "no requests {VERSION} this recipe can patch: {}",
                other.join(", ")
            ))
        })
    }

    fn apply(cx: &mut Context) -> Result<Report> {
        let diff =
            String::from_utf8(cx.artifact(PATCH)?).map_err(|_| Error::msg("patch is not UTF-8"))?;
        let mut report = Report::default();
        for i in installs(cx)? {
            if i.version != VERSION || !matches!(state(cx, &i)?, State::Vulnerable) {
                continue;
            }
            // The diff is `diff -u requests-2.30.0/... requests-2.31.0/...`: strip one component.
            let changed = cx.apply_patch_set(&i.site, &diff, 1)?;
            let mut record = Record::load(cx, &i.dist_info)?;
            for path in &changed {
                record.refresh(cx, path)?;
            }
            for pyc in cx.glob(&format!("{}/requests/__pycache__/sessions.*.pyc", i.site))? {
                cx.remove(&pyc)?;
                record.remove(&pyc)?;
            }
            record.save(cx)?;
            cx.info(&format!(
                "patched {} (requests {})",
                i.sessions(),
                i.version
            ));
            report.packages.push(PackageChange {
                ecosystem: "pypi".into(),
                name: "requests".into(),
                location: i.dist_info.clone(),
                version_before: i.version.clone(),
                version_after: i.version.clone(),
            });
        }
        if report.packages.is_empty() {
            return Err(Error::msg("no vulnerable requests install found"));
        }
        report.fixed.push(CVE.into());
        report
            .notes
            .push("backport of psf/requests 74ea7cf7 (released in 2.31.0); version kept".into());
        Ok(report)
    }
}

rootwasm_sdk::export_recipe!(RequestsProxyAuthLeak);
