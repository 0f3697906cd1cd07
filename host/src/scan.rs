//! `rootwasm scan`: what is installed, and what each recipe says about it.
//!
//! For every platform: the inventory, then for each recipe the installed
//! packages it targets, with one status per vulnerability it fixes:
//! `fixable` (installed version in the recipe's range, or below a distro
//! upgrade's, and its check says vulnerable), `fixed` (its check says the
//! fix is present), `not-affected` (installed, but above the range or the
//! check finds nothing to fix), `unknown` (below a backport's range: the
//! recipe cannot say, so the status never under-claims).
//! Advisories given as OSV, Trivy or Grype JSON add what they report and no
//! recipe fixes: `no-recipe` where a fixed version exists, else
//! `no-fix-available`. Every finding carries its SLA status (`crate::sla`).

use crate::advisory::Advisory;
use crate::image::error::ImageError;
use crate::image::merge::Merged;
use crate::image::source::Source;
use crate::image::view::{Docs, ReadOptions, load_docs, platforms, read_layers};
use crate::inventory::{self, Inventory, Package};
use crate::recipe::Recipe;
use crate::run::{RunOptions, check};
use crate::sandbox::{CheckStatus, Sandbox};
use serde::Serialize;
use std::sync::Arc;

/// One vulnerability's status for one installed package.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Vulnerability id.
    pub vulnerability: String,
    /// Package name.
    pub package: String,
    /// Installed version.
    pub version: String,
    /// Where it is installed.
    pub location: String,
    /// The recipe that covers it.
    pub recipe: String,
    /// `fixable`, `fixed`, `not-affected`, `unknown`, `no-recipe` or
    /// `no-fix-available`.
    pub status: String,
    /// Why, from the recipe's check.
    pub detail: String,
    /// Severity: the advisories', else the recipe's.
    pub severity: crate::recipe::Severity,
    /// Publication date, `YYYY-MM-DD`: the advisories', else the recipe's.
    pub published: Option<String>,
    /// Where it stands against the SLA.
    pub sla: crate::sla::Sla,
}

/// One platform's scan.
#[derive(Debug, Serialize)]
pub struct PlatformScan {
    /// `linux/amd64`, or `default`.
    pub platform: String,
    /// Inventory.
    pub inventory: Inventory,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Advisory reports that do not look made for this image.
    pub warnings: Vec<String>,
}

/// Scan every platform of `source` against `recipes`.
pub fn scan(
    sandbox: &Sandbox,
    source: &Source,
    recipes: &[Recipe],
    advisories: &[Advisory],
    read: &ReadOptions<'_>,
    clock: &crate::sla::Clock,
) -> Result<Vec<PlatformScan>, ImageError> {
    let store = source.store.as_ref();
    let targets = platforms(store, &source.top)?;
    let capture = crate::matching::capture_for(recipes);
    let mut out = Vec::new();
    for (platform, desc) in targets {
        let Docs {
            manifest,
            diff_ids,
            config,
        } = load_docs(store, &desc)?;
        let mut merged = Merged::with_limits(read.limits);
        read_layers(
            store,
            &manifest.layers,
            &diff_ids,
            0,
            &capture,
            &mut merged,
            read,
        )?;
        let patches = crate::record::records(manifest.annotations.as_ref());
        let inv = inventory::inventory(&merged);
        let view: Arc<dyn crate::rootfs::RootView + Send + Sync> = Arc::new(merged);
        let mut findings: Vec<Finding> = recipes
            .iter()
            .flat_map(|r| recipe_findings(sandbox, r, &inv, &patches, &view))
            .collect();
        let unanswered = advisory_findings(advisories, &inv, &findings);
        findings.extend(unanswered);
        let patched = crate::sla::patched_on(&config);
        crate::sla::annotate(
            &mut findings,
            advisories,
            &patches,
            patched.as_deref(),
            clock,
        );
        out.push(PlatformScan {
            platform,
            warnings: crate::advisory::mismatches(advisories, &inv),
            inventory: inv,
            findings,
        });
    }
    Ok(out)
}

