//! `rootwasm apply`: patch every platform of an image with the recipes that
//! apply, and produce the output image's blobs.
//!
//! Per platform: read and verify the layers into a merged view (keeping only
//! the files the recipes may read), run each recipe on the view left by the
//! ones before it, then turn their combined journal into one new layer
//! ([`build_layer`], the same call `replay` and `verify` make) and the new
//! config and manifest ([`mutate`]). An image already patched by rootwasm
//! has its patch layer replaced, not stacked: what the earlier layer did is
//! carried into the new journal, so the journal alone still explains it.

use crate::error::{RunError, RunErrorKind};
use crate::image::Ahead;
use crate::image::cache::LayerCache;
use crate::image::error::ImageError;
use crate::image::layer::{EntryKind, LayerIndex, LayerLimits, read_layer};
use crate::image::merge::{Merged, MergedNode};
use crate::image::model::*;
use crate::image::mutate::{self, PatchLayer};
use crate::image::patch::{GZIP_LEVEL, build_layer};
use crate::image::sink::{Blob, OutputImage};
use crate::image::source::{BlobStore, Source, Top};
use crate::image::view::{Docs, ReadOptions, load_docs, read_layers};
use crate::inventory::dpkg_deps::Database;
use crate::journal::{Blobs, Entry, Journal, Op, State};
use crate::matching::{Match, match_recipe};
use crate::recipe::Recipe;
use crate::record::{ANNOTATION_PATCHES, PatchRecord, records};
use crate::rootfs::{Kind, RootView};
use crate::run::{Outcome, RunOptions, run};
use crate::sandbox::Sandbox;
use crate::session::{Changes, Overlay};
use crate::upgrade_plan::{self, Candidate, Plan};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to do when a recipe fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Report it, discard its changes, go on with the other recipes.
    Continue,
    /// Stop at the first failure; the image is not written.
    Stop,
}

/// Settings of one `apply`.
pub struct ApplyOptions<'a> {
    /// The recipes to try, in order.
    pub recipes: &'a [Recipe],
    /// Recipes run only when a chosen one needs them to keep the dpkg
    /// database whole (the rest of `--recipes` under `--recipe`).
    pub companions: &'a [Recipe],
    /// Failure policy.
    pub on_failure: OnFailure,
    /// Clock for recipes and mtimes; default: the input config's `created`.
    pub source_date_epoch: Option<u64>,
    /// Bomb limits.
    pub layer_limits: LayerLimits,
    /// Progress messages (to stderr in the CLI).
    pub progress: &'a dyn Fn(&str),
    /// Where layer indexes are cached, if anywhere.
    pub layer_cache: Option<LayerCache>,
}

/// What became of one recipe on one platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipeStatus {
    /// Applied, and its check then found the fix present.
    Applied,
    /// Its check found the fix already present.
    AlreadyFixed,
    /// Its package is not installed, or its check found nothing to fix.
    NotApplicable,
    /// Its package is installed outside the recipe's affected range.
    NotAffected,
    /// It failed; its changes were discarded.
    Failed,
    /// Not applied: it would leave dependencies broken (no recipe
    /// completes it, or one it needs failed). The error says what is missing.
    Refused,
}

impl RecipeStatus {
    /// The name used in `--json`, tables and provenance.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipeStatus::Applied => "applied",
            RecipeStatus::AlreadyFixed => "already-fixed",
            RecipeStatus::NotApplicable => "not-applicable",
            RecipeStatus::NotAffected => "not-affected",
            RecipeStatus::Failed => "failed",
            RecipeStatus::Refused => "refused",
        }
    }
}

/// One recipe's result on one platform.
#[derive(Clone, Debug, Serialize)]
pub struct RecipeResult {
    /// Recipe id.
    pub recipe: String,
    /// Target package.
    pub package: String,
    /// Version before.
    pub version_before: Option<String>,
    /// Version after.
    pub version_after: Option<String>,
    /// Vulnerabilities it fixes.
    pub cves: Vec<String>,
    /// What became of it.
    pub result: RecipeStatus,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
}

