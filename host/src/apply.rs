//! `rootwasm apply`: patch every platform of an image with the recipes that
//! apply, and produce the output image's blobs.
//!
//! Per platform: read and verify the layers into a merged view (keeping only
//! the files the recipes may read), run each recipe on the view left by the
//! ones before it, then turn all their journaled changes into one new layer.
//! An image already patched by rootwasm has its patch layer replaced, not
//! stacked.

use crate::error::RunError;
use crate::image::cache::LayerCache;
use crate::image::error::ImageError;
use crate::image::layer::{EntryKind, LayerLimits, read_layer};
use crate::image::merge::Merged;
use crate::image::model::*;
use crate::image::patch::{build_layer, parse_rfc3339, rfc3339};
use crate::image::sink::{Blob, OutputImage};
use crate::image::source::{BlobStore, Source, Top};
use crate::image::view::{Capture, Docs, ReadOptions, load_docs, read_layers};
use crate::journal::{Blobs, Entry, Journal, Op, State};
use crate::manifest::Recipe;
use crate::matching::{Match, match_recipe};
use crate::record::{ANNOTATION_PATCHES, PatchRecord, records};
use crate::rootfs::{Kind, Meta, RootView};
use crate::run::{Outcome, RunOptions, run};
use crate::sandbox::Sandbox;
use crate::session::{Changes, Content, Node, Overlay, Staged};
use serde::Serialize;
use serde_json::Value;
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
    /// Failure policy.
    pub on_failure: OnFailure,
    /// Clock for recipes and mtimes; default: the input config's `created`.
    pub source_date_epoch: Option<u64>,
    /// Bomb limits.
    pub layer_limits: LayerLimits,
    /// The input's name, for the base-name annotation.
    pub input_name: String,
    /// Progress messages (to stderr in the CLI).
    pub progress: &'a dyn Fn(&str),
    /// Where layer indexes are cached, if anywhere.
    pub layer_cache: Option<LayerCache>,
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
    /// `applied`, `already-fixed`, `not-applicable`, `not-affected` or `failed`.
    pub result: String,
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
    /// The combined journal of this platform.
    #[serde(skip)]
    pub journal: Journal,
    /// Its blobs.
    #[serde(skip)]
    pub blobs: Blobs,
}

/// The patched image, ready for a sink.
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
}

struct Patched {
    manifest: Descriptor,
    new_blobs: Vec<(Digest, Vec<u8>)>,
    config: Digest,
    layers: Vec<Digest>,
    result: PlatformResult,
}

/// Patch `source` with `opts.recipes`.
pub fn apply<'a>(
    sandbox: &Sandbox,
    source: &'a Source,
    opts: &ApplyOptions<'_>,
) -> Result<Applied<'a>, ApplyError> {
    let store = source.store.as_ref();
    let mut blobs: BTreeMap<Digest, (u64, Blob)> = BTreeMap::new();
    let mut platforms = Vec::new();
    let mut any_failed = false;
    let (top, docker) = match &source.top {
        Top::Manifest(desc) => {
            let p = patch_manifest(sandbox, store, desc, "default", opts)?;
            any_failed |= p.result.recipes.iter().any(|r| r.result == "failed");
            add_patched(&mut blobs, store, desc, &p)?;
            let docker = Some((p.config.clone(), p.layers.clone()));
            let top = p.manifest.clone();
            platforms.push(p.result);
            (top, docker)
        }
        Top::Index(desc) => {
            let bytes = store.read(desc, "image index")?;
            let mut index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::malformed("image index", e))?;
            let mut changed = false;
            for child in index.manifests.iter_mut() {
                if !is_manifest(&child.media_type) {
                    pass_through(&mut blobs, store, child)?;
                    continue;
                }
                let name = child
                    .platform
                    .as_ref()
                    .map_or("unknown".to_owned(), |p| p.to_string());
                if name == "unknown/unknown" {
                    // Attestation manifests (BuildKit) are not runnable images.
                    pass_through(&mut blobs, store, child)?;
                    continue;
                }
                (opts.progress)(&format!("platform {name}"));
                let p = patch_manifest(sandbox, store, child, &name, opts)?;
                any_failed |= p.result.recipes.iter().any(|r| r.result == "failed");
                add_patched(&mut blobs, store, child, &p)?;
                if p.manifest.digest != child.digest {
                    changed = true;
                    child.digest = p.manifest.digest.clone();
                    child.size = p.manifest.size;
                    child.media_type = p.manifest.media_type.clone();
                }
                platforms.push(p.result);
            }
            let top = if changed {
                if index.media_type.as_deref() == Some(MEDIA_DOCKER_LIST) {
                    index.media_type = Some(MEDIA_INDEX.into());
                }
                let b = to_canonical_json(&index);
                let d = Descriptor::for_bytes(MEDIA_INDEX, &b);
                blobs.insert(d.digest.clone(), (d.size, Blob::New(b)));
                d
            } else {
                blobs.insert(desc.digest.clone(), (desc.size, Blob::Input));
                desc.clone()
            };
            (top, None)
        }
    };
    let top = Descriptor {
        annotations: None,
        ..top
    };
    let epoch = opts.source_date_epoch.unwrap_or(0);
    Ok(Applied {
        platforms,
        output: OutputImage {
            top,
            blobs,
            input: store,
            repo_tags: source.repo_tags.clone(),
            docker,
            epoch,
            tags: Vec::new(),
        },
        any_failed,
    })
}

