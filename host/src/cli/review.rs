//! Review verbs: `attestation`, `history`, `diff`, `replay`, `verify`.
//! They read what `apply` attached to the image and recompute from bytes.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rootwasm::image::attach::*;
use rootwasm::image::layer::LayerLimits;
use rootwasm::image::view::ReadOptions;
use rootwasm::record::records;
use rootwasm::review::{PatchedImage, open};
use rootwasm::rootfs::{RootPath, RootView};
use std::path::PathBuf;
use std::process::ExitCode;

use super::text::{Keep, escape_bytes, escape_str, safe};

/// The image and platform every review verb takes.
#[derive(Args, Debug)]
pub struct Target {
    /// A patched image: oci:<dir>[:<tag>] or docker://<registry>/<repo>:<tag>.
    pub(super) image: String,
    /// For a multi-platform image, which platform (e.g. linux/arm64).
    #[arg(long)]
    pub(super) platform: Option<String>,
    #[command(flatten)]
    pub(super) registry: super::registry::RegistryArgs,
    #[command(flatten)]
    pub(super) limits: super::limits::LayerLimitArgs,
}

/// The layer limits of this command line, set when its image is opened:
/// one process runs one command, and every check below reads layers.
static LIMITS: std::sync::OnceLock<LayerLimits> = std::sync::OnceLock::new();

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    /// CycloneDX 1.6 SBOM.
    Sbom,
    /// SPDX 2.3 SBOM.
    Spdx,
    /// OpenVEX 0.2.0.
    Vex,
    /// CycloneDX 1.6 VEX whose BOM-Links point into the CycloneDX SBOM
    /// (`trivy sbom <sbom> --vex <this>`).
    CdxVex,
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
    /// With `vex`: add an `affected` statement, with an action statement, for
    /// every vulnerability a scan finds open (needs --recipes). The result is
    /// derived from the attached document, not the signed one.
    #[arg(long, requires = "recipes")]
    vex_all: bool,
    /// Recipes to scan with (for --vex-all).
    #[arg(long)]
    recipes: Option<PathBuf>,
    /// Advisories to scan with (for --vex-all). Repeatable.
    #[arg(long = "advisories")]
    advisories: Vec<PathBuf>,
    /// "Today" for SLA due dates (for --vex-all), RFC 3339.
    #[arg(long)]
    now: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    trust: Trust,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// How `history` and `diff` check what they show.
#[derive(Args, Debug)]
pub struct Trust {
    /// The signer's public key (SPKI PEM) [default: the local key's public half].
    #[arg(long)]
    key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    trust: Trust,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    trust: Trust,
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

pub(super) fn opened(t: &Target) -> anyhow::Result<PatchedImage> {
    let _ = LIMITS.set(t.limits.limits());
    Ok(open(
        &t.image,
        t.platform.as_deref(),
        &t.registry.options(),
    )?)
}

/// The public key `verify`, `history` and `diff` check the signature with.
pub(super) fn public_key(t: &Trust) -> anyhow::Result<rootwasm::attest::key::PublicKey> {
    let key_path = match &t.key {
        Some(k) => k.clone(),
        None => {
            let mut s = super::key::default_path()?.into_os_string();
            s.push(".pub.pem");
            s.into()
        }
    };
    rootwasm::attest::key::load_public(&key_path)
        .with_context(|| format!("loading the public key {} (pass --key)", key_path.display()))
}

/// Run `verify`'s checks before showing anything. If one fails, say so on
/// stderr before and after the output, and the verb exits 1: what it shows
/// comes from records that did not verify.
fn verified_first(p: &PatchedImage, t: &Trust) -> ExitCode {
    let failed: Vec<String> = match public_key(t) {
        Err(e) => vec![format!(
            "key: {}",
            escape_str(&format!("{e:#}"), Keep::Nothing)
        )],
        Ok(key) => checks(p, &key)
            .into_iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", safe(&c.name), safe(&c.detail)))
            .collect(),
    };
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "rootwasm: WARNING: this image's evidence did NOT verify; what follows is UNVERIFIED and may be forged:"
    );
    for f in &failed {
        eprintln!("rootwasm:   FAIL {f}");
    }
    ExitCode::from(1)
}

