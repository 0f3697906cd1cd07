//! `rootwasm apply <IMAGE> --recipes <DIR> --output <IMAGE>`

use anyhow::{Context, bail};
use clap::Args;
use rootwasm::apply::{ApplyError, ApplyOptions, OnFailure, apply};
use rootwasm::image::cache::LayerCache;
use rootwasm::image::layer::LayerLimits;
use rootwasm::image::{Reference, sink, source};
use rootwasm::manifest::Recipe;
use rootwasm::sandbox::{ComponentCache, Sandbox, SandboxOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Input image: oci:<dir>[:<tag>] or docker-archive:<file>.
    image: String,
    /// Directory of recipes (one subdirectory each, with recipe.toml).
    #[arg(long)]
    recipes: PathBuf,
    /// Output image: oci:<dir>[:<tag>] or docker-archive:<file>[:<name:tag>].
    #[arg(long)]
    output: String,
    /// Only these recipe ids (repeatable). Default: every recipe; those whose
    /// check finds nothing to fix are reported as not applicable.
    #[arg(long = "recipe")]
    only: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Stop at the first failing recipe and write nothing.
    #[arg(long)]
    fail_fast: bool,
    /// Clock and mtime for the patch [default: $SOURCE_DATE_EPOCH, else the input config's `created`].
    #[arg(long)]
    source_date_epoch: Option<u64>,
    /// Largest uncompressed layer accepted, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_layer_bytes)]
    max_layer_bytes: u64,
    /// Most entries accepted in one layer.
    #[arg(long, default_value_t = LayerLimits::default().max_entries)]
    max_layer_entries: u64,
    /// Largest file a recipe may read from a layer, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_captured_file)]
    max_file_bytes: u64,
    /// Where compiled components are cached.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Do not use or fill the layer index cache.
    #[arg(long)]
    no_layer_cache: bool,
    /// Write each platform's journal and blobs to DIR/<platform>/.
    #[arg(long)]
    journal_dir: Option<PathBuf>,
    /// Sign the provenance with this ed25519 key (PKCS#8 PEM) [default:
    /// $ROOTWASM_KEY, else a local key generated on first use].
    #[arg(long)]
    key: Option<PathBuf>,
}

/// Every recipe directory under `dir`, sorted by name (only `only`, if given).
pub(crate) fn load_recipes(dir: &Path, only: &[String]) -> anyhow::Result<Vec<Recipe>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading recipes directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("recipe.toml").is_file())
        .collect();
    dirs.sort();
    let mut recipes = Vec::new();
    for d in dirs {
        let r = Recipe::load(&d).with_context(|| format!("loading recipe {}", d.display()))?;
        if only.is_empty() || only.contains(&r.manifest.id) {
            recipes.push(r);
        }
    }
    for id in only {
        if !recipes.iter().any(|r| &r.manifest.id == id) {
            bail!("--recipe {id}: no recipe with that id in {}", dir.display());
        }
    }
    if recipes.is_empty() {
        bail!(
            "no recipes found in {} (each recipe is a subdirectory with recipe.toml)",
            dir.display()
        );
    }
    Ok(recipes)
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