/// Add a manifest we did not patch, and everything it references, as input blobs.
fn pass_through(
    blobs: &mut BTreeMap<Digest, (u64, Blob)>,
    store: &dyn BlobStore,
    desc: &Descriptor,
) -> Result<(), ImageError> {
    blobs.insert(desc.digest.clone(), (desc.size, Blob::Input));
    if is_manifest(&desc.media_type) {
        let m: Manifest = serde_json::from_slice(&store.read(desc, "manifest")?)
            .map_err(|e| ImageError::malformed(format!("manifest {}", desc.digest), e))?;
        blobs.insert(m.config.digest.clone(), (m.config.size, Blob::Input));
        for l in &m.layers {
            blobs.insert(l.digest.clone(), (l.size, Blob::Input));
        }
    }
    Ok(())
}

fn add_patched(
    blobs: &mut BTreeMap<Digest, (u64, Blob)>,
    store: &dyn BlobStore,
    input: &Descriptor,
    p: &Patched,
) -> Result<(), ImageError> {
    if p.new_blobs.is_empty() {
        return pass_through(blobs, store, input);
    }
    let m: Manifest = serde_json::from_slice(
        p.new_blobs
            .iter()
            .find(|(d, _)| *d == p.manifest.digest)
            .map(|(_, b)| b.as_slice())
            .expect("manifest blob"),
    )
    .expect("we wrote it");
    for l in &m.layers {
        blobs
            .entry(l.digest.clone())
            .or_insert((l.size, Blob::Input));
    }
    for (d, b) in &p.new_blobs {
        blobs.insert(d.clone(), (b.len() as u64, Blob::New(b.clone())));
    }
    Ok(())
}

fn is_patch_layer(m: &Manifest, config: &Value) -> bool {
    if m.layers
        .last()
        .and_then(|l| l.annotation(ANNOTATION_PATCH_LAYER))
        == Some("true")
    {
        return true;
    }
    config["history"]
        .as_array()
        .and_then(|h| {
            h.iter()
                .rev()
                .find(|e| !e["empty_layer"].as_bool().unwrap_or(false))
        })
        .and_then(|e| e["created_by"].as_str())
        .is_some_and(|s| s.starts_with("rootwasm apply"))
}