/// `PatchedImage::verify`'s checks, and that the envelope holds only the one
/// signature apply made: an added one changes no signed claim, but a reader
/// that trusts "any signature verifies" should not meet one we did not make.
pub(super) fn checks(
    p: &PatchedImage,
    key: &rootwasm::attest::key::PublicKey,
) -> Vec<rootwasm::review::Check> {
    let mut checks = p.verify(key, &read_options());
    if let Ok(env) = p
        .file(ARTIFACT_INTOTO)
        .map_err(|e| e.to_string())
        .and_then(|b| rootwasm::attest::dsse::Envelope::from_json(&b).map_err(|e| e.to_string()))
    {
        let n = env.signatures.len();
        checks.push(rootwasm::review::Check {
            name: "signatures".into(),
            ok: n == 1,
            detail: if n == 1 {
                "the envelope holds exactly one signature".into()
            } else {
                format!("the envelope holds {n} signatures; rootwasm makes exactly one")
            },
        });
    }
    checks
}

fn unverified_footer(code: ExitCode) -> ExitCode {
    if code != ExitCode::SUCCESS {
        eprintln!("rootwasm: WARNING: the output above is UNVERIFIED (see `rootwasm verify`).");
    }
    code
}

fn progress(m: &str) {
    eprintln!("rootwasm: {m}");
}

fn read_options() -> ReadOptions<'static> {
    ReadOptions {
        limits: LIMITS.get().copied().unwrap_or_default(),
        cache: None,
        progress: &progress,
    }
}

pub fn attestation(a: AttestationArgs) -> anyhow::Result<ExitCode> {
    let p = opened(&a.target)?;
    let mut bytes = match a.kind {
        Kind::Sbom => p.file(ARTIFACT_CYCLONEDX)?,
        Kind::CdxVex => p.file_titled(ARTIFACT_CYCLONEDX, CDX_VEX_TITLE)?,
        Kind::Spdx => p.file(ARTIFACT_SPDX)?,
        Kind::Vex => p.file(ARTIFACT_OPENVEX)?,
        Kind::Provenance => p.file(ARTIFACT_INTOTO)?,
        Kind::Journal => p.file(ARTIFACT_JOURNAL)?,
    };
    if let (true, Kind::Vex, Some(recipes)) = (a.vex_all, a.kind, &a.recipes) {
        let clock = rootwasm::sla::Clock {
            policy: Default::default(),
            today: rootwasm::sla::today(a.now.as_deref())?,
        };
        let scan =
            super::explore::scan(&a.target.image, recipes, &a.advisories, &p.platform, &clock)?;
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes)?;
        rootwasm::sla::add_open_statements(&mut doc, &scan.findings, &scan.inventory);
        bytes = rootwasm::attest::to_bytes(&doc);
    } else if a.vex_all {
        bail!("--vex-all goes with `vex`");
    }
    use std::io::{IsTerminal, Write};
    let mut out = std::io::stdout();
    // Raw for a pipe (jq, a file): exactly the bytes whose sha256 the
    // provenance signed, so nothing is added. Escaped for a terminal, which
    // would act on escape sequences a forged document carries.
    if out.is_terminal() {
        out.write_all(escape_bytes(&bytes, Keep::Lines).as_bytes())?;
        if !bytes.ends_with(b"\n") {
            println!();
        }
    } else {
        out.write_all(&bytes)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The signed statement's payload, unverified (`verify` checks it).
fn statement(p: &PatchedImage) -> anyhow::Result<serde_json::Value> {
    let env = rootwasm::attest::dsse::Envelope::from_json(&p.file(ARTIFACT_INTOTO)?)?;
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD.decode(&env.payload)?;
    Ok(serde_json::from_slice(&payload)?)
}

pub fn history(a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let p = opened(&a.target)?;
    let code = verified_first(&p, &a.trust);
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
    let rows = history_rows(&p, &recs, st.as_ref(), &when);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(unverified_footer(code));
    }
    println!(
        "{} ({}), patched {}",
        safe(&a.target.image),
        safe(&p.platform.to_string()),
        safe(&when)
    );
    print_history(&recs, &rows);
    if recs.is_empty() {
        println!("no rootwasm patches recorded");
    }
    Ok(unverified_footer(code))
}

