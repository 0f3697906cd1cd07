//! Advisories from outside: OSV records, and Trivy or Grype JSON reports.
//!
//! Every format is converted into one internal type, [`Advisory`]: which
//! vulnerability affects which package, and (for OSV) in which versions.
//! Scanner reports already name the installed version they matched, so
//! their advisories apply to exactly that version.

use crate::inventory::Package;
use crate::recipe::Severity;
use crate::version::{Ecosystem, compare};
use serde_json::Value;
use std::cmp::Ordering;
use std::path::Path;

/// One vulnerability affecting one package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advisory {
    /// Primary id (CVE, GHSA, ...).
    pub id: String,
    /// Other ids.
    pub aliases: Vec<String>,
    /// `deb` or `pypi` (rootwasm's names).
    pub ecosystem: crate::ecosystem::Ecosystem,
    /// Package name.
    pub package: String,
    /// Which versions.
    pub affected: Affected,
    /// Where it came from: `osv`, `trivy` or `grype`.
    pub source: &'static str,
    /// Severity, publication date, fix state and the report's target.
    pub details: Details,
}

/// What an advisory says beyond "this version is affected".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// The rating stated, or computed from a CVSS vector (`None`: not given).
    pub severity: Option<Severity>,
    /// Publication date, `YYYY-MM-DD`.
    pub published: Option<String>,
    /// Whether an upstream or distribution fix exists (scanner reports).
    pub fix: FixState,
    /// The OS a scanner report was made for, `family version` (e.g. `debian 12.5`).
    pub target_os: Option<(String, String)>,
}

/// Does a fix exist upstream or in the distribution?
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FixState {
    /// The report does not say (OSV: read from the ranges instead).
    #[default]
    Unknown,
    /// Fixed in this version.
    Available(String),
    /// No fix exists (Trivy `affected`/`will_not_fix`, Grype `not-fixed`/`wont-fix`).
    NotAvailable,
}

/// The versions an advisory covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Affected {
    /// OSV ranges: `(introduced, fixed)` pairs (`fixed` None: still open), plus listed versions.
    Ranges(Vec<(String, Option<String>)>, Vec<String>),
    /// A scanner matched exactly this installed version.
    Exactly(String),
}

/// An advisory file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct AdvisoryError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

fn eco_of_osv(e: &str) -> Option<Ecosystem> {
    match e.split(':').next()? {
        "PyPI" => Some(Ecosystem::Pypi),
        "npm" => Some(Ecosystem::Npm),
        "Debian" | "Ubuntu" => Some(Ecosystem::Deb),
        "Alpine" | "Wolfi" | "Chainguard" => Some(Ecosystem::Apk),
        "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" | "Mageia" => {
            Some(Ecosystem::Rpm)
        }
        _ => None,
    }
}