fn patch_manifest(
    sandbox: &Sandbox,
    store: &dyn BlobStore,
    desc: &Descriptor,
    platform: &str,
    opts: &ApplyOptions<'_>,
) -> Result<Patched, ApplyError> {
    let Docs {
        manifest,
        config,
        diff_ids,
    } = load_docs(store, desc)?;
    let repatch = !manifest.layers.is_empty() && is_patch_layer(&manifest, &config);
    let n_base = manifest.layers.len() - usize::from(repatch);
    let epoch = opts
        .source_date_epoch
        .or_else(|| config["created"].as_str().and_then(parse_rfc3339))
        .unwrap_or(0);

    // Read only what some recipe may read.
    // (and what the inventory needs, to match recipes to installed versions)
    let capture = Capture::for_recipes(opts.recipes);
    let read_opts = ReadOptions {
        limits: opts.layer_limits,
        cache: opts.layer_cache.as_ref(),
        progress: opts.progress,
    };
    let mut base = Merged::default();
    read_layers(
        store,
        &manifest.layers[..n_base],
        &diff_ids[..n_base],
        0,
        &capture,
        &mut base,
        &read_opts,
    )?;
    // An earlier rootwasm patch layer: read it whole; its changes are carried into the new layer.
    let mut carried = Changes::default();
    let mut full = base.clone();
    if repatch {
        let l = &manifest.layers[n_base];
        (opts.progress)(&format!("reading previous patch layer {}", l.digest));
        let idx = read_layer(
            store.open(&l.digest)?,
            l,
            &diff_ids[n_base],
            &opts.layer_limits,
            &|_| true,
        )?;
        carried = carried_changes(&idx, &base);
        full.apply(n_base, l.digest.as_str(), idx)?;
    }

    let mut view: Arc<dyn RootView + Send + Sync> = Arc::new(full);
    let mut results = Vec::new();
    let mut journal = Journal::default();
    let carried_staged = carried.staged.clone();
    let mut combined = carried;
    let inv = crate::inventory::inventory(view.as_ref());
    let mut records = if repatch {
        records(manifest.annotations.as_ref())
    } else {
        Vec::new()
    };
    for recipe in opts.recipes {
        let m = &recipe.manifest;
        let mut rr = RecipeResult {
            recipe: m.id.clone(),
            package: m.target.package.clone(),
            version_before: None,
            version_after: None,
            cves: m.fixes.iter().map(|f| f.id.clone()).collect(),
            result: String::new(),
            error: None,
        };
        // Recipes run only where their package is installed in a version they patch.
        match match_recipe(&inv, recipe) {
            Match::NotInstalled => {
                rr.result = "not-applicable".into();
                results.push(rr);
                continue;
            }
            Match::Installed {
                affected,
                unaffected,
            } if affected.is_empty() => {
                rr.result = "not-affected".into();
                rr.version_before = unaffected.first().map(|p| p.version.clone());
                results.push(rr);
                continue;
            }
            _ => {}
        }
        (opts.progress)(&format!("running {} on {platform}", m.id));
        let r = run(
            sandbox,
            recipe,
            view.clone(),
            &RunOptions {
                source_date_epoch: epoch,
                params: Default::default(),
            },
        );
        match r.outcome {
            Outcome::Applied { report } => {
                rr.result = "applied".into();
                for p in &report.packages {
                    records
                        .retain(|r: &PatchRecord| !(r.recipe == m.id && r.location == p.location));
                    records.push(PatchRecord {
                        recipe: m.id.clone(),
                        patch_type: m.patch_type,
                        origin: m.origin.clone(),
                        ecosystem: p.ecosystem.clone(),
                        package: p.name.clone(),
                        location: p.location.clone(),
                        version_before: p.version_before.clone(),
                        version_after: p.version_after.clone(),
                        // A generic component (dpkg-upgrade) leaves the ids to recipe.toml.
                        fixes: if report.fixed.is_empty() {
                            m.fixes.iter().map(|f| f.id.clone()).collect()
                        } else {
                            report.fixed.clone()
                        },
                    });
                }
                if let Some(p) = report.packages.first() {
                    rr.version_before = Some(p.version_before.clone());
                    rr.version_after = Some(p.version_after.clone());
                }
                for mut e in r.changes.entries.clone() {
                    e.seq = journal.entries.len() as u64;
                    journal.entries.push(e);
                }
                view = Arc::new(Overlay::new(view.clone(), &r.changes));
                for (p, s) in r.changes.staged {
                    combined.staged.insert(p, s);
                }
                for (_, b) in r.changes.blobs.iter() {
                    combined.blobs.insert(b.to_vec());
                }
            }
            Outcome::AlreadyFixed => rr.result = "already-fixed".into(),
            Outcome::NotApplicable => rr.result = "not-applicable".into(),
            Outcome::Failed(e) => {
                rr.result = "failed".into();
                if opts.on_failure == OnFailure::Stop {
                    return Err(ApplyError::FailFast(e));
                }
                rr.error = Some(e);
            }
        }
        results.push(rr);
    }

    let unchanged = journal.entries.is_empty();
    // On a re-patch, the journal starts with what the earlier patch layer
    // carried, so it alone still explains the whole new layer (replay, verify).
    if !unchanged && !carried_staged.is_empty() {
        let mut all = carried_entries(&carried_staged);
        all.append(&mut journal.entries);
        for (i, e) in all.iter_mut().enumerate() {
            e.seq = i as u64;
        }
        journal.entries = all;
    }
    let result = |after: Digest, journal: Journal, blobs: Blobs| PlatformResult {
        platform: platform.into(),
        manifest_before: desc.digest.clone(),
        manifest_after: after,
        recipes: results.clone(),
        journal,
        blobs,
    };
    if unchanged {
        return Ok(Patched {
            manifest: desc.clone(),
            new_blobs: Vec::new(),
            config: manifest.config.digest.clone(),
            layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
            result: result(desc.digest.clone(), journal, Blobs::default()),
        });
    }

    // The new layer, in the input's compression.
    let compression = manifest.layers[..n_base]
        .last()
        .and_then(|l| Compression::of_media_type(&l.media_type))
        .unwrap_or(Compression::Gzip);
    (opts.progress)(&format!(
        "writing patch layer ({} changed paths)",
        combined.staged.len()
    ));
    let layer = build_layer(&base, &combined.staged, &combined.blobs, epoch, compression)?;
    let ids: Vec<&str> = opts
        .recipes
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.result == "applied")
        .map(|(r, _)| r.manifest.id.as_str())
        .collect();

    let mut config = config;
    let diff = config["rootfs"]["diff_ids"]
        .as_array_mut()
        .expect("checked above");
    diff.truncate(n_base);
    diff.push(Value::String(layer.diff_id.to_string()));
    if !config["history"].is_array() {
        config["history"] = Value::Array(Vec::new());
    }
    let history = config["history"].as_array_mut().expect("array");
    if repatch
        && let Some(pos) = history
            .iter()
            .rposition(|e| !e["empty_layer"].as_bool().unwrap_or(false))
    {
        history.remove(pos);
    }
    let cves: Vec<&str> = results
        .iter()
        .filter(|r| r.result == "applied")
        .flat_map(|r| r.cves.iter().map(String::as_str))
        .collect();
    history.push(serde_json::json!({
        "created": rfc3339(epoch),
        "created_by": format!("rootwasm apply {}", ids.join(" ")),
        "comment": format!("fixes {}", cves.join(", ")),
    }));
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_desc = Descriptor::for_bytes(MEDIA_CONFIG, &config_bytes);

    let media_layer = compression.media_type(false);
    let mut layers: Vec<Descriptor> = manifest.layers[..n_base]
        .iter()
        .cloned()
        .map(to_oci_layer)
        .collect();
    let mut ld = Descriptor::for_bytes(media_layer, &layer.blob);
    ld.annotations = Some(BTreeMap::from([(
        ANNOTATION_PATCH_LAYER.to_owned(),
        "true".to_owned(),
    )]));
    layers.push(ld.clone());
    let mut annotations = manifest.annotations.clone().unwrap_or_default();
    if !repatch || !annotations.contains_key(ANNOTATION_BASE_DIGEST) {
        annotations.insert(ANNOTATION_BASE_DIGEST.into(), desc.digest.to_string());
        annotations.insert(ANNOTATION_BASE_NAME.into(), opts.input_name.clone());
    }
    annotations.insert(
        ANNOTATION_PATCHES.into(),
        serde_json::to_string(&records).expect("records serialise"),
    );
    let new_manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_MANIFEST.into()),
        config: config_desc.clone(),
        layers: layers.clone(),
        annotations: Some(annotations),
        extra: manifest.extra.clone(),
    };
    let mbytes = to_canonical_json(&new_manifest);
    let mdesc = Descriptor {
        platform: desc.platform.clone(),
        ..Descriptor::for_bytes(MEDIA_MANIFEST, &mbytes)
    };
    let new_blobs = vec![
        (ld.digest.clone(), layer.blob),
        (config_desc.digest.clone(), config_bytes),
        (mdesc.digest.clone(), mbytes),
    ];
    Ok(Patched {
        manifest: mdesc.clone(),
        new_blobs,
        config: config_desc.digest,
        layers: layers.iter().map(|l| l.digest.clone()).collect(),
        result: result(mdesc.digest, journal, combined.blobs),
    })
}

