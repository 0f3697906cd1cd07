//! `rootwasm recipe ...`

use anyhow::Context;
use clap::Subcommand;
use rootwasm::recipe_new::{DistroUpgrade, Installed, Written};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum RecipeCommand {
    /// Build a recipe crate into a wasm component and pin its sha256 in recipe.toml.
    ///
    /// For a shared component (a crate without recipe.toml, like
    /// recipes/dpkg-upgrade), write <dir>/component.wasm and re-pin the
    /// sibling recipes that use it. For a recipes collection (a directory
    /// without Cargo.toml, like recipes/), build every crate in it.
    Build {
        /// The recipe directory (holds Cargo.toml and recipe.toml), or a collection.
        dir: PathBuf,
    },
    /// Write a new recipe.
    #[command(subcommand)]
    New(NewCommand),
    /// Write the distro-upgrade recipes an image needs from Debian repositories.
    ///
    /// Reads each suite's InRelease (or Release and Release.gpg), verified
    /// against --keyring, its Packages indexes checked by the Release's
    /// SHA256, and each newer .deb checked by its index's; then writes one
    /// recipe per outdated binary package into --out (as `recipe new
    /// distro-upgrade` does). A bad signature or hash writes nothing; a
    /// second run over the same input changes nothing.
    Sync(SyncArgs),
}

#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// Image: oci:<dir>[:<tag>] or docker-archive:<file>.
    image: String,
    /// A repository root (holding dists/ and pool/): a directory or an http(s):// URL. Repeatable.
    #[arg(long = "repo", required = true)]
    repos: Vec<String>,
    /// Suites, comma-separated (default: the image's codename, -updates and -security).
    #[arg(long, value_delimiter = ',')]
    dist: Vec<String>,
    /// The recipes directory to write.
    #[arg(long)]
    out: PathBuf,
    /// The OpenPGP keyring the repositories must be signed by.
    #[arg(long, default_value = "/usr/share/keyrings/debian-archive-keyring.gpg")]
    keyring: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Replace existing, different recipes with the same id.
    #[arg(long)]
    force: bool,
    /// Also write recipes for upgrades whose changelog names no
    /// vulnerability (tzdata, say): plain updates that claim no fix. By
    /// default they are refused, since rootwasm changes only what a
    /// vulnerability affects.
    #[arg(long)]
    all_updates: bool,
    /// Advisories (an OSV record, a Trivy or Grype JSON report, or a
    /// directory of them) that give each fix its severity, aliases and
    /// publication date. Repeatable.
    #[arg(long = "advisories", value_name = "PATH")]
    advisories: Vec<PathBuf>,
    #[command(flatten)]
    limits: super::limits::LayerLimitArgs,
}

#[derive(Subcommand, Debug)]
pub enum NewCommand {
    /// A distro upgrade to the distribution's fixed .deb.
    ///
    /// The target and affected range come from the .deb, the CVE ids from its
    /// changelog entries newer than the installed version, and the artifact
    /// is copied beside the recipe.toml and pinned by sha256.
    DistroUpgrade {
        /// The fixed package. Repeat it for the binary packages of one
        /// source version: one recipe installs them together.
        #[arg(long, required = true)]
        deb: Vec<PathBuf>,
        /// The installed version, or its .deb (which also lets the recipe
        /// remove files the new version dropped): none, or one per --deb,
        /// in the same order.
        #[arg(long, value_name = "OLD.deb|VERSION")]
        installed: Vec<String>,
        /// Vulnerability ids to record instead of the changelog's (repeatable).
        #[arg(long = "fix", value_name = "ID")]
        fixes: Vec<String>,
        /// The recipes directory: the recipe is written to <DIR>/<id>/, and
        /// <DIR>/dpkg-upgrade/component.wasm is the component it uses
        /// (written there from this binary when missing).
        #[arg(long, default_value = "recipes")]
        recipes: PathBuf,
        /// Read the changelog from this sibling .deb (same source and
        /// version) when the package ships none.
        #[arg(long, value_name = "SIBLING.deb")]
        changelog_from: Option<PathBuf>,
        /// Replace an existing, different recipe with the same id.
        #[arg(long)]
        force: bool,
        /// Write it even when the changelog names no vulnerability: a plain
        /// update that claims no fix.
        #[arg(long)]
        plain_update: bool,
        /// Advisories (an OSV record, a Trivy or Grype JSON report, or a
        /// directory of them) that give each fix its severity, aliases and
        /// publication date. Repeatable.
        #[arg(long = "advisories", value_name = "PATH")]
        advisories: Vec<PathBuf>,
    },
}

/// Every advisory in the files and directories given.
fn load_advisories(
    paths: &[PathBuf],
) -> anyhow::Result<std::sync::Arc<[rootwasm::advisory::Advisory]>> {
    let mut all = Vec::new();
    for p in paths {
        all.extend(rootwasm::advisory::load(p)?);
    }
    Ok(all.into())
}