/// One platform's result.
#[derive(Debug, Serialize)]
pub struct PlatformResult {
    /// `linux/amd64` or `default` for a single-manifest image.
    pub platform: String,
    /// Input manifest digest.
    pub manifest_before: Digest,
    /// Output manifest digest (same if nothing changed).
    pub manifest_after: Digest,
    /// Recipes.
    pub recipes: Vec<RecipeResult>,
    /// The journal of this platform: the only input its patch layer was built from.
    #[serde(skip)]
    pub journal: Journal,
    /// Its blobs.
    #[serde(skip)]
    pub blobs: Blobs,
}

impl PlatformResult {
    /// Did this platform get a new manifest?
    pub fn patched(&self) -> bool {
        self.manifest_after != self.manifest_before
    }
}

/// The patched image, ready for the evidence stage and a sink.
pub struct Applied<'a> {
    /// Per platform.
    pub platforms: Vec<PlatformResult>,
    /// The output.
    pub output: OutputImage<'a>,
    /// Did any recipe fail?
    pub any_failed: bool,
}

/// An apply that could not produce an image.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The input image is bad.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A recipe failed under `--fail-fast`.
    #[error("stopped at the first failure (--fail-fast): {0}")]
    FailFast(RunError),
    /// The recipes left the dpkg database with broken dependencies that the
    /// plan did not foresee (a recipe installed other than its `.deb` says).
    #[error(
        "platform {0}: the patched dpkg database has broken dependencies: {1}; no image was written"
    )]
    Broken(String, String),
}

/// One platform after patching: its (possibly new) manifest and new blobs.
struct PatchedPlatform {
    manifest: Descriptor,
    new_blobs: Vec<(Digest, Vec<u8>)>,
    config: Digest,
    layers: Vec<Descriptor>,
    result: PlatformResult,
}

/// Patch `source` with `opts.recipes`.
pub fn apply<'a>(
    sandbox: &Sandbox,
    source: &'a Source,
    opts: &ApplyOptions<'_>,
) -> Result<Applied<'a>, ApplyError> {
    let store = source.store.as_ref();
    let base_name = crate::image::reference::own_name(source.top.descriptor(), &source.repo_tags);
    let mut out = OutputBlobs::default();
    let mut platforms = Vec::new();
    let (top, docker) = match &source.top {
        Top::Manifest(desc) => {
            let p = patch_platform(sandbox, store, desc, "default", base_name.as_deref(), opts)?;
            out.add_platform(store, desc, &p)?;
            let docker = Some((
                p.config.clone(),
                p.layers.iter().map(|l| l.digest.clone()).collect(),
            ));
            let top = p.manifest.clone();
            platforms.push(p.result);
            (top, docker)
        }
        Top::Index(desc) => {
            let (top, results) =
                patch_index(sandbox, store, desc, base_name.as_deref(), opts, &mut out)?;
            platforms = results;
            (top, None)
        }
    };
    let any_failed = platforms
        .iter()
        .flat_map(|p| &p.recipes)
        .any(|r| matches!(r.result, RecipeStatus::Failed | RecipeStatus::Refused));
    Ok(Applied {
        platforms,
        output: OutputImage {
            top: Descriptor {
                annotations: None,
                ..top
            },
            blobs: out.0,
            input: store,
            repo_tags: source.repo_tags.clone(),
            docker,
            epoch: opts.source_date_epoch.unwrap_or(0),
            tags: Vec::new(),
        },
        any_failed,
    })
}

/// Every platform of an index; the index is re-pointed at the patched ones.
fn patch_index(
    sandbox: &Sandbox,
    store: &dyn BlobStore,
    desc: &Descriptor,
    base_name: Option<&str>,
    opts: &ApplyOptions<'_>,
    out: &mut OutputBlobs,
) -> Result<(Descriptor, Vec<PlatformResult>), ApplyError> {
    let bytes = store.read(desc, "image index")?;
    let input: Index =
        serde_json::from_slice(&bytes).map_err(|e| ImageError::malformed("image index", e))?;
    let mut index = input.clone();
    let mut results = Vec::new();
    for child in &input.manifests {
        let name = child
            .platform
            .as_ref()
            .map_or("unknown".to_owned(), |p| p.to_string());
        // Nested indexes and attestation manifests (BuildKit's
        // `unknown/unknown`) are not runnable images: copied as they are.
        if !is_manifest(&child.media_type) || name == "unknown/unknown" {
            out.pass_through(store, child)?;
            continue;
        }
        (opts.progress)(&format!("platform {name}"));
        let p = patch_platform(sandbox, store, child, &name, base_name, opts)?;
        out.add_platform(store, child, &p)?;
        if p.manifest.digest != child.digest {
            index = mutate::repoint(&index, &child.digest, &p.manifest);
        }
        results.push(p.result);
    }
    let top = if index == input {
        out.0.insert(desc.digest.clone(), (desc.size, Blob::Input));
        desc.clone()
    } else {
        let b = to_canonical_json(&index);
        let d = Descriptor::for_bytes(MEDIA_INDEX, &b);
        out.0.insert(d.digest.clone(), (d.size, Blob::New(b)));
        d
    };
    Ok((top, results))
}

