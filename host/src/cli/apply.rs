//! `rootwasm apply <IMAGE> --recipes <DIR> --output <IMAGE>`

use super::text::safe;
use anyhow::{Context, bail};
use clap::Args;
use rootwasm::apply::{Applied, ApplyError, ApplyOptions, OnFailure, RecipeStatus, apply};
use rootwasm::image::cache::LayerCache;
use rootwasm::image::prestage::Prestage;
use rootwasm::image::sink::{OutputImage, Sealed, WithoutEvidence};
use rootwasm::image::{Reference, sink, source};
use rootwasm::recipe::Recipe;
use rootwasm::sandbox::{ComponentCache, Sandbox, SandboxOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Input image: oci:<dir>[:<tag>], docker-archive:<file> or docker://<registry>/<repo>:<tag>.
    image: String,
    /// Directory of recipes (one subdirectory each, with recipe.toml).
    #[arg(long)]
    recipes: PathBuf,
    /// Output image: oci:<dir>[:<tag>], docker-archive:<file>[:<name:tag>] or
    /// docker://<registry>/<repo>:<tag> (the tag is written last).
    #[arg(long)]
    output: String,
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
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
    #[command(flatten)]
    limits: super::limits::LayerLimitArgs,
    #[command(flatten)]
    ceilings: super::limits::CeilingArgs,
    /// Where compiled components are cached.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Do not use or fill the layer index cache.
    #[arg(long)]
    no_layer_cache: bool,
    /// Write each platform's journal and blobs to DIR/<platform>/.
    #[arg(long)]
    journal_dir: Option<PathBuf>,
    /// Write the image without its evidence (journal, SBOMs, VEX, signed
    /// provenance): the explicit opt-out.
    #[arg(long)]
    no_evidence: bool,
    /// Where the output will be published, <registry>/<repository>[:<tag>]
    /// (e.g. ghcr.io/acme/app:1.0-patched): the VEX and SBOM then name the
    /// image with the purls Trivy and Grype build when they pull it from
    /// there (docs/vex.md). Without it only the digests identify the image.
    #[arg(long, value_name = "REGISTRY/REPO[:TAG]")]
    repository: Option<rootwasm::attest::purl::Published>,
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
    // Loading hashes every artifact: on all cores.
    let loaded: Vec<anyhow::Result<Recipe>> = {
        use rayon::prelude::*;
        dirs.par_iter()
            .map(|d| Recipe::load(d).with_context(|| format!("loading recipe {}", d.display())))
            .collect()
    };
    let mut recipes = Vec::new();
    for r in loaded {
        let r = r?;
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

/// Under --recipe, the rest of the directory may complete a chosen
/// upgrade (a library its new version needs): run only if needed.
fn load_companions(dir: &Path, only: &[String]) -> anyhow::Result<Vec<Recipe>> {
    if only.is_empty() {
        return Ok(Vec::new());
    }
    Ok(load_recipes(dir, &[])?
        .into_iter()
        .filter(|r| !only.contains(&r.manifest.id))
        .collect())
}

/// The recipes the evidence names: the chosen ones and the companions that ran.
fn used_recipes(
    recipes: &[Recipe],
    companions: &[Recipe],
    platforms: &[rootwasm::apply::PlatformResult],
) -> Vec<Recipe> {
    let ran = |r: &&Recipe| {
        (platforms.iter().flat_map(|p| &p.recipes)).any(|x| x.recipe == r.manifest.id)
    };
    let extra = companions.iter().filter(ran);
    recipes.iter().chain(extra).cloned().collect()
}

pub fn run(a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let input = Reference::parse(&a.image)?;
    let output = Reference::parse(&a.output)?;
    let registry = a.registry.options();
    let src = source::open_full(&input, &Default::default(), &registry)
        .with_context(|| format!("opening {}", a.image))?;
    // Fail before any work on what would fail after it.
    sink::check_destination(&output, src.store.as_ref())
        .with_context(|| format!("writing {}", a.output))?;
    patch_and_write(&a, &src, &output, &registry)
}

/// Everything after the input is open and the destination checked.
fn patch_and_write(
    a: &ApplyArgs,
    src: &source::Source,
    output: &Reference,
    registry: &rootwasm::image::registry::RegistryOptions,
) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &a.journal_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--journal-dir {}: cannot create it", dir.display()))?;
    }
    let recipes = load_recipes(&a.recipes, &a.only)?;
    let companions = load_companions(&a.recipes, &a.only)?;
    let epoch = source_date_epoch(a.source_date_epoch)?;
    let cache_root = a
        .cache_dir
        .clone()
        .or_else(ComponentCache::default_location);
    let sandbox = Sandbox::new(SandboxOptions {
        cache: ComponentCache::at(cache_root.clone()),
        ceilings: a.ceilings.ceilings(),
    })?;
    let progress = |m: &str| eprintln!("rootwasm: {}", safe(m));
    let opts = ApplyOptions {
        recipes: &recipes,
        companions: &companions,
        on_failure: if a.fail_fast {
            OnFailure::Stop
        } else {
            OnFailure::Continue
        },
        source_date_epoch: epoch,
        layer_limits: a.limits.limits(),
        progress: &progress,
        layer_cache: cache_root
            .filter(|_| !a.no_layer_cache)
            .map(|r| LayerCache::new(r.join("layer-index"))),
    };
    // The input's layers are copied to a new layout while the recipes run
    // (after everything above could refuse the run).
    std::thread::scope(|scope| {
        let prestage = Prestage::start(scope, output, src.store.as_ref(), &src.top);
        let Applied {
            platforms,
            output: image,
            any_failed,
        } = match apply(&sandbox, src, &opts) {
            Ok(x) => x,
            Err(ApplyError::FailFast(e)) => {
                eprintln!("error: {}", safe(&e.to_string()));
                eprintln!("stopped at the first failure (--fail-fast); no image was written.");
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(e).with_context(|| format!("patching {}", a.image)),
        };
        let used = used_recipes(&recipes, &companions, &platforms);
        let sealed = seal(a, output, src, &used, &platforms, image, &opts, epoch)?;
        progress(&format!("writing {}", a.output));
        let top = sealed.image().top.digest.clone();
        let pushed = sink::write_prestaged(output, &sealed, registry, prestage)
            .with_context(|| format!("writing {}", a.output))?;
        if let Some(dir) = &a.journal_dir {
            write_journals(dir, &platforms)?;
        }
        report(a, &top, &platforms, pushed.as_ref())?;
        let missed = missed_recipes(&a.only, &recipes, &platforms);
        Ok(if any_failed || missed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// What apply did: the table (or JSON) and, for a registry, what was sent.
fn report(
    a: &ApplyArgs,
    top: &rootwasm::image::model::Digest,
    platforms: &[rootwasm::apply::PlatformResult],
    pushed: Option<&rootwasm::image::registry::PushReport>,
) -> anyhow::Result<()> {
    if a.json {
        let mut v = serde_json::json!({
            "input": a.image,
            "output": a.output,
            "digest": top,
            "platforms": platforms,
        });
        if let Some(p) = pushed {
            v["upload"] = serde_json::to_value(p)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_table(platforms);
        println!("\nwrote {} ({top})", a.output);
        if let Some(p) = pushed {
            println!(
                "uploaded {} bytes: {} blobs sent, {} mounted from the source repository, {} already there; {} manifests",
                p.bytes_uploaded, p.blobs_uploaded, p.blobs_mounted, p.blobs_present, p.manifests
            );
        }
    }
    Ok(())
}

fn source_date_epoch(flag: Option<u64>) -> anyhow::Result<Option<u64>> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Ok(Some(v.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={v:?} is not a number")
        })?)),
        Err(_) => Ok(None),
    }
}

/// Attach the evidence (journal, SBOMs, VEX, signed provenance) to each
/// patched platform, or say why there is none.
#[allow(clippy::too_many_arguments)]
fn seal<'a>(
    a: &ApplyArgs,
    output: &Reference,
    src: &source::Source,
    recipes: &[Recipe],
    platforms: &[rootwasm::apply::PlatformResult],
    image: OutputImage<'a>,
    opts: &ApplyOptions<'_>,
    epoch: Option<u64>,
) -> anyhow::Result<Sealed<'a>> {
    if !platforms.iter().any(|p| p.patched()) {
        return Ok(image.without_evidence(WithoutEvidence::NothingPatched));
    }
    if a.no_evidence {
        eprintln!("rootwasm: note: --no-evidence: no journal, SBOM, VEX or provenance attached");
        return Ok(image.without_evidence(WithoutEvidence::OptedOut));
    }
    if matches!(output, Reference::DockerArchive { .. }) {
        eprintln!(
            "rootwasm: note: no attestations attached: a docker archive has no place for them; write a tagged oci: output (oci:<dir>:<tag>) to keep them"
        );
        return Ok(image.without_evidence(WithoutEvidence::DockerArchive));
    }
    let key = super::key::signing_key(a.key.as_deref())?;
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let read = rootwasm::image::view::ReadOptions {
        limits: opts.layer_limits,
        cache: opts.layer_cache.as_ref(),
        progress: &progress,
    };
    // Published where it is written, unless --repository says otherwise.
    let published = match (&a.repository, output) {
        (Some(p), _) => Some(p.clone()),
        (None, Reference::Registry(r)) => Some(rootwasm::attest::purl::Published {
            repository: rootwasm::attest::purl::Repository::parse(&format!(
                "{}/{}",
                r.registry(),
                r.repository()
            ))
            .map_err(anyhow::Error::msg)?,
            tag: r.tag().map(str::to_owned),
        }),
        (None, _) => None,
    };
    let own = rootwasm::image::reference::own_name(src.top.descriptor(), &src.repo_tags);
    let name = rootwasm::image::reference::short_name(own.as_deref());
    rootwasm::evidence::attach_evidence(
        platforms,
        image,
        &rootwasm::evidence::EvidenceOptions {
            recipes,
            input_name: own.as_deref(),
            image_name: &name,
            repository: published.as_ref().map(|p| &p.repository),
            tag: published.as_ref().and_then(|p| p.tag.as_deref()),
            key: &key,
            epoch,
            read: &read,
        },
    )
    .context("attaching the SBOM, VEX, provenance and journal")
}

