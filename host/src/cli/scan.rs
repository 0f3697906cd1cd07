//! `rootwasm scan <IMAGE> --recipes <DIR>`

use anyhow::Context;
use clap::Args;
use rootwasm::image::cache::LayerCache;
use rootwasm::image::view::ReadOptions;
use rootwasm::image::{Reference, source};
use rootwasm::sandbox::{ComponentCache, Sandbox, SandboxOptions};
use std::path::PathBuf;
use std::process::ExitCode;

use super::text::{Keep, escape_str, safe};

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Image: oci:<dir>[:<tag>], docker-archive:<file> or docker://<registry>/<repo>:<tag>.
    image: String,
    /// Directory of recipes (one subdirectory each, with recipe.toml).
    #[arg(long)]
    recipes: PathBuf,
    /// Advisories: an OSV record, a Trivy or Grype JSON report, or a directory of them. Repeatable.
    #[arg(long = "advisories")]
    advisories: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// SLA policy (TOML: days per severity, e.g. `critical = 7`) [default: 7/14/60/180, unrated 7].
    #[arg(long = "sla")]
    sla: Option<PathBuf>,
    /// "Today" for SLA due dates, RFC 3339 [default: the clock].
    #[arg(long)]
    now: Option<String>,
    /// Where compiled components and layer indexes are cached.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Do not use or fill the layer index cache.
    #[arg(long)]
    no_layer_cache: bool,
    #[command(flatten)]
    limits: super::limits::LayerLimitArgs,
    #[command(flatten)]
    ceilings: super::limits::CeilingArgs,
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
}

pub fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    let input = Reference::parse(&a.image)?;
    let recipes = super::apply::load_recipes(&a.recipes, &[])?;
    let cache_root = a
        .cache_dir
        .clone()
        .or_else(ComponentCache::default_location);
    let sandbox = Sandbox::new(SandboxOptions {
        cache: ComponentCache::at(cache_root.clone()),
        ceilings: a.ceilings.ceilings(),
    })?;
    let src = source::open_full(&input, &Default::default(), &a.registry.options())
        .with_context(|| format!("opening {}", a.image))?;
    let layer_cache = cache_root
        .filter(|_| !a.no_layer_cache)
        .map(|r| LayerCache::new(r.join("layer-index")));
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let read = ReadOptions {
        limits: a.limits.limits(),
        cache: layer_cache.as_ref(),
        progress: &progress,
    };
    let mut advisories = Vec::new();
    for p in &a.advisories {
        advisories.extend(rootwasm::advisory::load(p)?);
    }
    let clock = rootwasm::sla::Clock {
        policy: match &a.sla {
            Some(p) => rootwasm::sla::Policy::load(p)?,
            None => Default::default(),
        },
        today: rootwasm::sla::today(a.now.as_deref())?,
    };
    let platforms = rootwasm::scan::scan(&sandbox, &src, &recipes, &advisories, &read, &clock)
        .with_context(|| format!("scanning {}", a.image))?;
    for p in &platforms {
        for w in &p.warnings {
            eprintln!(
                "rootwasm: warning: {}: {}",
                safe(&p.platform.to_string()),
                escape_str(w, Keep::Lines)
            );
        }
        for w in &p.inventory.warnings {
            eprintln!(
                "rootwasm: warning: {}: {}",
                safe(&p.platform.to_string()),
                escape_str(&w.to_string(), Keep::Lines)
            );
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "image": a.image, "platforms": platforms })
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &platforms {
        print_platform(p);
    }
    Ok(ExitCode::SUCCESS)
}

/// One platform's inventory and findings, every string from the image escaped.
fn print_platform(p: &rootwasm::scan::PlatformScan) {
    let os = p
        .inventory
        .os
        .as_ref()
        .map_or("unknown OS".to_owned(), |o| safe(&o.pretty_name));
    println!(
        "{} — {os} — {} packages",
        safe(&p.platform.to_string()),
        p.inventory.packages.len()
    );
    for r in &p.inventory.runtimes {
        let by = r
            .package
            .as_deref()
            .map(|p| format!(", from package {}", safe(p)))
            .unwrap_or_default();
        println!(
            "  runtime {} {} ({}{by})",
            safe(&r.name.to_string()),
            safe(&r.version.to_string()),
            safe(&r.location.to_string())
        );
    }
    // An interpreter of its own is a `generic` package, shown above.
    let listed = (p.inventory.packages.iter())
        .filter(|pkg| pkg.ecosystem != rootwasm::ecosystem::Ecosystem::Generic);
    for pkg in listed {
        println!(
            "  {:<6} {:<32} {}",
            safe(&pkg.ecosystem.to_string()),
            safe(&pkg.name),
            safe(&pkg.version)
        );
    }
    if p.findings.is_empty() {
        println!("  no recipe fixes a vulnerability in a package installed here");
    } else {
        println!(
            "\n  {:<16} {:<14} {:<18} {:<28} {:<16} {:<9} {:<16} DUE",
            "VULNERABILITY", "PACKAGE", "VERSION", "RECIPE", "STATUS", "SEVERITY", "SLA"
        );
        for f in &p.findings {
            println!(
                "  {:<16} {:<14} {:<18} {:<28} {:<16} {:<9} {:<16} {}",
                safe(&f.vulnerability.to_string()),
                safe(&f.package.to_string()),
                safe(&f.version.to_string()),
                safe(&f.recipe.to_string()),
                safe(&f.status.to_string()),
                serde_json::to_value(f.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                f.sla.label(),
                f.sla.due().unwrap_or("-")
            );
        }
    }
}
