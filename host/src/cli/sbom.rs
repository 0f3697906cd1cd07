//! `rootwasm sbom <IMAGE> --format cyclonedx|spdx`

use anyhow::Context;
use clap::{Args, ValueEnum};
use rootwasm::image::cache::LayerCache;
use rootwasm::image::view::{ReadOptions, load_docs, platforms};
use rootwasm::image::{Reference, source};
use rootwasm::sandbox::ComponentCache;
use rootwasm::sbom::{Subject, cyclonedx, spdx};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

#[derive(Args, Debug)]
pub struct SbomArgs {
    /// Image: oci:<dir>[:<tag>], docker-archive:<file> or docker://<registry>/<repo>:<tag>.
    image: String,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// For a multi-platform image, which platform (e.g. linux/arm64).
    #[arg(long)]
    platform: Option<String>,
    /// Where layer indexes are cached.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Do not use or fill the layer index cache.
    #[arg(long)]
    no_layer_cache: bool,
    #[command(flatten)]
    limits: super::limits::LayerLimitArgs,
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
}

pub fn run(a: SbomArgs) -> anyhow::Result<ExitCode> {
    let input = Reference::parse(&a.image)?;
    let src = source::open_full(&input, &Default::default(), &a.registry.options())
        .with_context(|| format!("opening {}", a.image))?;
    let store = src.store.as_ref();
    let all = platforms(store, &src.top)?;
    let (_, desc) = rootwasm::image::view::choose_platform(&a.image, &all, a.platform.as_deref())?;
    let layer_cache = a
        .cache_dir
        .clone()
        .or_else(ComponentCache::default_location)
        .filter(|_| !a.no_layer_cache)
        .map(|r| LayerCache::new(r.join("layer-index")));
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let read = ReadOptions {
        limits: a.limits.limits(),
        cache: layer_cache.as_ref(),
        progress: &progress,
    };
    let docs = load_docs(store, &desc)?;
    let (merged, patches) = rootwasm::sbom::read_platform(store, &docs, &read)?;
    let config = &docs.config;
    let inventory = rootwasm::inventory::inventory(&merged);
    for w in &inventory.warnings {
        eprintln!("rootwasm: warning: {w}");
    }
    let name = rootwasm::image::reference::short_name(
        rootwasm::image::reference::own_name(src.top.descriptor(), &src.repo_tags).as_deref(),
    );
    let subject = Subject {
        name: &name,
        repository: None,
        digest: desc.digest.as_str(),
        arch: config["architecture"].as_str().unwrap_or("unknown"),
        created: config["created"].as_str().unwrap_or("1970-01-01T00:00:00Z"),
        inventory: &inventory,
        patches: &patches,
    };
    let doc = match a.format {
        Format::Cyclonedx => {
            let mut doc = cyclonedx(&subject);
            // What rootwasm fixed, as CycloneDX VEX (as in the attached SBOM).
            let records: Vec<_> = patches.iter().map(|p| p.record.clone()).collect();
            let image = rootwasm::attest::ImageSubject {
                name: &name,
                repository: None,
                tag: None,
                arch: config["architecture"].as_str(),
                digests: vec![desc.digest.clone()],
            };
            let created = config["created"]
                .as_str()
                .and_then(rootwasm::rfc3339::parse)
                .unwrap_or(0);
            let vulns = rootwasm::attest::cdx_vex::vulnerabilities(
                &rootwasm::attest::cdx_vex::CdxVexInput {
                    image: &image,
                    records: &records,
                    inventory: &inventory,
                    vulnerabilities: &[],
                    timestamp: rootwasm::attest::Epoch(created),
                    sbom: None,
                },
            )?;
            if !vulns.is_empty() {
                doc["vulnerabilities"] = serde_json::Value::Array(vulns);
            }
            doc
        }
        Format::Spdx => spdx(&subject),
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(ExitCode::SUCCESS)
}