fn write_journals(dir: &Path, platforms: &[rootwasm::apply::PlatformResult]) -> anyhow::Result<()> {
    for p in platforms {
        let d = dir.join(p.platform.replace('/', "-"));
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        std::fs::write(d.join("journal.json"), p.journal.to_json())
            .with_context(|| format!("writing {}", d.join("journal.json").display()))?;
        p.blobs
            .write_to(&d.join("blobs"))
            .with_context(|| format!("writing {}", d.join("blobs").display()))?;
    }
    Ok(())
}

/// Columns as wide as their widest cell; long CVE lists are summarised
/// (--json has them all).
fn print_table(platforms: &[rootwasm::apply::PlatformResult]) {
    let mut rows = vec![[
        "PLATFORM".to_owned(),
        "RECIPE".into(),
        "PACKAGE".into(),
        "VERSION".into(),
        "CVES".into(),
        "RESULT".into(),
    ]];
    for p in platforms {
        for r in &p.recipes {
            let version = match (&r.version_before, &r.version_after) {
                (Some(b), Some(a)) if a != b => format!("{b} -> {a}"),
                (Some(b), _) => b.clone(),
                _ => "-".into(),
            };
            let result = match &r.error {
                Some(e) => format!("failed: {}", e.message),
                None => r.result.as_str().to_owned(),
            };
            let cves = match r.cves.as_slice() {
                [] => "-".to_owned(),
                [one] => one.clone(),
                [first, rest @ ..] => format!("{first} +{} more", rest.len()),
            };
            // Versions come from the image, ids from recipes: escape both.
            rows.push([
                safe(&p.platform),
                safe(&r.recipe),
                safe(&r.package),
                safe(&version),
                safe(&cves),
                safe(&result),
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
}

/// A recipe the operator named with --recipe must have done something
/// somewhere; silently skipping it would read as "patched". Says why for
/// each platform; true if any was missed.
fn missed_recipes(
    only: &[String],
    recipes: &[Recipe],
    platforms: &[rootwasm::apply::PlatformResult],
) -> bool {
    let mut missed = false;
    for id in only {
        let results: Vec<_> = platforms
            .iter()
            .flat_map(|p| {
                p.recipes
                    .iter()
                    .filter(|r| &r.recipe == id)
                    .map(move |r| (p, r))
            })
            .collect();
        if results.iter().any(|(_, r)| {
            matches!(
                r.result,
                RecipeStatus::Applied
                    | RecipeStatus::AlreadyFixed
                    | RecipeStatus::Failed
                    | RecipeStatus::Refused
            )
        }) {
            continue;
        }
        missed = true;
        let Some(t) = recipes
            .iter()
            .find(|r| &r.manifest.id == id)
            .map(|r| &r.manifest.target)
        else {
            continue;
        };
        let name = match &t.architecture {
            Some(a) => format!("{}:{a}", t.package),
            None => t.package.clone(),
        };
        for (p, r) in results {
            let why = match (r.result, &r.version_before) {
                (RecipeStatus::NotAffected, Some(v)) => format!(
                    "{name} {v} is installed, outside the affected range {}",
                    t.affected
                ),
                (RecipeStatus::NotApplicable, _) => {
                    format!("{name} is not installed, or the recipe's check found nothing to fix")
                }
                (other, _) => other.as_str().to_owned(),
            };
            eprintln!(
                "error: --recipe {} changed nothing on {}: {}",
                safe(id),
                safe(&p.platform),
                safe(&why)
            );
        }
    }
    missed
}