/// Every blob the output needs: new ones, and those copied from the input.
#[derive(Default)]
struct OutputBlobs(BTreeMap<Digest, (u64, Blob)>);

impl OutputBlobs {
    /// A manifest or index we did not patch, and everything it references.
    fn pass_through(&mut self, store: &dyn BlobStore, desc: &Descriptor) -> Result<(), ImageError> {
        self.pass_through_at(store, desc, 0)
    }

    fn pass_through_at(
        &mut self,
        store: &dyn BlobStore,
        desc: &Descriptor,
        depth: usize,
    ) -> Result<(), ImageError> {
        // Nested indexes are legal but never deep in practice.
        const MAX_NESTING: usize = 4;
        self.0.insert(desc.digest.clone(), (desc.size, Blob::Input));
        if is_manifest(&desc.media_type) {
            let what = format!("manifest {}", desc.digest);
            let m: Manifest = serde_json::from_slice(&store.read(desc, &what)?)
                .map_err(|e| ImageError::malformed(&what, e))?;
            self.0
                .insert(m.config.digest.clone(), (m.config.size, Blob::Input));
            for l in &m.layers {
                self.0.insert(l.digest.clone(), (l.size, Blob::Input));
            }
        } else if is_index(&desc.media_type) {
            let what = format!("nested index {}", desc.digest);
            if depth >= MAX_NESTING {
                return Err(ImageError::malformed(
                    what,
                    format!("indexes nested more than {MAX_NESTING} deep"),
                ));
            }
            let i: Index = serde_json::from_slice(&store.read(desc, &what)?)
                .map_err(|e| ImageError::malformed(&what, e))?;
            for child in &i.manifests {
                self.pass_through_at(store, child, depth + 1)?;
            }
        }
        Ok(())
    }

    fn add_platform(
        &mut self,
        store: &dyn BlobStore,
        input: &Descriptor,
        p: &PatchedPlatform,
    ) -> Result<(), ImageError> {
        if p.new_blobs.is_empty() {
            return self.pass_through(store, input);
        }
        for l in &p.layers {
            self.0
                .entry(l.digest.clone())
                .or_insert((l.size, Blob::Input));
        }
        for (d, b) in &p.new_blobs {
            self.0
                .insert(d.clone(), (b.len() as u64, Blob::New(b.clone())));
        }
        Ok(())
    }
}

/// A platform's image as the recipes see it.
struct BaseImage {
    docs: Docs,
    /// Layers below an earlier rootwasm patch layer (all of them if none).
    n_base: usize,
    /// Those layers, merged.
    base: Merged,
    /// The base with the earlier patch layer on top: what recipes run on.
    full: Merged,
    /// What the earlier patch layer did, as journal entries over `base`.
    carried: Journal,
    carried_blobs: Blobs,
    epoch: u64,
}