/// What one recipe says about each installed package it targets.
fn recipe_findings(
    sandbox: &Sandbox,
    r: &Recipe,
    inv: &Inventory,
    patches: &[crate::record::PatchRecord],
    view: &Arc<dyn crate::rootfs::RootView + Send + Sync>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let t = &r.manifest.target;
    let installed: Vec<(&Package, &str)> = (inv.packages.iter())
        .filter_map(|p| Some((p, crate::matching::range_for(r, p)?)))
        .collect();
    if installed.is_empty() {
        return Vec::new();
    }
    let options = RunOptions {
        targets: crate::run::targets(inv, r),
        ..RunOptions::default()
    };
    let checked = check(sandbox, r, view.clone(), &options);
    for (p, range) in installed {
        let in_range = crate::matching::patches(r, range, &p.version);
        let below = !in_range && crate::matching::below_range(t.ecosystem, &p.version, range);
        // A rootwasm patch record for exactly this package and version.
        let recorded = patches.iter().any(|x| {
            x.recipe == r.manifest.id
                && x.package == p.name
                && x.location == p.location
                && x.version_after == p.version
        });
        let (status, detail) = match (&checked, in_range) {
            _ if recorded => (
                "fixed",
                format!("patched by rootwasm recipe {}", r.manifest.id),
            ),
            (_, false) if below => (
                "unknown",
                format!(
                    "{} is below {}, the versions this recipe was made for: it may be \
                     affected, and this recipe does not patch it",
                    p.version, range
                ),
            ),
            (_, false) => (
                "not-affected",
                format!("{} is outside {}", p.version, range),
            ),
            (Ok(c), true) if c.status == CheckStatus::Fixed => ("fixed", c.detail.clone()),
            (Ok(c), true) if c.status == CheckStatus::Vulnerable => ("fixable", c.detail.clone()),
            (Ok(c), true) => ("not-affected", c.detail.clone()),
            (Err(e), true) => ("fixable", format!("check failed: {e}")),
        };
        for v in &r.manifest.fixes {
            findings.push(Finding {
                vulnerability: v.id.clone(),
                package: p.name.clone(),
                version: p.version.clone(),
                location: p.location.clone(),
                recipe: r.manifest.id.clone(),
                status: status.into(),
                detail: detail.clone(),
                severity: v.severity,
                published: Some(v.published.clone()),
                sla: crate::sla::Sla::NotAffected,
            });
        }
    }
    findings
}

/// Advisories no recipe answers: no fix available (yet).
fn advisory_findings(advisories: &[Advisory], inv: &Inventory, found: &[Finding]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for a in advisories {
        for p in inv.packages.iter().filter(|p| a.affects(p)) {
            let covered = found.iter().chain(&out).any(|f| {
                f.location == p.location
                    && f.package == p.name
                    && a.ids().any(|id| id == f.vulnerability)
            });
            let seen = found
                .iter()
                .chain(&out)
                .any(|f| f.location == p.location && f.vulnerability == a.id);
            if !covered && !seen {
                let (status, detail) = match (a.fix_exists(p), &a.details.fix) {
                    (Some(true), crate::advisory::FixState::Available(v)) => (
                        "no-recipe",
                        format!("reported by {}; fixed in {v}; no recipe yet", a.source),
                    ),
                    (Some(true), _) => (
                        "no-recipe",
                        format!(
                            "reported by {}; a fixed version exists; no recipe yet",
                            a.source
                        ),
                    ),
                    _ => (
                        "no-fix-available",
                        format!("reported by {}; no fix exists", a.source),
                    ),
                };
                out.push(Finding {
                    vulnerability: a.id.clone(),
                    package: p.name.clone(),
                    version: p.version.clone(),
                    location: p.location.clone(),
                    recipe: String::new(),
                    status: status.into(),
                    detail,
                    severity: crate::recipe::Severity::Unknown,
                    published: None,
                    sla: crate::sla::Sla::NotAffected,
                });
            }
        }
    }
    out
}
