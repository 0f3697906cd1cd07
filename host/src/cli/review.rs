//! Review verbs: `attestation`, `history`, `diff`, `replay`, `verify`.
//! They read what `apply` attached to the image and recompute from bytes.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rootwasm::image::attach::*;
use rootwasm::image::layer::LayerLimits;
use rootwasm::image::view::{Capture, ReadOptions, read_layers};
use rootwasm::record::records;
use rootwasm::review::{Patched, open};
use rootwasm::rootfs::{RootPath, RootView};
use std::path::PathBuf;
use std::process::ExitCode;

/// The image and platform every review verb takes.
#[derive(Args, Debug)]
pub struct Target {
    /// A patched image: oci:<dir>[:<tag>].
    image: String,
    /// For a multi-platform image, which platform (e.g. linux/arm64).
    #[arg(long)]
    platform: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    /// CycloneDX 1.6 SBOM.
    Sbom,
    /// SPDX 2.3 SBOM.
    Spdx,
    /// OpenVEX 0.2.0.
    Vex,
    /// DSSE envelope of the in-toto provenance statement.
    Provenance,
    /// The journal (rootwasm.journal/v1).
    Journal,
}

#[derive(Args, Debug)]
pub struct AttestationArgs {
    #[command(flatten)]
    target: Target,
    /// Which document.
    #[arg(value_enum)]
    kind: Kind,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    target: Target,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    target: Target,
    /// The signer's public key (SPKI PEM) [default: the local key's public half].
    #[arg(long)]
    key: Option<PathBuf>,
    /// Run the recipes again on the base layers and require the same journal.
    #[arg(long, requires = "recipes")]
    rerun: bool,
    /// The recipes directory, for --rerun.
    #[arg(long)]
    recipes: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn opened(t: &Target) -> anyhow::Result<Patched> {
    Ok(open(&t.image, t.platform.as_deref())?)
}

fn progress(m: &str) {
    eprintln!("rootwasm: {m}");
}

fn read_options() -> ReadOptions<'static> {
    ReadOptions {
        limits: LayerLimits::default(),
        cache: None,
        progress: &progress,
    }
}