pub fn run(c: RecipeCommand) -> anyhow::Result<ExitCode> {
    match c {
        RecipeCommand::Sync(a) => sync(a),
        RecipeCommand::Build { dir } if !dir.join("Cargo.toml").exists() => {
            // A recipes collection: shared components first (they re-pin
            // their users), then every recipe crate.
            let mut crates: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("Cargo.toml").is_file())
                .collect();
            crates.sort_by_key(|p| (p.join("recipe.toml").exists(), p.clone()));
            if crates.is_empty() {
                anyhow::bail!(
                    "{} holds no recipe crate (a directory with Cargo.toml)",
                    dir.display()
                );
            }
            for c in crates {
                run(RecipeCommand::Build { dir: c })?;
            }
            Ok(ExitCode::SUCCESS)
        }
        RecipeCommand::Build { dir } => {
            let sha = rootwasm::recipe_build::build_recipe(&dir)
                .with_context(|| format!("building recipe {}", dir.display()))?;
            if !dir.join("recipe.toml").exists() {
                println!(
                    "{}: shared component {} sha256 {sha}",
                    dir.display(),
                    rootwasm::recipe_build::SHARED_COMPONENT
                );
                return Ok(ExitCode::SUCCESS);
            }
            // Loading it back checks that the manifest is valid and the pin matches.
            let recipe = rootwasm::recipe::Recipe::load(&dir)?;
            println!(
                "{}: component {} sha256 {sha}",
                recipe.manifest.id, recipe.manifest.component.path
            );
            Ok(ExitCode::SUCCESS)
        }
        RecipeCommand::New(n) => new(n),
    }
}

fn new(n: NewCommand) -> anyhow::Result<ExitCode> {
    let NewCommand::DistroUpgrade {
        deb,
        installed,
        fixes,
        recipes,
        changelog_from,
        force,
        plain_update,
        advisories,
    } = n;
    if !installed.is_empty() && installed.len() != deb.len() {
        anyhow::bail!(
            "{} --installed for {} --deb: give none, or one per --deb in the same order",
            installed.len(),
            deb.len()
        );
    }
    let installed = |i: usize| {
        installed.get(i).map(|s| {
            if s.ends_with(".deb") {
                Installed::Deb(s.into())
            } else {
                Installed::Version(s.clone())
            }
        })
    };
    let changelog = changelog_from
        .map(|p| rootwasm::recipe_new::changelog_of(&p))
        .transpose()?;
    let advisories = load_advisories(&advisories)?;
    let group: Vec<DistroUpgrade> = (deb.into_iter().enumerate())
        .map(|(i, deb)| DistroUpgrade {
            deb,
            installed: installed(i),
            fixes: fixes.clone(),
            recipes_dir: recipes.clone(),
            changelog: changelog.clone(),
            installed_changelog: None,
            force,
            plain_update,
            advisories: advisories.clone(),
        })
        .collect();
    let out = rootwasm::recipe_new::distro_upgrade_group(&group)?;
    let dir = out.dir;
    // Loading it back checks the manifest and every pin.
    let recipe = rootwasm::recipe::Recipe::load(&dir)
        .with_context(|| format!("checking the new recipe in {}", dir.display()))?;
    let m = &recipe.manifest;
    let verb = match out.written {
        Written::New => "wrote",
        Written::Replaced => "replaced",
        Written::Unchanged => "unchanged",
    };
    println!("{verb} {}", dir.join("recipe.toml").display());
    let ids: Vec<&str> = m.fixes.iter().map(|f| f.id.as_str()).collect();
    let targets: Vec<String> = (m.target.packages())
        .map(|(p, r)| format!("{p} {r}"))
        .collect();
    println!(
        "  {}: {}",
        targets.join(", "),
        if ids.is_empty() {
            "a plain update, fixes nothing named".to_owned()
        } else {
            format!("fixes {}", ids.join(", "))
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn sync(a: SyncArgs) -> anyhow::Result<ExitCode> {
    use super::text::safe;
    let input = rootwasm::image::Reference::parse(&a.image)?;
    let src =
        rootwasm::image::source::open(&input).with_context(|| format!("opening {}", a.image))?;
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let read = rootwasm::image::view::ReadOptions {
        limits: a.limits.limits(),
        cache: None,
        progress: &progress,
    };
    let report = rootwasm::sync::sync(
        &src,
        &rootwasm::sync::SyncOptions {
            repos: a.repos,
            dists: a.dist,
            out: a.out,
            keyring: a.keyring,
            force: a.force,
            all_updates: a.all_updates,
            advisories: load_advisories(&a.advisories)?,
            read: &read,
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    for s in &report.suites {
        println!("read {}", safe(s));
    }
    for p in &report.packages {
        let what = format!(
            "{}:{} {} -> {} ({})",
            safe(&p.package),
            safe(&p.architecture),
            safe(&p.installed),
            safe(&p.version),
            safe(&p.source)
        );
        match &p.reason {
            Some(r) => println!("refused   {what}: {}", safe(r)),
            None => println!(
                "{:<9} {} {what}: {}",
                p.status,
                safe(p.recipe.as_deref().unwrap_or_default()),
                if p.fixes.is_empty() {
                    "plain update, no fix claimed".to_owned()
                } else {
                    safe(&p.fixes.join(", "))
                }
            ),
        }
    }
    let count = |s: &str| report.packages.iter().filter(|p| p.status == s).count();
    let recipes: std::collections::BTreeSet<_> = report
        .packages
        .iter()
        .filter_map(|p| p.recipe.as_deref())
        .collect();
    println!(
        "{} new, {} unchanged, {} replaced, {} refused (packages); {} recipes",
        count("new"),
        count("unchanged"),
        count("replaced"),
        count("refused"),
        recipes.len()
    );
    Ok(ExitCode::SUCCESS)
}
