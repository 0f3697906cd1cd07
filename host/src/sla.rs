//! Freshness SLA: how long a vulnerability may stay open, and where each one stands.
//!
//! A vulnerability is published on some date; a policy gives each severity a
//! window in days (default: critical 7, high 14, medium 60, low 180, and an
//! unrated one the critical window, since "not rated" is not "mild"). Its
//! due date is publication + window. Given "today" (an explicit input so
//! results are reproducible) each vulnerability known for an image is:
//! `fixed` (when, by which recipe, within the SLA or not), `under-sla` (a
//! fix exists, due later), `sla-missed` (a fix exists, due date passed),
//! `no-fix-available` (no upstream or distribution fix at all) or
//! `not-affected`.

use crate::recipe::{PatchType, Severity};
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::Date;

/// Days from publication to fix, per severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Critical.
    pub critical: u16,
    /// High.
    pub high: u16,
    /// Medium.
    pub medium: u16,
    /// Low.
    pub low: u16,
    /// Not rated by any advisory given.
    pub unknown: u16,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            critical: 7,
            high: 14,
            medium: 60,
            low: 180,
            unknown: 7,
        }
    }
}

/// A policy file or a `--now` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SlaError {
    /// The policy file.
    #[error(
        "SLA policy {path}: {reason} (expected TOML like `critical = 7`, keys critical/high/medium/low/unknown, days)"
    )]
    Policy {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `--now`.
    #[error("--now {0:?} is not an RFC 3339 time such as 2026-12-02T00:00:00Z")]
    Now(String),
}

impl Policy {
    /// Read a policy file; keys left out keep their defaults.
    pub fn load(path: &Path) -> Result<Policy, SlaError> {
        let err = |reason: String| SlaError::Policy {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        toml::from_str(&text).map_err(|e| err(e.message().to_owned()))
    }

    /// The window for `severity`, in days.
    pub fn window(&self, severity: Severity) -> u16 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Unknown => self.unknown,
        }
    }
}

/// "Today" from `--now` (RFC 3339), or the clock.
pub fn today(now: Option<&str>) -> Result<Date, SlaError> {
    match now {
        None => Ok(time::OffsetDateTime::now_utc().date()),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| t.to_offset(time::UtcOffset::UTC).date())
            .map_err(|_| SlaError::Now(s.to_owned())),
    }
}

/// A severity as advisories write it (`CRITICAL`, `Medium`, GHSA's
/// `MODERATE`, Grype's `Negligible`); `None` for unknown or unrated.
pub fn severity_word(s: &str) -> Option<Severity> {
    match s.to_ascii_lowercase().as_str() {
        "critical" => Some(Severity::Critical),
        "high" | "important" => Some(Severity::High),
        "medium" | "moderate" => Some(Severity::Medium),
        "low" | "negligible" => Some(Severity::Low),
        _ => None,
    }
}

/// The qualitative rating of a CVSS v2, v3.x or v4.0 vector (the `cvss`
/// crate computes the base score; a 0.0 "None" counts as low).
pub fn cvss_rating(vector: &str) -> Option<Severity> {
    let v: cvss::Cvss = vector.trim().parse().ok()?;
    Some(match v.severity() {
        cvss::Severity::Critical => Severity::Critical,
        cvss::Severity::High => Severity::High,
        cvss::Severity::Medium => Severity::Medium,
        cvss::Severity::Low | cvss::Severity::None => Severity::Low,
    })
}

