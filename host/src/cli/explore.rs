//! `rootwasm explore <IMAGE> -o report.html`: the Patch Explorer page.
//!
//! Gathers what the page shows: the patch records, the signed test results
//! and the journal's diffs from the image's evidence, `verify`'s checks when
//! a public key is at hand, and a scan of the patched image with SLA
//! statuses; `rootwasm::explore::html` renders it.

use anyhow::Context;
use clap::Args;
use rootwasm::explore::{FileChange, Patch, Report, Vuln};
use rootwasm::image::attach::ARTIFACT_INTOTO;
use rootwasm::image::view::ReadOptions;
use rootwasm::review::PatchedImage;
use rootwasm::rootfs::{RootPath, RootView};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ExploreArgs {
    #[command(flatten)]
    target: super::review::Target,
    /// Where to write the HTML page.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Recipes to scan the patched image with (for the open vulnerabilities and SLA statuses).
    #[arg(long)]
    recipes: PathBuf,
    /// Advisories (OSV, Trivy or Grype JSON, or a directory of them). Repeatable.
    #[arg(long = "advisories")]
    advisories: Vec<PathBuf>,
    /// SLA policy file (see `scan --sla`).
    #[arg(long = "sla")]
    sla: Option<PathBuf>,
    /// "Today" for SLA statuses, RFC 3339 [default: the clock].
    #[arg(long)]
    now: Option<String>,
    #[command(flatten)]
    trust: super::review::Trust,
}

pub fn run(a: ExploreArgs) -> anyhow::Result<ExitCode> {
    let p = super::review::opened(&a.target)?;
    let key = super::review::public_key(&a.trust).ok();
    let clock = rootwasm::sla::Clock {
        policy: match &a.sla {
            Some(f) => rootwasm::sla::Policy::load(f)?,
            None => Default::default(),
        },
        today: rootwasm::sla::today(a.now.as_deref())?,
    };
    let page = Inputs {
        image: &a.target.image,
        shown: &a.target.image,
        recipes: Some(&a.recipes),
        advisories: &a.advisories,
        clock,
        key: key.as_ref(),
    }
    .html(&p)?;
    std::fs::write(&a.output, page).with_context(|| format!("writing {}", a.output.display()))?;
    eprintln!("rootwasm: wrote {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}

/// What the page is made from besides the image (shared with `serve`).
pub(super) struct Inputs<'a> {
    /// The image to scan (`oci:<dir>[:<tag>]`).
    pub image: &'a str,
    /// How the page names it.
    pub shown: &'a str,
    pub recipes: Option<&'a std::path::Path>,
    pub advisories: &'a [PathBuf],
    pub clock: rootwasm::sla::Clock,
    pub key: Option<&'a rootwasm::attest::key::PublicKey>,
}

impl Inputs<'_> {
    /// The page for the opened platform `p`.
    pub(super) fn html(&self, p: &PatchedImage) -> anyhow::Result<String> {
        Ok(rootwasm::explore::html(&self.report(p)?))
    }

    fn report(&self, p: &PatchedImage) -> anyhow::Result<Report> {
        let verification = self.key.map(|key| {
            super::review::checks(p, key)
                .into_iter()
                .map(|c| (c.name, c.ok, c.detail))
                .collect::<Vec<_>>()
        });
        let findings = match self.recipes {
            Some(r) => scan(self.image, r, self.advisories, &p.platform, &self.clock)?.findings,
            None => Vec::new(),
        };
        let statement = statement(p).unwrap_or_default();
        let patched_on = rootwasm::sla::patched_on(&p.docs.config);
        let records = rootwasm::record::records(p.docs.manifest.annotations.as_ref());
        let files = changes(p)?;
        let mut patches = Vec::new();
        let mut covered = vec![false; findings.len()];
        for rec in records {
            let mut vulns = Vec::new();
            for (i, f) in findings.iter().enumerate() {
                if f.recipe == rec.recipe && f.package == rec.package && f.location == rec.location
                {
                    covered[i] = true;
                    vulns.push(vuln(f));
                }
            }
            if vulns.is_empty() {
                vulns = recorded_only(&rec, patched_on.as_deref());
            }
            patches.push(Patch {
                tests: tests(&statement, &p.platform, &rec.recipe),
                files: files
                    .iter()
                    .filter(|(r, _)| *r == rec.recipe)
                    .map(|(_, f)| f.clone())
                    .collect(),
                vulns,
                record: rec,
            });
        }
        Ok(Report {
            image: self.shown.to_owned(),
            platform: p.platform.clone(),
            platforms: rootwasm::image::view::platforms(p.source.store.as_ref(), &p.source.top)?
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            manifest: p.subject.digest.to_string(),
            input:
                statement["predicate"]["buildDefinition"]["externalParameters"]["image"]["digest"]
                    .as_str()
                    .map(str::to_owned),
            patched_on,
            today: format!("{}", self.clock.today),
            verification,
            patches,
            others: findings
                .iter()
                .zip(covered)
                .filter(|(_, c)| !c)
                .map(|(f, _)| vuln(f))
                .collect(),
        })
    }
}