/// The output manifest is OCI (it carries annotations); Docker layer types are renamed, the blobs are untouched.
fn to_oci_layer(mut d: Descriptor) -> Descriptor {
    if let Some(c) = Compression::of_media_type(&d.media_type) {
        d.media_type = c.media_type(false).into();
    }
    d
}

/// An earlier patch layer as staged changes, so the new layer carries them.
/// Journal entries recreating what an earlier patch layer changed, recorded
/// under the recipe name [`CARRIED`].
fn carried_entries(staged: &BTreeMap<crate::rootfs::RootPath, Staged>) -> Vec<Entry> {
    staged
        .iter()
        .map(|(path, s)| {
            let (op, after) = match s {
                Staged::Removed => (Op::Remove, None),
                Staged::Node(n) => {
                    let (op, sha256, target) = match &n.content {
                        Content::Blob(d) => (Op::WriteFile, Some(d.clone()), None),
                        Content::Link(t) => (Op::Symlink, None, Some(t.clone())),
                        Content::None => (Op::Mkdir, None, None),
                    };
                    let state = State {
                        kind: n.meta.kind,
                        size: (n.meta.kind == Kind::File).then_some(n.meta.size),
                        sha256,
                        mode: n.meta.mode,
                        uid: n.meta.uid,
                        gid: n.meta.gid,
                        target,
                    };
                    (op, Some(state))
                }
            };
            Entry {
                seq: 0,
                recipe: CARRIED.into(),
                op,
                path: path.to_string(),
                from: None,
                before: None,
                after,
            }
        })
        .collect()
}