/// Order of severities, unknown lowest (for "the highest rating given").
pub fn rank(s: Severity) -> u8 {
    match s {
        Severity::Unknown => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

/// The `YYYY-MM-DD` date an RFC 3339 time or a date starts with.
pub fn date_of(s: &str) -> Option<String> {
    parse_date(s).map(format_date)
}

fn parse_date(s: &str) -> Option<Date> {
    let d = s.get(..10)?;
    let mut it = d.split('-');
    let (y, m, day) = (it.next()?, it.next()?, it.next()?);
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, day.parse().ok()?).ok()
}

fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Where a vulnerability stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Sla {
    /// Fixed in this image.
    Fixed {
        /// When (the patch layer's date); unknown when the installed version was already fixed.
        #[serde(skip_serializing_if = "Option::is_none")]
        on: Option<String>,
        /// The recipe that fixed it, if rootwasm did.
        #[serde(skip_serializing_if = "Option::is_none")]
        recipe: Option<String>,
        /// Backport or distro upgrade.
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        patch_type: Option<PatchType>,
        /// The due date it was measured against.
        #[serde(skip_serializing_if = "Option::is_none")]
        due: Option<String>,
        /// Fixed on or before the due date (`None`: a date is unknown).
        within_sla: Option<bool>,
    },
    /// A fix exists and the due date has not passed (`due` None: publication date unknown).
    UnderSla {
        /// Due date.
        due: Option<String>,
    },
    /// A fix exists and the due date has passed.
    SlaMissed {
        /// Due date.
        due: String,
    },
    /// No upstream or distribution fix exists.
    NoFixAvailable,
    /// The installed version is not affected.
    NotAffected,
}

impl Sla {
    /// `fixed`, `under-sla`, `sla-missed`, `no-fix-available`, `not-affected`.
    pub fn label(&self) -> &'static str {
        match self {
            Sla::Fixed { .. } => "fixed",
            Sla::UnderSla { .. } => "under-sla",
            Sla::SlaMissed { .. } => "sla-missed",
            Sla::NoFixAvailable => "no-fix-available",
            Sla::NotAffected => "not-affected",
        }
    }

    /// The due date, where there is one.
    pub fn due(&self) -> Option<&str> {
        match self {
            Sla::Fixed { due, .. } | Sla::UnderSla { due } => due.as_deref(),
            Sla::SlaMissed { due } => Some(due),
            _ => None,
        }
    }
}

/// What is known about fixing one vulnerability in one package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// The installed version is not affected.
    NotAffected,
    /// No fix exists anywhere.
    NoFix,
    /// A fix exists (a recipe, or a fixed version upstream) but is not applied.
    Available,
    /// Fixed: by a recipe on a date, or already fixed as installed (all `None`).
    Applied {
        /// When.
        on: Option<String>,
        /// By which recipe.
        recipe: Option<String>,
        /// Backport or upgrade.
        patch_type: Option<PatchType>,
    },
}

/// A policy and "today": everything an assessment depends on besides the vulnerability.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The windows.
    pub policy: Policy,
    /// Today.
    pub today: Date,
}

impl Clock {
    /// Where a vulnerability of `severity`, published on `published` (`YYYY-MM-DD`), stands.
    pub fn assess(&self, severity: Severity, published: Option<&str>, fix: Fix) -> Sla {
        let due = published
            .and_then(parse_date)
            .and_then(|p| p.checked_add(time::Duration::days(self.policy.window(severity).into())));
        match fix {
            Fix::NotAffected => Sla::NotAffected,
            Fix::NoFix => Sla::NoFixAvailable,
            Fix::Available => match due {
                Some(d) if self.today > d => Sla::SlaMissed {
                    due: format_date(d),
                },
                d => Sla::UnderSla {
                    due: d.map(format_date),
                },
            },
            Fix::Applied {
                on,
                recipe,
                patch_type,
            } => {
                let within_sla = on
                    .as_deref()
                    .and_then(parse_date)
                    .zip(due)
                    .map(|(on, due)| on <= due);
                Sla::Fixed {
                    on,
                    recipe,
                    patch_type,
                    due: due.map(format_date),
                    within_sla,
                }
            }
        }
    }
}

/// The date of an image's rootwasm patch layer: the `created` of the last
/// config history entry `rootwasm apply` wrote.
pub fn patched_on(config: &serde_json::Value) -> Option<String> {
    config["history"].as_array()?.iter().rev().find(|h| {
        h["created_by"]
            .as_str()
            .is_some_and(|c| c.starts_with(crate::image::mutate::CREATED_BY))
    })?["created"]
        .as_str()
        .and_then(date_of)
}