fn read_base(
    store: &dyn BlobStore,
    desc: &Descriptor,
    opts: &ApplyOptions<'_>,
) -> Result<BaseImage, ImageError> {
    let docs = load_docs(store, desc)?;
    let patch = mutate::patch_layer(&docs.manifest, &docs.config);
    let n_base = patch.unwrap_or(docs.manifest.layers.len());
    let epoch = opts
        .source_date_epoch
        .or_else(|| {
            docs.config["created"]
                .as_str()
                .and_then(crate::rfc3339::parse)
        })
        .unwrap_or(0);
    let earlier = earlier_patch(store, &docs, patch, opts)?;
    let carried_paths = earlier
        .iter()
        .flat_map(|(_, idx)| &idx.entries)
        .map(|e| e.path.clone());
    // Read only what some recipe may read, what the inventory needs to
    // match recipes to installed versions, and what an earlier patch
    // changed (its before-states are the base's).
    let capture = crate::matching::capture_for(opts.recipes.iter().chain(opts.companions))
        .with_paths(carried_paths);
    let read_opts = ReadOptions {
        limits: opts.layer_limits,
        cache: opts.layer_cache.as_ref(),
        progress: opts.progress,
    };
    let mut base = Merged::with_limits(opts.layer_limits);
    let m = &docs.manifest;
    read_layers(
        store,
        &m.layers[..n_base],
        &docs.diff_ids[..n_base],
        0,
        &capture,
        &mut base,
        &read_opts,
    )?;
    let mut full = base.clone();
    let (mut carried, mut carried_blobs) = (Journal::default(), Blobs::default());
    if let Some((n, idx)) = earlier {
        (carried, carried_blobs) = carried_journal(&idx, &base);
        full.apply(n, m.layers[n].digest.as_str(), idx)?;
    }
    Ok(BaseImage {
        docs,
        n_base,
        base,
        full,
        carried,
        carried_blobs,
        epoch,
    })
}

/// An earlier rootwasm patch layer (layer `patch`), read whole: its
/// changes are carried into the new journal.
fn earlier_patch(
    store: &dyn BlobStore,
    docs: &Docs,
    patch: Option<usize>,
    opts: &ApplyOptions<'_>,
) -> Result<Option<(usize, LayerIndex)>, ImageError> {
    let Some(n) = patch else {
        return Ok(None);
    };
    let l = &docs.manifest.layers[n];
    (opts.progress)(&format!("reading previous patch layer {}", l.digest));
    let idx = read_layer(
        store.open(&l.digest)?,
        l,
        &docs.diff_ids[n],
        &opts.layer_limits,
        &|_| true,
    )?;
    Ok(Some((n, idx)))
}

/// What the recipes did on one platform.
struct Ran {
    results: Vec<RecipeResult>,
    journal: Journal,
    blobs: Blobs,
    records: Vec<PatchRecord>,
}

/// A fresh result for `recipe`, not applicable until decided otherwise.
fn result_for(recipe: &Recipe) -> RecipeResult {
    let m = &recipe.manifest;
    RecipeResult {
        recipe: m.id.clone(),
        package: m.target.package.clone(),
        version_before: None,
        version_after: None,
        cves: m.fixes.iter().map(|f| f.id.clone()).collect(),
        result: RecipeStatus::NotApplicable,
        error: None,
    }
}

/// The result of a recipe that will not run because its package is not
/// installed in a version it patches; `None` if it may run.
fn skip_unmatched(inv: &crate::inventory::Inventory, recipe: &Recipe) -> Option<RecipeResult> {
    let mut rr = result_for(recipe);
    match match_recipe(inv, recipe) {
        Match::NotInstalled => Some(rr),
        Match::Installed {
            affected,
            unaffected,
        } if affected.is_empty() => {
            rr.result = RecipeStatus::NotAffected;
            rr.version_before = unaffected.first().map(|p| p.version.clone());
            Some(rr)
        }
        _ => None,
    }
}