pub fn run(a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let input = Reference::parse(&a.image)?;
    let output = Reference::parse(&a.output)?;
    if same_path(input.path(), output.path()) {
        bail!(
            "the output {} is the input; rootwasm never modifies its input: choose another output",
            a.output
        );
    }
    let recipes = load_recipes(&a.recipes, &a.only)?;
    let epoch = match a.source_date_epoch {
        Some(e) => Some(e),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => Some(
                v.trim()
                    .parse()
                    .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number"))?,
            ),
            Err(_) => None,
        },
    };
    let cache_root = a
        .cache_dir
        .clone()
        .unwrap_or_else(ComponentCache::default_dir);
    let cache = ComponentCache::new(cache_root.clone());
    let sandbox = Sandbox::new(SandboxOptions {
        cache,
        ceilings: Default::default(),
    })?;
    let src = source::open(&input).with_context(|| format!("opening {}", a.image))?;
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let opts = ApplyOptions {
        recipes: &recipes,
        on_failure: if a.fail_fast {
            OnFailure::Stop
        } else {
            OnFailure::Continue
        },
        source_date_epoch: epoch,
        layer_limits: LayerLimits {
            max_layer_bytes: a.max_layer_bytes,
            max_entries: a.max_layer_entries,
            max_captured_file: a.max_file_bytes,
            ..Default::default()
        },
        input_name: a.image.clone(),
        progress: &progress,
        layer_cache: if a.no_layer_cache {
            None
        } else {
            Some(LayerCache::new(cache_root.join("layer-index")))
        },
    };
    let mut applied = match apply(&sandbox, &src, &opts) {
        Ok(x) => x,
        Err(ApplyError::FailFast(e)) => {
            eprintln!("error: {e}");
            eprintln!("stopped at the first failure (--fail-fast); no image was written.");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e).with_context(|| format!("patching {}", a.image)),
    };
    // The evidence: journal, SBOMs, VEX and signed provenance, attached to
    // each patched platform. Only in a tagged OCI output: a docker archive has
    // no place for them, and an untagged layout must hold one image for skopeo.
    let patched_any = applied
        .platforms
        .iter()
        .any(|p| p.manifest_after != p.manifest_before);
    if patched_any && matches!(output, Reference::OciLayout { tag: Some(_), .. }) {
        let key = super::key::signing_key(a.key.as_deref())?;
        let mut toml_sha = std::collections::BTreeMap::new();
        for r in &recipes {
            let p = r.dir.join("recipe.toml");
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            toml_sha.insert(
                r.manifest.id.clone(),
                rootwasm::journal::Sha256Hex::of(&bytes),
            );
        }
        let read = rootwasm::image::view::ReadOptions {
            limits: opts.layer_limits,
            cache: opts.layer_cache.as_ref(),
            progress: &progress,
        };
        let name = input.short_name(&src.repo_tags);
        rootwasm::evidence::attach_evidence(
            &mut applied,
            &rootwasm::evidence::EvidenceOptions {
                recipes: &recipes,
                recipe_toml_sha256: &toml_sha,
                input_name: &a.image,
                image_name: &name,
                key: &key,
                epoch,
                read: &read,
            },
        )
        .context("attaching the SBOM, VEX, provenance and journal")?;
    } else if patched_any {
        eprintln!(
            "rootwasm: note: no attestations attached: they go into a tagged oci: output (oci:<dir>:<tag>)"
        );
    }
    progress(&format!("writing {}", a.output));
    sink::write(&output, &applied.output).with_context(|| format!("writing {}", a.output))?;
    if let Some(dir) = &a.journal_dir {
        for p in &applied.platforms {
            let d = dir.join(p.platform.replace('/', "-"));
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            std::fs::write(d.join("journal.json"), p.journal.to_json())?;
            p.blobs.write_to(&d.join("blobs"))?;
        }
    }

    if a.json {
        let v = serde_json::json!({
            "input": a.image,
            "output": a.output,
            "digest": applied.output.top.digest,
            "platforms": applied.platforms,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        // Columns as wide as their widest cell; long CVE lists are summarised
        // (--json has them all).
        let mut rows = vec![[
            "PLATFORM".to_owned(),
            "RECIPE".into(),
            "PACKAGE".into(),
            "VERSION".into(),
            "CVES".into(),
            "RESULT".into(),
        ]];
        for p in &applied.platforms {
            for r in &p.recipes {
                let version = match (&r.version_before, &r.version_after) {
                    (Some(b), Some(a)) if a != b => format!("{b} -> {a}"),
                    (Some(b), _) => b.clone(),
                    _ => "-".into(),
                };
                let result = match &r.error {
                    Some(e) => format!("failed: {}", e.message),
                    None => r.result.clone(),
                };
                let cves = match r.cves.as_slice() {
                    [] => "-".to_owned(),
                    [one] => one.clone(),
                    [first, rest @ ..] => format!("{first} +{} more", rest.len()),
                };
                rows.push([
                    p.platform.clone(),
                    r.recipe.clone(),
                    r.package.clone(),
                    version,
                    cves,
                    result,
                ]);
            }
        }
        let widths: Vec<usize> = (0..5)
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                line.push_str(&format!("{:<w$}  ", r[i]));
            }
            line.push_str(&r[5]);
            println!("{line}");
        }
        println!("\nwrote {} ({})", a.output, applied.output.top.digest);
    }
    // A recipe the operator named with --recipe must have done something
    // somewhere; silently skipping it would read as "patched".
    let mut missed = false;
    for id in &a.only {
        let results: Vec<_> = applied
            .platforms
            .iter()
            .flat_map(|p| {
                p.recipes
                    .iter()
                    .filter(|r| &r.recipe == id)
                    .map(move |r| (p, r))
            })
            .collect();
        if results
            .iter()
            .any(|(_, r)| matches!(r.result.as_str(), "applied" | "already-fixed" | "failed"))
        {
            continue;
        }
        missed = true;
        let affected = recipes
            .iter()
            .find(|r| &r.manifest.id == id)
            .map(|r| {
                let t = &r.manifest.target;
                let name = match &t.architecture {
                    Some(a) => format!("{}:{a}", t.package),
                    None => t.package.clone(),
                };
                (name, t.affected.clone())
            })
            .unwrap_or_default();
        for (p, r) in results {
            let why = match (r.result.as_str(), &r.version_before) {
                ("not-affected", Some(v)) => format!(
                    "{} {v} is installed, outside the affected range {}",
                    affected.0, affected.1
                ),
                ("not-applicable", _) => format!(
                    "{} is not installed, or the recipe's check found nothing to fix",
                    affected.0
                ),
                (other, _) => other.to_owned(),
            };
            eprintln!(
                "error: --recipe {id} changed nothing on {}: {why}",
                p.platform
            );
        }
    }
    Ok(if applied.any_failed || missed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