/// Fill each finding's severity, publication date (the advisories' where
/// given, else the recipe's) and SLA status.
#[cfg(feature = "sandbox")]
pub fn annotate(
    findings: &mut [crate::scan::Finding],
    advisories: &[crate::advisory::Advisory],
    patches: &[crate::record::PatchRecord],
    patched: Option<&str>,
    clock: &Clock,
) {
    for f in findings {
        let said = advisories.iter().filter(|a| {
            crate::matching::same_name(a.ecosystem, &a.package, &f.package)
                && a.ids().any(|id| id == f.vulnerability)
        });
        for a in said {
            if let Some(s) = a.details.severity
                && (f.severity == Severity::Unknown || a.source != "osv")
            {
                f.severity = s;
            }
            if let Some(p) = &a.details.published {
                f.published = Some(p.clone());
            }
        }
        let record = patches
            .iter()
            .find(|x| x.recipe == f.recipe && x.package == f.package && x.location == f.location);
        let fix = match f.status.as_str() {
            "fixed" => Fix::Applied {
                on: record.and(patched.map(str::to_owned)),
                recipe: record.map(|r| r.recipe.clone()),
                patch_type: record.map(|r| r.patch_type),
            },
            // `unknown` (below a backport's range) may be vulnerable: never
            // under-claim it as not affected.
            "fixable" | "no-recipe" | "unknown" => Fix::Available,
            "no-fix-available" => Fix::NoFix,
            _ => Fix::NotAffected,
        };
        f.sla = clock.assess(f.severity, f.published.as_deref(), fix);
    }
}