/// Run the recipes that match the inventory, in the groups the upgrade plan
/// makes (each on the view the ones before it left), and check that the
/// dpkg database they leave is as whole as before.
fn run_recipes(
    sandbox: &Sandbox,
    img: &BaseImage,
    platform: &str,
    opts: &ApplyOptions<'_>,
    ahead: Option<&Ahead>,
) -> Result<Ran, ApplyError> {
    // One overlay over the image, however many recipes have applied.
    let mut view = Arc::new(Overlay::new(
        Arc::new(img.full.clone()),
        &Changes::default(),
    ));
    let inv = crate::inventory::inventory(view.as_ref());
    let all: Vec<(&Recipe, bool)> = (opts.recipes.iter().map(|r| (r, true)))
        .chain(opts.companions.iter().map(|r| (r, false)))
        .collect();
    let mut results: Vec<Option<RecipeResult>> = vec![None; all.len()];
    let mut cands = Vec::new();
    for (i, (r, selected)) in all.iter().enumerate() {
        let skipped = skip_unmatched(&inv, r);
        let runnable = skipped.is_none();
        if *selected {
            results[i] = skipped;
        }
        cands.push(Candidate {
            recipe: r,
            selected: *selected && runnable,
        });
    }
    let (db, plan) = plan_upgrades(view.as_ref(), &cands, &mut results);
    if opts.on_failure == OnFailure::Stop
        && let Some(e) = results.iter().flatten().find_map(|r| r.error.clone())
    {
        return Err(ApplyError::FailFast(e));
    }
    let mut ran = Ran {
        results: Vec::new(),
        journal: Journal::default(),
        blobs: Blobs::default(),
        records: if img.carried.entries.is_empty() {
            Vec::new()
        } else {
            records(img.docs.manifest.annotations.as_ref())
        },
    };
    for group in &plan.groups {
        let members: Vec<&Recipe> = group.iter().map(|i| all[*i].0).collect();
        let p = PlatformRun {
            sandbox,
            img,
            platform,
            opts,
            inv: &inv,
            ahead,
        };
        let out = run_group(&p, &members, &mut ran, &mut view)?;
        for (i, rr) in group.iter().zip(out) {
            results[*i] = Some(rr);
        }
    }
    ran.results = results.into_iter().flatten().collect();
    if let Some(db) = db {
        still_whole(&db, view.as_ref(), platform)?;
    }
    Ok(ran)
}

/// The dpkg database as installed, and the plan; recipes refused by the
/// plan (or whose artifacts cannot be read) get their results here.
fn plan_upgrades(
    view: &dyn RootView,
    cands: &[Candidate<'_>],
    results: &mut [Option<RecipeResult>],
) -> (Option<Database>, Plan) {
    let refuse = |r: &Recipe, msg: String| RecipeResult {
        result: RecipeStatus::Refused,
        error: Some(RunError::new(
            RunErrorKind::Dependencies,
            &r.manifest.id,
            msg,
        )),
        ..result_for(r)
    };
    let db = match Database::read(view) {
        Ok(db) => db,
        Err(e) => {
            // Without a readable database no upgrade can be judged: refuse them.
            let e =
                format!("the dpkg database cannot be read, so dependencies cannot be checked: {e}");
            let mut sel = Vec::new();
            for (i, c) in cands.iter().enumerate() {
                let deb = c.recipe.artifacts.keys().any(|k| k.ends_with(".deb"));
                if c.selected && deb {
                    results[i] = Some(refuse(c.recipe, e.clone()));
                }
                sel.push(Candidate {
                    recipe: c.recipe,
                    selected: c.selected && !deb,
                });
            }
            let ups = vec![Vec::new(); cands.len()];
            return (None, upgrade_plan::plan(&Database::default(), &sel, &ups));
        }
    };
    let mut ups = Vec::new();
    let mut sel = Vec::new();
    // Each reads its .debs' control archives (xz): on every core.
    let read: Vec<_> = {
        use rayon::prelude::*;
        (cands.par_iter())
            .map(|c| upgrade_plan::upgrades(c.recipe, &db))
            .collect()
    };
    for ((i, c), u) in cands.iter().enumerate().zip(read) {
        let u = match u {
            Ok(u) => u,
            Err(e) => {
                if c.selected {
                    results[i] = Some(refuse(
                        c.recipe,
                        format!("cannot read what it installs: {e}"),
                    ));
                }
                Vec::new()
            }
        };
        sel.push(Candidate {
            recipe: c.recipe,
            selected: c.selected && results[i].is_none(),
        });
        ups.push(u);
    }
    let plan = upgrade_plan::plan(&db, &sel, &ups);
    for (i, why) in &plan.refused {
        let mut rr = refuse(cands[*i].recipe, why.clone());
        rr.version_before = ups[*i].first().map(|u| u.old.version.to_string());
        results[*i] = Some(rr);
    }
    (Some(db), plan)
}

/// The database the recipes left must break nothing that was whole before.
fn still_whole(before: &Database, view: &dyn RootView, platform: &str) -> Result<(), ApplyError> {
    let was: std::collections::BTreeSet<_> = before.problems().iter().map(|p| p.key()).collect();
    let after = Database::read(view).map_err(|e| ApplyError::Broken(platform.into(), e))?;
    let new: Vec<String> = after
        .problems()
        .iter()
        .filter(|p| !was.contains(&p.key()))
        .map(|p| p.to_string())
        .collect();
    if new.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Broken(platform.into(), new.join("; ")))
    }
}