pub fn diff(a: DiffArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let p = opened(&a.target)?;
    let code = verified_first(&p, &a.trust);
    let mut out = std::io::stdout().lock();
    let (journal, blobs) = p.journal()?;
    // The base: every layer below the patch layer, with the changed files' contents.
    let (_, base) = p.journal_base(&journal, &read_options())?;
    // One section per path, its final state against the base.
    let mut last: std::collections::BTreeMap<&str, &rootwasm::journal::Entry> = Default::default();
    for e in &journal.entries {
        last.insert(&e.path, e);
    }
    for (path, e) in last {
        write_change(&mut out, path, e, &base, &blobs)?;
    }
    out.flush()?;
    drop(out);
    Ok(unverified_footer(code))
}

/// Most lines a text diff compares once the common head and tail are set
/// aside. Line diffs cost up to the product of the two sides; past this the
/// file is summarised instead, so `diff` stays fast whatever the journal holds.
const DIFF_LINE_BUDGET: usize = 4000;

/// A unified diff of `before` to `after` under the name `shown` (already
/// escaped), every content line escaped for the terminal; or a summary when
/// the changed region exceeds [`DIFF_LINE_BUDGET`].
fn text_diff(shown: &str, before: &str, after: &str) -> String {
    let b: Vec<&str> = before.split_inclusive('\n').collect();
    let a: Vec<&str> = after.split_inclusive('\n').collect();
    let head = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let tail = b[head..]
        .iter()
        .rev()
        .zip(a[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let changed = (b.len() - head - tail) + (a.len() - head - tail);
    if changed > DIFF_LINE_BUDGET {
        return format!(
            "--- a{shown}\n+++ b{shown}\n@@ {} changed lines ({} -> {} lines; over the {DIFF_LINE_BUDGET}-line diff budget), sha256 {} -> {} @@\n",
            changed,
            b.len(),
            a.len(),
            rootwasm::journal::Sha256Hex::of(before.as_bytes()),
            rootwasm::journal::Sha256Hex::of(after.as_bytes()),
        );
    }
    let patch = diffy::create_patch(before, after).to_string();
    let hunks = patch
        .split_once("\n+++ ")
        .and_then(|(_, r)| r.split_once('\n'))
        .map_or("", |(_, h)| h);
    let mut out = format!("--- a{shown}\n+++ b{shown}\n");
    for line in hunks.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(&escape_str(body, Keep::Tabs));
        out.push_str(nl);
    }
    out.push('\n');
    out
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
    let key = public_key(&a.trust)?;
    let mut checks = checks(&p, &key);
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
                safe(&c.name),
                safe(&c.detail)
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
fn rerun(p: PatchedImage, dir: &std::path::Path) -> anyhow::Result<rootwasm::review::Check> {
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
    let cache = rootwasm::sandbox::ComponentCache::at(None);
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
            companions: &[],
            on_failure: OnFailure::Stop,
            source_date_epoch: None,
            layer_limits: LIMITS.get().copied().unwrap_or_default(),
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
        return Ok(same_layer(&applied, recorded_layer, &names));
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

/// One JSON row per patch record, with its component and result from the
/// provenance.
fn history_rows(
    p: &PatchedImage,
    recs: &[rootwasm::record::PatchRecord],
    st: Option<&serde_json::Value>,
    when: &str,
) -> Vec<serde_json::Value> {
    let deps = st
        .and_then(|s| {
            s["predicate"]["buildDefinition"]["resolvedDependencies"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default();
    let runs = st
        .and_then(|s| {
            s["predicate"]["runDetails"]["byproducts"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for r in recs {
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
    rows
}

fn print_history(recs: &[rootwasm::record::PatchRecord], rows: &[serde_json::Value]) {
    for (r, row) in recs.iter().zip(rows) {
        let versions = if r.version_before == r.version_after {
            format!("{} (kept)", safe(&r.version_before))
        } else {
            format!("{} -> {}", safe(&r.version_before), safe(&r.version_after))
        };
        println!(
            "\n{}  [{}]",
            safe(&r.recipe),
            safe(row["type"].as_str().unwrap_or_default())
        );
        println!("  package   {} {versions}", safe(&r.package));
        println!("  fixes     {}", safe(&r.fixes.join(", ")));
        println!(
            "  component sha256:{}",
            safe(row["component_sha256"].as_str().unwrap_or("-"))
        );
        println!(
            "  result    {} (check before and after apply)",
            safe(row["result"].as_str().unwrap_or("-"))
        );
        if let Some(o) = &r.origin {
            println!("  origin    {}", safe(&o.to_string()));
        }
    }
}

/// One path's final state against the base: a unified diff for text,
/// size, hash and mode otherwise.
fn write_change(
    out: &mut impl std::io::Write,
    path: &str,
    e: &rootwasm::journal::Entry,
    base: &rootwasm::image::merge::Merged,
    blobs: &rootwasm::journal::Blobs,
) -> anyhow::Result<()> {
    let rp = RootPath::lexical(path)?;
    let before = base.read(&rp).ok();
    let before_meta = base.lstat(&rp).ok().flatten();
    let shown = safe(path);
    let recipe = safe(&e.recipe);
    match &e.after {
        None => writeln!(out, "removed {shown} [{recipe}]")?,
        Some(st) => {
            let after = st
                .sha256
                .as_ref()
                .and_then(|s| blobs.get(s))
                .map(|b| b.to_vec());
            let text =
                |b: &Option<Vec<u8>>| b.as_ref().and_then(|b| String::from_utf8(b.clone()).ok());
            match (text(&before), text(&after)) {
                (Some(b), Some(a)) if b != a => {
                    out.write_all(text_diff(&shown, &b, &a).as_bytes())?;
                }
                (None, Some(a)) if before.is_none() => {
                    writeln!(
                        out,
                        "new file {shown} [{recipe}], mode {:o}, {} lines",
                        st.mode,
                        a.lines().count()
                    )?;
                }
                _ => {
                    let sha = |b: &Option<Vec<u8>>| {
                        b.as_ref()
                            .map(|b| rootwasm::journal::Sha256Hex::of(b).to_string())
                            .unwrap_or_else(|| "-".into())
                    };
                    writeln!(
                        out,
                        "{shown} [{recipe}]: {:?}, size {} -> {}, sha256 {} -> {}, mode {} -> {:o}{}",
                        st.kind,
                        before.as_ref().map_or("-".into(), |b| b.len().to_string()),
                        st.size.map_or("-".into(), |s| s.to_string()),
                        sha(&before),
                        st.sha256.as_ref().map_or("-".into(), |s| s.to_string()),
                        before_meta.map_or("-".into(), |m| format!("{:o}", m.mode)),
                        st.mode,
                        st.target
                            .as_ref()
                            .map(|t| format!(", -> {}", safe(t)))
                            .unwrap_or_default(),
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// A rerun of an image patched more than once: the rebuilt patch layer
/// must be the recorded one.
fn same_layer(
    applied: &rootwasm::apply::Applied<'_>,
    recorded_layer: Option<rootwasm::image::model::Digest>,
    names: &str,
) -> rootwasm::review::Check {
    use rootwasm::image::sink::Blob;
    let after = &applied.platforms[0].manifest_after;
    let layer = match applied.output.blobs.get(after) {
        Some((_, Blob::New(b))) => serde_json::from_slice::<rootwasm::image::model::Manifest>(b)
            .ok()
            .and_then(|m| m.layers.last().map(|l| l.digest.clone())),
        _ => None,
    };
    let ok = layer.is_some() && layer == recorded_layer;
    rootwasm::review::Check {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_rewrite_is_summarised_within_the_budget() {
        let before: String = (0..150_000).map(|i| format!("old line {i}\n")).collect();
        let after: String = (0..150_000).map(|i| format!("new line {i}\n")).collect();
        let out = text_diff("/big.txt", &before, &after);
        assert!(out.lines().count() <= 3, "{out}");
        assert!(out.contains("300000 changed lines"), "{out}");
        assert!(out.contains("over the 4000-line diff budget"), "{out}");
        // A one-line change in a huge file is still a real diff.
        let mut one = before.clone();
        one.replace_range(0..10, "OLD LINE 0");
        let out = text_diff("/big.txt", &before, &one);
        assert!(out.contains("-old line 0\n+OLD LINE 0\n"), "{out}");
        assert!(out.lines().count() < 20, "{out}");
    }

    #[test]
    fn diff_content_is_escaped() {
        let out = text_diff("/f", "a\n", "a\n\x1b[2J\u{202e}\tb\n");
        assert!(out.contains("+\\x1b[2J\\u{202e}\tb\n"), "{out}");
        assert!(!out.contains('\x1b'), "{out}");
    }
}