/// `--vex-all`: add to an OpenVEX document one `affected` statement, with
/// an action statement, per open finding (a fix pending, or none exists),
/// naming the same image products with the package as subcomponent. The
/// `fixed` statements stay as they are; scanners must never read an open
/// vulnerability as resolved, so nothing here says `not_affected`.
#[cfg(feature = "sandbox")]
pub fn add_open_statements(
    doc: &mut serde_json::Value,
    findings: &[crate::scan::Finding],
    inv: &crate::inventory::Inventory,
) {
    use serde_json::json;
    let products: Vec<serde_json::Value> = doc["statements"][0]["products"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut added = Vec::new();
    for f in findings {
        let action = match &f.sla {
            Sla::UnderSla { due } => format!(
                "A fix exists ({}); apply it{}.",
                f.detail,
                due.as_deref()
                    .map(|d| format!(" by {d} (SLA)"))
                    .unwrap_or_default()
            ),
            Sla::SlaMissed { due } => {
                format!(
                    "A fix exists ({}); apply it now: the SLA was due {due}.",
                    f.detail
                )
            }
            Sla::NoFixAvailable => "No fix exists upstream or in the distribution yet: mitigate \
                 or accept the risk, and re-scan when one is published."
                .to_owned(),
            _ => continue,
        };
        let subs: Vec<serde_json::Value> = inv
            .packages
            .iter()
            .filter(|p| p.name == f.package && p.location == f.location && p.version == f.version)
            .flat_map(|p| crate::attest::purl::scanner_purls(p, inv))
            .map(|p| json!({"@id": p}))
            .collect();
        let products: Vec<serde_json::Value> = products
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p["subcomponents"] = json!(subs);
                p
            })
            .collect();
        added.push(json!({
            "vulnerability": {"name": f.vulnerability},
            "products": products,
            "status": "affected",
            "action_statement": action,
        }));
    }
    if let Some(s) = doc["statements"].as_array_mut() {
        s.extend(added);
    }
    if let Some(m) = doc.as_object_mut() {
        m.remove("@id");
    }
    let hash = crate::journal::Sha256Hex::of(&crate::attest::to_bytes(doc));
    doc["@id"] = json!(format!("https://openvex.dev/docs/public/vex-{hash}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_from_words_and_vectors() {
        assert_eq!(severity_word("MODERATE"), Some(Severity::Medium));
        assert_eq!(severity_word("Negligible"), Some(Severity::Low));
        assert_eq!(severity_word("UNKNOWN"), None);
        // NVD's vector for CVE-2023-32681 (base 6.1, medium).
        assert_eq!(
            cvss_rating("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"),
            Some(Severity::Medium)
        );
        assert_eq!(
            cvss_rating("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(Severity::Critical)
        );
        assert_eq!(
            cvss_rating("AV:N/AC:L/Au:N/C:P/I:P/A:P"),
            Some(Severity::High)
        );
        assert_eq!(cvss_rating("not a vector"), None);
        assert_eq!(
            date_of("2024-05-20T20:15:00Z").as_deref(),
            Some("2024-05-20")
        );
        assert_eq!(date_of("2024-13-20"), None);
    }

    fn clock(today: &str) -> Clock {
        Clock {
            policy: Policy::default(),
            today: parse_date(today).unwrap(),
        }
    }

    fn fixed_on(on: &str) -> Fix {
        Fix::Applied {
            on: Some(on.into()),
            recipe: Some("r".into()),
            patch_type: Some(PatchType::Backport),
        }
    }

    /// Pinned cases: every severity's window on its last day and the day
    /// after, no fix, not affected, fixed in time and fixed late.
    #[test]
    fn pinned_cases() {
        use Severity::*;
        let pub_ = Some("2026-01-01");
        let cases: Vec<(Severity, &str, Fix, &str, Option<&str>)> = vec![
            (
                Critical,
                "2026-01-08",
                Fix::Available,
                "under-sla",
                Some("2026-01-08"),
            ),
            (
                Critical,
                "2026-01-09",
                Fix::Available,
                "sla-missed",
                Some("2026-01-08"),
            ),
            (
                High,
                "2026-01-15",
                Fix::Available,
                "under-sla",
                Some("2026-01-15"),
            ),
            (
                High,
                "2026-01-16",
                Fix::Available,
                "sla-missed",
                Some("2026-01-15"),
            ),
            (
                Medium,
                "2026-03-02",
                Fix::Available,
                "under-sla",
                Some("2026-03-02"),
            ),
            (
                Medium,
                "2026-03-03",
                Fix::Available,
                "sla-missed",
                Some("2026-03-02"),
            ),
            (
                Low,
                "2026-06-30",
                Fix::Available,
                "under-sla",
                Some("2026-06-30"),
            ),
            (
                Low,
                "2026-07-01",
                Fix::Available,
                "sla-missed",
                Some("2026-06-30"),
            ),
            (
                Unknown,
                "2026-01-09",
                Fix::Available,
                "sla-missed",
                Some("2026-01-08"),
            ),
            (Critical, "2027-01-01", Fix::NoFix, "no-fix-available", None),
            (High, "2027-01-01", Fix::NotAffected, "not-affected", None),
            (
                High,
                "2027-01-01",
                fixed_on("2026-01-15"),
                "fixed",
                Some("2026-01-15"),
            ),
            (
                High,
                "2027-01-01",
                fixed_on("2026-01-16"),
                "fixed",
                Some("2026-01-15"),
            ),
        ];
        for (sev, today, fix, label, due) in cases {
            let s = clock(today).assess(sev, pub_, fix.clone());
            assert_eq!(s.label(), label, "{sev:?} {today} {fix:?}: {s:?}");
            assert_eq!(s.due(), due, "{sev:?} {today} {fix:?}: {s:?}");
        }
        let within = |on| match clock("2027-01-01").assess(High, pub_, fixed_on(on)) {
            Sla::Fixed { within_sla, .. } => within_sla,
            s => panic!("{s:?}"),
        };
        assert_eq!(within("2026-01-15"), Some(true));
        assert_eq!(within("2026-01-16"), Some(false), "fixed late");
        // No publication date: pending with no due date; fixed with unknown timeliness.
        assert_eq!(
            clock("2027-01-01").assess(High, None, Fix::Available),
            Sla::UnderSla { due: None }
        );
        // A policy file changes the windows; keys left out keep their defaults.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sla.toml");
        std::fs::write(&f, "critical = 3\nlow = 90\n").unwrap();
        let p = Policy::load(&f).unwrap();
        assert_eq!((p.critical, p.high, p.low), (3, 14, 90));
        std::fs::write(&f, "critcal = 3\n").unwrap();
        assert!(
            Policy::load(&f)
                .unwrap_err()
                .to_string()
                .contains("critcal")
        );
        assert!(today(Some("yesterday")).is_err());
        assert_eq!(
            today(Some("2026-12-02T23:30:00-02:00")).unwrap(),
            parse_date("2026-12-03").unwrap()
        );
    }
}