/// What every recipe run of one platform shares.
struct PlatformRun<'a> {
    sandbox: &'a Sandbox,
    img: &'a BaseImage,
    platform: &'a str,
    opts: &'a ApplyOptions<'a>,
    inv: &'a crate::inventory::Inventory,
    /// Deflates new big files while later recipes run.
    ahead: Option<&'a Ahead>,
}

/// Run one group of recipes; keep their changes only if none failed.
// Long: one loop with the per-outcome bookkeeping, then keep-or-discard.
fn run_group(
    p: &PlatformRun<'_>,
    members: &[&Recipe],
    ran: &mut Ran,
    view: &mut Arc<Overlay>,
) -> Result<Vec<RecipeResult>, ApplyError> {
    let PlatformRun {
        sandbox,
        img,
        platform,
        opts,
        inv,
        ahead,
    } = *p;
    let mut gview = view.clone();
    let mut journal = Journal::default();
    let mut blobs = Blobs::default();
    let mut recs = ran.records.clone();
    let mut out = Vec::new();
    let mut failed: Option<RunError> = None;
    for recipe in members {
        let mut rr = result_for(recipe);
        if let Some(f) = &failed {
            rr.result = RecipeStatus::Refused;
            rr.error = Some(group_error(&rr.recipe, f));
            out.push(rr);
            continue;
        }
        (opts.progress)(&format!("running {} on {platform}", rr.recipe));
        let r = run(sandbox, recipe, gview.clone(), &options(img, inv, recipe));
        rr.result = match r.outcome {
            Outcome::Applied { report } => {
                record_applied(&mut recs, recipe, &report, &mut rr);
                append(&mut journal, &r.changes.entries);
                blobs.extend_from(&r.changes.blobs);
                if let Some(a) = ahead {
                    r.changes.blobs.iter().for_each(|(d, b)| a.offer(d, b));
                }
                gview = Arc::new(gview.then(&r.changes));
                RecipeStatus::Applied
            }
            Outcome::AlreadyFixed => RecipeStatus::AlreadyFixed,
            Outcome::NotApplicable => RecipeStatus::NotApplicable,
            Outcome::Failed(e) => {
                if opts.on_failure == OnFailure::Stop {
                    return Err(ApplyError::FailFast(e));
                }
                failed = Some(e.clone());
                rr.error = Some(e);
                RecipeStatus::Failed
            }
        };
        out.push(rr);
    }
    if let Some(f) = &failed {
        // Discard the whole group: what applied needs what failed.
        for rr in out.iter_mut().filter(|r| r.result == RecipeStatus::Applied) {
            rr.result = RecipeStatus::Refused;
            rr.version_after = None;
            rr.error = Some(group_error(&rr.recipe, f));
        }
        return Ok(out);
    }
    append(&mut ran.journal, &journal.entries);
    ran.blobs.extend_from(&blobs);
    ran.records = recs;
    *view = gview;
    Ok(out)
}

fn group_error(recipe: &str, failed: &RunError) -> RunError {
    RunError::new(
        RunErrorKind::Dependencies,
        recipe,
        format!(
            "not applied: it must be applied together with {}, which failed ({}); \
             fix that one and apply both",
            failed.recipe, failed.message
        ),
    )
}

/// A run on `img`: its clock, and the installs of the recipe's target the
/// inventory matched (the recipe gets them as `targets.all`).
fn options(img: &BaseImage, inv: &crate::inventory::Inventory, recipe: &Recipe) -> RunOptions {
    RunOptions {
        source_date_epoch: img.epoch,
        params: Default::default(),
        targets: crate::run::targets(inv, recipe),
    }
}