/// A patch's CVEs from its record alone (no recipes to scan with): fixed,
/// on the patch date, severity and publication unknown.
fn recorded_only(rec: &rootwasm::record::PatchRecord, on: Option<&str>) -> Vec<Vuln> {
    rec.fixes
        .iter()
        .map(|id| Vuln {
            id: id.clone(),
            package: rec.package.clone(),
            version: rec.version_after.clone(),
            severity: rootwasm::recipe::Severity::Unknown,
            published: None,
            sla: rootwasm::sla::Sla::Fixed {
                on: on.map(str::to_owned),
                recipe: Some(rec.recipe.clone()),
                patch_type: Some(rec.patch_type),
                due: None,
                within_sla: None,
            },
            detail: "from the patch record (no recipes given to scan with)".into(),
        })
        .collect()
}

fn vuln(f: &rootwasm::scan::Finding) -> Vuln {
    Vuln {
        id: f.vulnerability.clone(),
        package: f.package.clone(),
        version: f.version.clone(),
        severity: f.severity,
        published: f.published.clone(),
        sla: f.sla.clone(),
        detail: f.detail.clone(),
    }
}

/// The scan of one platform of `image`, with SLA statuses.
pub(super) fn scan(
    image: &str,
    recipes: &std::path::Path,
    advisories: &[PathBuf],
    platform: &str,
    clock: &rootwasm::sla::Clock,
) -> anyhow::Result<rootwasm::scan::PlatformScan> {
    use rootwasm::sandbox::{ComponentCache, Sandbox, SandboxOptions};
    let recipes = super::apply::load_recipes(recipes, &[])?;
    let sandbox = Sandbox::new(SandboxOptions {
        cache: ComponentCache::at(ComponentCache::default_location()),
        ceilings: Default::default(),
    })?;
    let mut loaded = Vec::new();
    for f in advisories {
        loaded.extend(rootwasm::advisory::load(f)?);
    }
    let src = rootwasm::image::source::open(&rootwasm::image::Reference::parse(image)?)?;
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let read = ReadOptions {
        limits: Default::default(),
        cache: None,
        progress: &progress,
    };
    let all = rootwasm::scan::scan(&sandbox, &src, &recipes, &loaded, &read, clock)?;
    all.into_iter()
        .find(|s| s.platform == platform)
        .with_context(|| format!("{image} has no platform {platform}"))
}

/// The provenance statement (its signature is `verify`'s business, shown on the page).
fn statement(p: &PatchedImage) -> anyhow::Result<serde_json::Value> {
    use base64::Engine as _;
    let env: serde_json::Value = serde_json::from_slice(&p.file(ARTIFACT_INTOTO)?)?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap_or_default())?;
    Ok(serde_json::from_slice(&payload)?)
}

fn tests(
    st: &serde_json::Value,
    platform: &str,
    recipe: &str,
) -> Vec<rootwasm::patch_checks::TestResult> {
    st["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| &b["annotations"])
        .find(|a| a["recipe"] == recipe && a["platform"] == platform)
        .and_then(|a| serde_json::from_value(a["tests"].clone()).ok())
        .unwrap_or_default()
}

/// Every path's final change as `(recipe, change)`, diffed against the base layers.
fn changes(p: &PatchedImage) -> anyhow::Result<Vec<(String, FileChange)>> {
    let (journal, blobs) = p.journal()?;
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let read = ReadOptions {
        limits: Default::default(),
        cache: None,
        progress: &progress,
    };
    let (_, base) = p.journal_base(&journal, &read)?;
    let mut last: std::collections::BTreeMap<&str, &rootwasm::journal::Entry> = Default::default();
    for e in &journal.entries {
        last.insert(&e.path, e);
    }
    let mut out = Vec::new();
    for (path, e) in last {
        let rp = RootPath::lexical(path)?;
        let before = base.read(&rp).ok();
        let after = e
            .after
            .as_ref()
            .and_then(|s| s.sha256.as_ref())
            .and_then(|s| blobs.get(s))
            .map(|b| b.to_vec());
        let text = |b: &Option<Vec<u8>>| b.as_ref().and_then(|b| String::from_utf8(b.clone()).ok());
        let diff = match (&e.after, text(&before), text(&after)) {
            (None, _, _) => format!("removed {path}"),
            (Some(_), Some(b), Some(a)) => rootwasm::explore::unified(path, &b, &a, 4000),
            (Some(_), None, Some(a)) if before.is_none() => {
                rootwasm::explore::unified(path, "", &a, 4000)
            }
            (Some(st), _, _) => format!(
                "{path}: {:?}, size {} -> {}, sha256 {} -> {}",
                st.kind,
                before.as_ref().map_or("-".into(), |b| b.len().to_string()),
                st.size.map_or("-".into(), |s| s.to_string()),
                before
                    .as_ref()
                    .map_or("-".into(), |b| rootwasm::journal::Sha256Hex::of(b)
                        .to_string()),
                st.sha256.as_ref().map_or("-".into(), |s| s.to_string()),
            ),
        };
        out.push((
            e.recipe.clone(),
            FileChange {
                path: path.to_owned(),
                diff,
            },
        ));
    }
    Ok(out)
}