fn osv(v: &Value) -> Vec<Advisory> {
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    let aliases: Vec<String> = v["aliases"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let details = Details {
        severity: osv_severity(v),
        published: v["published"].as_str().and_then(crate::sla::date_of),
        ..Details::default()
    };
    let mut out = Vec::new();
    for a in v["affected"].as_array().into_iter().flatten() {
        let Some(eco) = a["package"]["ecosystem"].as_str().and_then(eco_of_osv) else {
            continue;
        };
        let Some(name) = a["package"]["name"].as_str() else {
            continue;
        };
        let mut ranges = Vec::new();
        for r in a["ranges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["type"] == "ECOSYSTEM")
        {
            let mut introduced: Option<String> = None;
            for ev in r["events"].as_array().into_iter().flatten() {
                if let Some(i) = ev["introduced"].as_str() {
                    introduced = Some(i.to_owned());
                } else if let Some(f) = ev["fixed"].as_str() {
                    ranges.push((
                        introduced.take().unwrap_or_else(|| "0".into()),
                        Some(f.to_owned()),
                    ));
                }
            }
            if let Some(i) = introduced {
                ranges.push((i, None));
            }
        }
        let versions = a["versions"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Advisory {
            id: id.clone(),
            aliases: aliases.clone(),
            ecosystem: eco,
            package: name.into(),
            affected: Affected::Ranges(ranges, versions),
            source: "osv",
            details: details.clone(),
        });
    }
    out
}

/// GHSA's stated rating (`database_specific.severity`), else the highest
/// rating of the CVSS vectors in `severity[]`.
fn osv_severity(v: &Value) -> Option<Severity> {
    v["database_specific"]["severity"]
        .as_str()
        .and_then(crate::sla::severity_word)
        .or_else(|| {
            v["severity"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["score"].as_str().and_then(crate::sla::cvss_rating))
                .max_by_key(|s| crate::sla::rank(*s))
        })
}

/// Trivy's `Severity`, else the rating of a CVSS vector it gives (`CVSS.<source>.V3Vector`, `V2Vector`).
fn trivy_severity(x: &Value) -> Option<Severity> {
    x["Severity"]
        .as_str()
        .and_then(crate::sla::severity_word)
        .or_else(|| {
            x["CVSS"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .flat_map(|c| [&c["V40Vector"], &c["V3Vector"], &c["V2Vector"]])
                .filter_map(|s| s.as_str().and_then(crate::sla::cvss_rating))
                .max_by_key(|s| crate::sla::rank(*s))
        })
}

/// Trivy's fix state: `FixedVersion` when given, else `Status`.
fn trivy_fix(x: &Value) -> FixState {
    match (x["FixedVersion"].as_str(), x["Status"].as_str()) {
        (Some(f), _) if !f.is_empty() => FixState::Available(f.into()),
        (_, Some("affected" | "will_not_fix" | "fix_deferred" | "end_of_life")) => {
            FixState::NotAvailable
        }
        _ => FixState::Unknown,
    }
}

fn eco_of_purl(purl: &str) -> Option<Ecosystem> {
    let ty = purl.strip_prefix("pkg:")?.split('/').next()?;
    match ty {
        "deb" | "pypi" | "npm" | "apk" | "rpm" => ty.parse().ok(),
        _ => None,
    }
}

fn trivy(v: &Value) -> Vec<Advisory> {
    let os = &v["Metadata"]["OS"];
    let target_os = os["Family"]
        .as_str()
        .zip(os["Name"].as_str())
        .map(|(f, n)| (f.to_owned(), n.to_owned()));
    let mut out = Vec::new();
    for r in v["Results"].as_array().into_iter().flatten() {
        for x in r["Vulnerabilities"].as_array().into_iter().flatten() {
            let eco = x["PkgIdentifier"]["PURL"]
                .as_str()
                .and_then(eco_of_purl)
                .or(match r["Type"].as_str() {
                    Some("debian" | "ubuntu") => Some(Ecosystem::Deb),
                    Some("alpine" | "wolfi" | "chainguard") => Some(Ecosystem::Apk),
                    Some("redhat" | "centos" | "rocky" | "alma" | "amazon" | "oracle" | "suse") => {
                        Some(Ecosystem::Rpm)
                    }
                    Some("python-pkg" | "pip" | "pipenv" | "poetry") => Some(Ecosystem::Pypi),
                    _ => None,
                });
            let (Some(eco), Some(id), Some(name), Some(ver)) = (
                eco,
                x["VulnerabilityID"].as_str(),
                x["PkgName"].as_str(),
                x["InstalledVersion"].as_str(),
            ) else {
                continue;
            };
            out.push(Advisory {
                id: id.into(),
                aliases: Vec::new(),
                ecosystem: eco,
                package: name.into(),
                affected: Affected::Exactly(ver.into()),
                source: "trivy",
                details: Details {
                    severity: trivy_severity(x),
                    published: x["PublishedDate"].as_str().and_then(crate::sla::date_of),
                    fix: trivy_fix(x),
                    target_os: target_os.clone(),
                },
            });
        }
    }
    out
}

fn grype(v: &Value) -> Vec<Advisory> {
    let d = &v["distro"];
    let target_os = d["name"]
        .as_str()
        .zip(d["version"].as_str())
        .map(|(f, n)| (f.to_owned(), n.to_owned()));
    let mut out = Vec::new();
    for m in v["matches"].as_array().into_iter().flatten() {
        let art = &m["artifact"];
        let eco = art["purl"]
            .as_str()
            .and_then(eco_of_purl)
            .or(match art["type"].as_str() {
                Some("deb") => Some(Ecosystem::Deb),
                Some("apk") => Some(Ecosystem::Apk),
                Some("rpm") => Some(Ecosystem::Rpm),
                Some("python") => Some(Ecosystem::Pypi),
                _ => None,
            });
        let (Some(eco), Some(id), Some(name), Some(ver)) = (
            eco,
            m["vulnerability"]["id"].as_str(),
            art["name"].as_str(),
            art["version"].as_str(),
        ) else {
            continue;
        };
        let aliases = m["relatedVulnerabilities"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Advisory {
            id: id.into(),
            aliases,
            ecosystem: eco,
            package: name.into(),
            affected: Affected::Exactly(ver.into()),
            source: "grype",
            details: Details {
                severity: grype_severity(&m["vulnerability"]),
                published: None,
                fix: grype_fix(&m["vulnerability"]["fix"]),
                target_os: target_os.clone(),
            },
        });
    }
    out
}

/// Grype's `severity` (`Negligible` is low), else the rating of its `cvss[].vector`.
fn grype_severity(v: &Value) -> Option<Severity> {
    v["severity"]
        .as_str()
        .and_then(crate::sla::severity_word)
        .or_else(|| {
            v["cvss"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["vector"].as_str().and_then(crate::sla::cvss_rating))
                .max_by_key(|s| crate::sla::rank(*s))
        })
}

/// Grype's `fix.state` and `fix.versions`.
fn grype_fix(f: &Value) -> FixState {
    match f["state"].as_str() {
        Some("fixed") => {
            FixState::Available(f["versions"][0].as_str().unwrap_or_default().to_owned())
        }
        Some("not-fixed" | "wont-fix") => FixState::NotAvailable,
        _ => FixState::Unknown,
    }
}

/// Read advisories from a file (OSV record, Trivy or Grype report, by shape) or a directory of them.
pub fn load(path: &Path) -> Result<Vec<Advisory>, AdvisoryError> {
    let err = |reason: String| AdvisoryError {
        path: path.display().to_string(),
        reason,
    };
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(load(&f)?);
        }
        return Ok(out);
    }
    let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    if v.get("Results").is_some() || v.get("ArtifactName").is_some() {
        Ok(trivy(&v))
    } else if v.get("matches").is_some() {
        Ok(grype(&v))
    } else if v.get("id").is_some() && v.get("affected").is_some() {
        Ok(osv(&v))
    } else {
        Err(err(
            "not an OSV record, a Trivy JSON report or a Grype JSON report".into(),
        ))
    }
}

/// Warnings for scanner reports that do not look made for the image with
/// inventory `inv`: another OS or release, or packages at versions not installed.
pub fn mismatches(advisories: &[Advisory], inv: &crate::inventory::Inventory) -> Vec<String> {
    use std::collections::BTreeSet;
    let mut out = BTreeSet::new();
    let major = |v: &str| v.split('.').next().unwrap_or_default().to_owned();
    for a in advisories {
        if let (Some((family, release)), Some(os)) = (&a.details.target_os, &inv.os)
            && (!family.eq_ignore_ascii_case(&os.id) || major(release) != major(&os.version_id))
        {
            out.insert(format!(
                "the {} report is for {family} {release}, but the image is {} {}: \
                     its findings may not apply (scan the image itself)",
                a.source, os.id, os.version_id
            ));
        }
    }
    let mut absent: std::collections::BTreeMap<&str, BTreeSet<String>> = Default::default();
    for a in advisories {
        if let Affected::Exactly(v) = &a.affected
            && !inv.packages.iter().any(|p| a.affects(p))
        {
            absent
                .entry(a.source)
                .or_default()
                .insert(format!("{} {v}", a.package));
        }
    }
    for (source, pkgs) in absent {
        let shown: Vec<&str> = pkgs.iter().take(3).map(String::as_str).collect();
        out.insert(format!(
            "the {source} report lists {} package version(s) not installed in this image ({}{}): \
             was it made for another image, or before patching?",
            pkgs.len(),
            shown.join(", "),
            if pkgs.len() > 3 { ", ..." } else { "" }
        ));
    }
    out.into_iter().collect()
}

impl Advisory {
    /// Does this advisory apply to the installed package `p`?
    pub fn affects(&self, p: &Package) -> bool {
        if p.ecosystem != self.ecosystem
            || !crate::matching::same_name(p.ecosystem, &p.name, &self.package)
        {
            return false;
        }
        match &self.affected {
            Affected::Exactly(v) => v == &p.version,
            Affected::Ranges(ranges, versions) => {
                let eco = p.ecosystem;
                let lt = |a: &str, b: &str| {
                    compare(eco, a, b)
                        .map(|o| o == Ordering::Less)
                        .unwrap_or(false)
                };
                versions.iter().any(|v| v == &p.version)
                    || ranges.iter().any(|(intro, fixed)| {
                        (intro == "0" || !lt(&p.version, intro))
                            && fixed.as_deref().is_none_or(|f| lt(&p.version, f))
                    })
            }
        }
    }

    /// Does a fix exist for the installed package `p`? OSV: the range that
    /// matched has a `fixed` event; reports: what they say (`None`: unknown).
    pub fn fix_exists(&self, p: &Package) -> Option<bool> {
        match (&self.affected, &self.details.fix) {
            (_, FixState::Available(_)) => Some(true),
            (_, FixState::NotAvailable) => Some(false),
            (Affected::Exactly(_), FixState::Unknown) => None,
            (Affected::Ranges(ranges, _), FixState::Unknown) => {
                let eco = p.ecosystem;
                let ge = |a: &str, b: &str| compare(eco, a, b).is_ok_and(|o| o != Ordering::Less);
                Some(ranges.iter().any(|(intro, fixed)| {
                    fixed.as_deref().is_some_and(|f| {
                        (intro == "0" || ge(&p.version, intro)) && !ge(&p.version, f)
                    })
                }))
            }
        }
    }

    /// Every id it goes by.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(v: &str) -> Package {
        Package {
            ecosystem: Ecosystem::Pypi,
            name: "Requests".into(),
            version: v.into(),
            arch: None,
            source: None,
            licenses: vec![],
            location: "/x".into(),
        }
    }

    #[test]
    fn osv_ranges_include_introduced_and_exclude_fixed() {
        let a = Advisory {
            id: "GHSA-x".into(),
            aliases: vec!["CVE-1".into()],
            ecosystem: Ecosystem::Pypi,
            package: "requests".into(),
            affected: Affected::Ranges(vec![("2.3.0".into(), Some("2.31.0".into()))], vec![]),
            source: "osv",
            details: Details::default(),
        };
        assert!(a.affects(&pkg("2.3.0")));
        assert!(a.affects(&pkg("2.30.0")));
        assert!(a.affects(&pkg("2.31.0rc1")));
        assert!(!a.affects(&pkg("2.31.0")));
        assert!(!a.affects(&pkg("2.2.1")));
        assert_eq!(a.ids().collect::<Vec<_>>(), ["GHSA-x", "CVE-1"]);
    }
}