/// Record what an applied recipe reported: one patch record per package
/// (replacing an earlier one for the same recipe, package and location), and the
/// first package's versions on the result.
fn record_applied(
    records: &mut Vec<PatchRecord>,
    recipe: &Recipe,
    report: &crate::sandbox::Report,
    rr: &mut RecipeResult,
) {
    let m = &recipe.manifest;
    for p in &report.packages {
        // `run` refused a report naming an ecosystem rootwasm does not know.
        let Ok(ecosystem) = p.ecosystem.parse() else {
            continue;
        };
        // Keyed by package too: the packages of one distro upgrade share
        // their location (the dpkg database).
        records.retain(|r| !(r.recipe == m.id && r.package == p.name && r.location == p.location));
        records.push(PatchRecord {
            recipe: m.id.clone(),
            patch_type: m.patch_type,
            origin: m.origin.clone(),
            ecosystem,
            package: p.name.clone(),
            location: p.location.clone(),
            version_before: p.version_before.clone(),
            version_after: p.version_after.clone(),
            // A generic component (dpkg-upgrade) leaves the ids to recipe.toml.
            fixes: if report.fixed.is_empty() {
                rr.cves.clone()
            } else {
                report.fixed.clone()
            },
        });
    }
    if let Some(p) = report.packages.first() {
        rr.version_before = Some(p.version_before.clone());
        rr.version_after = Some(p.version_after.clone());
    }
}

/// Append `entries` to `journal`, renumbering them.
fn append(journal: &mut Journal, entries: &[Entry]) {
    for e in entries {
        let mut e = e.clone();
        e.seq = journal.entries.len() as u64;
        journal.entries.push(e);
    }
}

fn patch_platform(
    sandbox: &Sandbox,
    store: &dyn BlobStore,
    desc: &Descriptor,
    platform: &str,
    base_name: Option<&str>,
    opts: &ApplyOptions<'_>,
) -> Result<PatchedPlatform, ApplyError> {
    let img = read_base(store, desc, opts)?;
    let compression = img.docs.manifest.layers[..img.n_base]
        .last()
        .and_then(|l| Compression::of_media_type(&l.media_type))
        .unwrap_or(Compression::Gzip);
    let ahead = (compression == Compression::Gzip).then(|| Ahead::new(GZIP_LEVEL));
    let ran = run_recipes(sandbox, &img, platform, opts, ahead.as_ref())?;
    let mut result = PlatformResult {
        platform: platform.into(),
        manifest_before: desc.digest.clone(),
        manifest_after: desc.digest.clone(),
        recipes: ran.results,
        journal: Journal::default(),
        blobs: Blobs::default(),
    };
    if ran.journal.entries.is_empty() {
        return Ok(PatchedPlatform {
            manifest: desc.clone(),
            new_blobs: Vec::new(),
            config: img.docs.manifest.config.digest.clone(),
            layers: img.docs.manifest.layers.clone(),
            result,
        });
    }
    // The journal starts with what an earlier patch layer carried, so it
    // alone explains the whole new layer (replay, verify).
    let mut journal = img.carried.clone();
    append(&mut journal, &ran.journal.entries);
    let mut blobs = img.carried_blobs.clone();
    blobs.extend_from(&ran.blobs);
    (opts.progress)(&format!(
        "writing patch layer ({} journal entries)",
        journal.entries.len()
    ));
    let layer = build_layer(
        &img.base,
        &journal,
        &blobs,
        img.epoch,
        compression,
        ahead.as_ref(),
    )?;
    let descriptor = Descriptor::for_bytes(compression.media_type(false), &layer.blob);
    let patch = patch_layer(&img, descriptor, layer.diff_id, &result.recipes);
    let out = new_documents(&img, desc, base_name, &ran.records, &patch)?;
    result.manifest_after = out.manifest.digest.clone();
    result.journal = journal;
    result.blobs = blobs;
    let mut new_blobs = vec![(out.layer.clone(), layer.blob)];
    new_blobs.extend(out.docs);
    Ok(PatchedPlatform {
        manifest: out.manifest,
        new_blobs,
        config: out.config,
        layers: out.layers,
        result,
    })
}

/// A patched platform's new config and manifest.
struct NewDocuments {
    manifest: Descriptor,
    layer: Digest,
    config: Digest,
    layers: Vec<Descriptor>,
    /// The config and manifest blobs.
    docs: Vec<(Digest, Vec<u8>)>,
}

/// The patch layer as the config's history names it: the recipes that
/// applied and what they fix.
fn patch_layer(
    img: &BaseImage,
    descriptor: Descriptor,
    diff_id: Digest,
    results: &[RecipeResult],
) -> PatchLayer {
    let applied = results.iter().filter(|r| r.result == RecipeStatus::Applied);
    PatchLayer {
        descriptor,
        diff_id,
        created: crate::rfc3339::format(img.epoch),
        recipes: applied.clone().map(|r| r.recipe.clone()).collect(),
        fixes: applied.flat_map(|r| r.cves.clone()).collect(),
    }
}