/// The recipe name of journal entries carried from an earlier patch layer.
pub const CARRIED: &str = "rootwasm:earlier-patch";

fn carried_changes(idx: &crate::image::layer::LayerIndex, base: &Merged) -> Changes {
    let mut c = Changes::default();
    for e in &idx.entries {
        let meta = |kind| Meta {
            kind,
            size: e.size,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
        };
        let staged = match &e.kind {
            EntryKind::Whiteout => Staged::Removed,
            EntryKind::File { content: Some(d) } => {
                let bytes = idx.contents.get(d).cloned().unwrap_or_default();
                let (digest, _) = c.blobs.insert(bytes);
                Staged::Node(Node {
                    meta: meta(Kind::File),
                    content: Content::Blob(digest),
                })
            }
            EntryKind::Symlink { target } => Staged::Node(Node {
                meta: Meta {
                    mode: 0o777,
                    ..meta(Kind::Symlink)
                },
                content: Content::Link(target.clone()),
            }),
            // Directories the earlier patch created are carried; the base's
            // own directories are re-derived when the layer is rebuilt.
            EntryKind::Dir if base.get(&e.path).is_none() => Staged::Node(Node {
                meta: meta(Kind::Dir),
                content: Content::None,
            }),
            _ => continue,
        };
        c.staged.insert(e.path.clone(), staged);
    }
    c
}