pub fn attestation(a: AttestationArgs) -> anyhow::Result<ExitCode> {
    let p = opened(&a.target)?;
    let t = match a.kind {
        Kind::Sbom => ARTIFACT_CYCLONEDX,
        Kind::Spdx => ARTIFACT_SPDX,
        Kind::Vex => ARTIFACT_OPENVEX,
        Kind::Provenance => ARTIFACT_INTOTO,
        Kind::Journal => ARTIFACT_JOURNAL,
    };
    let bytes = p.file(t)?;
    use std::io::Write;
    std::io::stdout().write_all(&bytes)?;
    if !bytes.ends_with(b"\n") {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// The signed statement's payload, unverified (`verify` checks it).
fn statement(p: &Patched) -> anyhow::Result<serde_json::Value> {
    let env = rootwasm::attest::dsse::Envelope::from_json(&p.file(ARTIFACT_INTOTO)?)?;
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD.decode(&env.payload)?;
    Ok(serde_json::from_slice(&payload)?)
}

pub fn history(a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let p = opened(&a.target)?;
    let recs = records(p.docs.manifest.annotations.as_ref());
    let st = statement(&p).ok();
    let when = st
        .as_ref()
        .and_then(|s| {
            s["predicate"]["runDetails"]["metadata"]["finishedOn"]
                .as_str()
                .map(str::to_owned)
        })
        .or_else(|| p.docs.config["created"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let deps = st
        .as_ref()
        .and_then(|s| {
            s["predicate"]["buildDefinition"]["resolvedDependencies"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default();
    let runs = st
        .as_ref()
        .and_then(|s| {
            s["predicate"]["runDetails"]["byproducts"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for r in &recs {
        let component = deps
            .iter()
            .find(|d| {
                d["name"].as_str().is_some_and(|n| {
                    n.starts_with(&format!("recipes/{}/", r.recipe)) && n.ends_with(".wasm")
                })
            })
            .and_then(|d| d["digest"]["sha256"].as_str())
            .unwrap_or("-")
            .to_owned();
        let result = runs
            .iter()
            .find(|b| {
                b["annotations"]["recipe"] == r.recipe.as_str()
                    && b["annotations"]["platform"] == p.platform.as_str()
            })
            .and_then(|b| b["annotations"]["result"].as_str())
            .unwrap_or("-")
            .to_owned();
        rows.push(serde_json::json!({
            "recipe": r.recipe,
            "component_sha256": component,
            "type": r.patch_type,
            "package": r.package,
            "version_before": r.version_before,
            "version_after": r.version_after,
            "fixes": r.fixes,
            "when": when,
            "result": result,
            "origin": r.origin,
        }));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({}), patched {when}", a.target.image, p.platform);
    for (r, row) in recs.iter().zip(&rows) {
        let versions = if r.version_before == r.version_after {
            format!("{} (kept)", r.version_before)
        } else {
            format!("{} -> {}", r.version_before, r.version_after)
        };
        println!(
            "\n{}  [{}]",
            r.recipe,
            row["type"].as_str().unwrap_or_default()
        );
        println!("  package   {} {versions}", r.package);
        println!("  fixes     {}", r.fixes.join(", "));
        println!(
            "  component sha256:{}",
            row["component_sha256"].as_str().unwrap_or("-")
        );
        println!(
            "  result    {} (check before and after apply)",
            row["result"].as_str().unwrap_or("-")
        );
        if let Some(o) = &r.origin {
            println!("  origin    {o}");
        }
    }
    if recs.is_empty() {
        println!("no rootwasm patches recorded");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(t: Target) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let p = opened(&t)?;
    let mut out = std::io::stdout().lock();
    let (journal, blobs) = p.journal()?;
    // The base: every layer below the patch layer, with the changed files' contents.
    let m = &p.docs.manifest;
    let n = m.layers.len().saturating_sub(1);
    let paths: Vec<String> = journal
        .entries
        .iter()
        .map(|e| rootwasm_glob::escape(&e.path))
        .collect();
    let capture = Capture::new(paths.iter().map(String::as_str))?;
    let mut base = rootwasm::image::merge::Merged::default();
    read_layers(
        p.source.store.as_ref(),
        &m.layers[..n],
        &p.docs.diff_ids[..n],
        0,
        &capture,
        &mut base,
        &read_options(),
    )?;
    // One section per path, its final state against the base.
    let mut last: std::collections::BTreeMap<&str, &rootwasm::journal::Entry> = Default::default();
    for e in &journal.entries {
        last.insert(&e.path, e);
    }
    for (path, e) in last {
        let rp = RootPath::lexical(path)?;
        let before = base.read(&rp).ok();
        let before_meta = base.lstat(&rp).ok().flatten();
        match &e.after {
            None => writeln!(out, "removed {path} [{}]", e.recipe)?,
            Some(st) => {
                let after = st
                    .sha256
                    .as_ref()
                    .and_then(|s| blobs.get(s))
                    .map(|b| b.to_vec());
                let text = |b: &Option<Vec<u8>>| {
                    b.as_ref().and_then(|b| String::from_utf8(b.clone()).ok())
                };
                match (text(&before), text(&after)) {
                    (Some(b), Some(a)) if b != a => {
                        let patch = diffy::create_patch(&b, &a).to_string();
                        let hunks = patch
                            .split_once("\n+++ ")
                            .and_then(|(_, r)| r.split_once('\n'))
                            .map_or("", |(_, h)| h);
                        writeln!(out, "--- a{path}\n+++ b{path}\n{hunks}")?;
                    }
                    (None, Some(a)) if before.is_none() => {
                        writeln!(
                            out,
                            "new file {path} [{}], mode {:o}, {} lines",
                            e.recipe,
                            st.mode,
                            a.lines().count()
                        )?;
                    }
                    _ => {
                        let sha = |b: &Option<Vec<u8>>| {
                            b.as_ref()
                                .map(|b| rootwasm::journal::Sha256Hex::of(b).0)
                                .unwrap_or_else(|| "-".into())
                        };
                        writeln!(
                            out,
                            "{path} [{}]: {:?}, size {} -> {}, sha256 {} -> {}, mode {} -> {:o}{}",
                            e.recipe,
                            st.kind,
                            before.as_ref().map_or("-".into(), |b| b.len().to_string()),
                            st.size.map_or("-".into(), |s| s.to_string()),
                            sha(&before),
                            st.sha256.as_ref().map_or("-".into(), |s| s.0.clone()),
                            before_meta.map_or("-".into(), |m| format!("{:o}", m.mode)),
                            st.mode,
                            st.target
                                .as_ref()
                                .map(|t| format!(", -> {t}"))
                                .unwrap_or_default(),
                        )?;
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn replay(t: Target) -> anyhow::Result<ExitCode> {
    let p = opened(&t)?;
    let r = p.replay(&read_options())?;
    println!(
        "recorded patch layer {} (diff_id {})",
        r.recorded, r.recorded_diff_id
    );
    println!(
        "rebuilt from journal {} (diff_id {})",
        r.rebuilt, r.rebuilt_diff_id
    );
    if r.matches() {
        println!("ok: the journal rebuilds the patch layer byte for byte");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("MISMATCH: the patch layer is not what the journal records");
        Ok(ExitCode::from(1))
    }
}

pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let p = opened(&a.target)?;
    let key_path = match &a.key {
        Some(k) => k.clone(),
        None => {
            let mut s = super::key::default_path()?.into_os_string();
            s.push(".pub.pem");
            s.into()
        }
    };
    let key = rootwasm::attest::key::load_public(&key_path)
        .with_context(|| format!("loading the public key {} (pass --key)", key_path.display()))?;
    let mut checks = p.verify(&key, &read_options());
    if a.rerun {
        let dir = a.recipes.as_ref().expect("clap requires --recipes");
        checks.push(rerun(p, dir)?);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            println!(
                "{} {:<16} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
        }
    }
    Ok(if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Run the recorded recipes again on the base layers and compare journals.
fn rerun(p: Patched, dir: &std::path::Path) -> anyhow::Result<rootwasm::review::Check> {
    use rootwasm::apply::{ApplyOptions, OnFailure, apply};
    let ids: Vec<String> = records(p.docs.manifest.annotations.as_ref())
        .into_iter()
        .map(|r| r.recipe)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        bail!("the image records no rootwasm patches to rerun");
    }
    let recipes = super::apply::load_recipes(dir, &ids)?;
    let (recorded, _) = p.journal()?;
    let recorded_layer = p.docs.manifest.layers.last().map(|l| l.digest.clone());
    let source = p.into_base();
    let cache =
        rootwasm::sandbox::ComponentCache::new(rootwasm::sandbox::ComponentCache::default_dir());
    let sandbox = rootwasm::sandbox::Sandbox::new(rootwasm::sandbox::SandboxOptions {
        cache,
        ceilings: Default::default(),
    })?;
    let progress = |m: &str| eprintln!("rootwasm: {m}");
    let applied = apply(
        &sandbox,
        &source,
        &ApplyOptions {
            recipes: &recipes,
            on_failure: OnFailure::Stop,
            source_date_epoch: None,
            layer_limits: LayerLimits::default(),
            input_name: String::new(),
            progress: &progress,
            layer_cache: None,
        },
    )?;
    let again = &applied.platforms[0].journal;
    let names = ids.join(", ");
    // An image patched twice journals what the first patch carried; a fresh
    // run has nothing to carry, so there the rebuilt layer is what must match.
    if recorded
        .entries
        .iter()
        .any(|e| e.recipe == rootwasm::apply::CARRIED)
    {
        use rootwasm::image::sink::Blob;
        let after = &applied.platforms[0].manifest_after;
        let layer = match applied.output.blobs.get(after) {
            Some((_, Blob::New(b))) => {
                serde_json::from_slice::<rootwasm::image::model::Manifest>(b)
                    .ok()
                    .and_then(|m| m.layers.last().map(|l| l.digest.clone()))
            }
            _ => None,
        };
        let ok = layer.is_some() && layer == recorded_layer;
        return Ok(rootwasm::review::Check {
            name: "rerun".into(),
            ok,
            detail: if ok {
                format!(
                    "running {names} again on the base rebuilds the same patch layer (the image was patched more than once)"
                )
            } else {
                format!(
                    "running {names} again on the base gives patch layer {layer:?}, the image has {recorded_layer:?}"
                )
            },
        });
    }
    let same = again.to_json() == recorded.to_json();
    Ok(rootwasm::review::Check {
        name: "rerun".into(),
        ok: same,
        detail: if same {
            format!("running {names} again gives the same journal")
        } else {
            format!(
                "running {names} again gives a different journal ({} entries, recorded {})",
                again.entries.len(),
                recorded.entries.len()
            )
        },
    })
}