fn new_documents(
    img: &BaseImage,
    desc: &Descriptor,
    base_name: Option<&str>,
    records: &[PatchRecord],
    patch: &PatchLayer,
) -> Result<NewDocuments, ImageError> {
    let config = mutate::config_with_layer(&img.docs.config, img.n_base, patch)?;
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| ImageError::malformed("image config", e))?;
    let config_desc = Descriptor::for_bytes(MEDIA_CONFIG, &config_bytes);
    let manifest =
        mutate::manifest_with_layer(&img.docs.manifest, img.n_base, config_desc.clone(), patch);
    let manifest = mutate::annotate(&manifest, patch_annotations(img, desc, base_name, records));
    let mbytes = to_canonical_json(&manifest);
    let mdesc = Descriptor {
        platform: desc.platform.clone(),
        ..Descriptor::for_bytes(MEDIA_MANIFEST, &mbytes)
    };
    Ok(NewDocuments {
        manifest: mdesc.clone(),
        layer: patch.descriptor.digest.clone(),
        config: config_desc.digest.clone(),
        layers: manifest.layers,
        docs: vec![(config_desc.digest, config_bytes), (mdesc.digest, mbytes)],
    })
}

/// The base image (kept from an earlier patch) and the patch records.
fn patch_annotations(
    img: &BaseImage,
    desc: &Descriptor,
    base_name: Option<&str>,
    records: &[PatchRecord],
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let earlier = img
        .docs
        .manifest
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_BASE_DIGEST));
    if img.carried.entries.is_empty() || !earlier {
        a.insert(ANNOTATION_BASE_DIGEST.into(), desc.digest.to_string());
        if let Some(name) = base_name {
            a.insert(ANNOTATION_BASE_NAME.into(), name.to_owned());
        }
    }
    a.insert(
        ANNOTATION_PATCHES.into(),
        serde_json::to_string(records).expect("records serialise"),
    );
    a
}

/// The recipe name of journal entries carried from an earlier patch layer.
pub const CARRIED: &str = "rootwasm:earlier-patch";

/// An earlier patch layer as journal entries over `base`, recorded under
/// the recipe name [`CARRIED`], with the blobs they name.
fn carried_journal(idx: &LayerIndex, base: &Merged) -> (Journal, Blobs) {
    let mut journal = Journal::default();
    let mut blobs = Blobs::default();
    for e in &idx.entries {
        let state = |kind, sha256, target| State {
            kind,
            size: (kind == Kind::File).then_some(e.size),
            sha256,
            mode: if kind == Kind::Symlink { 0o777 } else { e.mode },
            uid: e.uid,
            gid: e.gid,
            target,
        };
        let (op, after) = match &e.kind {
            EntryKind::Whiteout => (Op::Remove, None),
            EntryKind::File { content: Some(d) } => {
                let bytes = idx.contents.get(d).cloned().unwrap_or_default();
                let (sha, _) = blobs.insert(bytes);
                (Op::WriteFile, Some(state(Kind::File, Some(sha), None)))
            }
            EntryKind::Symlink { target } => (
                Op::Symlink,
                Some(state(Kind::Symlink, None, Some(target.clone()))),
            ),
            // Directories the earlier patch created are carried; the base's
            // own directories are re-derived when the layer is rebuilt.
            EntryKind::Dir if base.get(&e.path).is_none() => {
                (Op::Mkdir, Some(state(Kind::Dir, None, None)))
            }
            _ => continue,
        };
        journal.entries.push(Entry {
            seq: journal.entries.len() as u64,
            recipe: CARRIED.into(),
            op,
            path: e.path.to_string(),
            from: None,
            before: base.get(&e.path).map(state_of),
            after,
        });
    }
    (journal, blobs)
}

/// A base node as a journal state.
fn state_of(n: &MergedNode) -> State {
    State {
        kind: n.meta.kind,
        size: (n.meta.kind == Kind::File).then_some(n.meta.size),
        sha256: n.content.clone(),
        mode: n.meta.mode,
        uid: n.meta.uid,
        gid: n.meta.gid,
        target: n.link.clone(),
    }
}
