//! `rootwasm run <recipe-dir> --rootfs <dir>`

use anyhow::Context;
use clap::Args;
use rootwasm::journal::{Journal, State};
use rootwasm::recipe::Recipe;
use rootwasm::rootfs::DirRoot;
use rootwasm::run::{Outcome, RunOptions};
use rootwasm::sandbox::{CheckStatus, ComponentCache, Sandbox, SandboxOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::text::{Keep, escape_str, safe};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The recipe directory (holds recipe.toml).
    recipe: PathBuf,
    /// The root filesystem to patch.
    #[arg(long)]
    rootfs: PathBuf,
    /// Write the changes into the rootfs. Without it nothing is written.
    #[arg(long)]
    commit: bool,
    /// Print the journal as JSON instead of a summary.
    #[arg(long)]
    json: bool,
    /// Also write journal.json and blobs/ into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override a recipe parameter, KEY=VALUE. Repeatable.
    #[arg(long = "param", value_parser = parse_kv)]
    params: Vec<(String, String)>,
    /// The recipe's clock, in seconds since 1970 [default: $SOURCE_DATE_EPOCH, else 0].
    #[arg(long)]
    source_date_epoch: Option<u64>,
    /// Where compiled components are cached [default: $ROOTWASM_CACHE_DIR, $XDG_CACHE_HOME/rootwasm or ~/.cache/rootwasm; none without them].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    ceilings: super::limits::CeilingArgs,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn source_date_epoch(flag: Option<u64>) -> anyhow::Result<u64> {
    if let Some(v) = flag {
        return Ok(v);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        Err(_) => Ok(0),
    }
}

pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let recipe = Recipe::load(&a.recipe)
        .with_context(|| format!("loading recipe {}", a.recipe.display()))?;
    let root = Arc::new(
        DirRoot::open(&a.rootfs)
            .with_context(|| format!("opening rootfs {}", a.rootfs.display()))?,
    );
    let cache = ComponentCache::at(a.cache_dir);
    let sandbox = Sandbox::new(SandboxOptions {
        cache,
        ceilings: a.ceilings.ceilings(),
    })?;
    let options = RunOptions {
        source_date_epoch: source_date_epoch(a.source_date_epoch)?,
        params: a.params.into_iter().collect::<BTreeMap<_, _>>(),
        targets: rootwasm::run::targets(&rootwasm::inventory::inventory(root.as_ref()), &recipe),
    };
    let result = rootwasm::run::run(&sandbox, &recipe, root.clone(), &options);
    let journal = Journal {
        entries: result.changes.entries.clone(),
        ..Journal::default()
    };

    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::write(out.join("journal.json"), journal.to_json())?;
        result.changes.blobs.write_to(&out.join("blobs"))?;
        std::fs::write(out.join("report.json"), report_json(&result, &journal))?;
    }
    for line in &result.output.logs {
        eprintln!(
            "[{}] {}: {}",
            safe(&line.level.to_string()),
            recipe.manifest.id,
            escape_str(&line.message, Keep::Lines)
        );
    }
    if a.json {
        print!("{}", journal.to_json());
    } else {
        print_summary(&recipe, &result, &journal, a.commit);
    }
    match &result.outcome {
        Outcome::Failed(e) => {
            if !result.output.stderr.is_empty() {
                eprintln!(
                    "recipe stderr:\n{}",
                    escape_str(result.output.stderr.trim_end(), Keep::Lines)
                );
            }
            eprintln!("error: {}", escape_str(&e.to_string(), Keep::Lines));
            eprintln!("nothing was changed.");
            Ok(ExitCode::from(1))
        }
        Outcome::Applied { .. } if a.commit => {
            rootwasm::commit::commit(&root, &result.changes.entries, &result.changes.blobs)
                .with_context(|| format!("committing to {}", a.rootfs.display()))?;
            eprintln!(
                "committed {} change(s) to {}",
                journal.entries.len(),
                a.rootfs.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `report.json`: how the run went, both checks, what apply reported, and the
/// recipe's captured output. Deterministic, like the journal.
fn report_json(result: &rootwasm::run::RunResult, journal: &Journal) -> String {
    let (outcome, report, error) = match &result.outcome {
        Outcome::Applied { report } => ("applied", Some(report), None),
        Outcome::AlreadyFixed => ("already-fixed", None, None),
        Outcome::NotApplicable => ("not-applicable", None, None),
        Outcome::Failed(e) => ("failed", None, Some(e)),
    };
    let v = serde_json::json!({
        "recipe": result.recipe,
        "outcome": outcome,
        "error": error,
        "check_before": result.check_before.as_ref().map(check_json),
        "report": report,
        "check_after": result.check_after.as_ref().map(check_json),
        "journal_sha256": rootwasm::journal::Sha256Hex::of(journal.to_json().as_bytes()),
        "output": result.output,
    });
    let mut s = serde_json::to_string_pretty(&v).expect("report serialises");
    s.push('\n');
    s
}

fn check_json(c: &rootwasm::sandbox::CheckReport) -> serde_json::Value {
    serde_json::json!({ "status": status(c.status).replace(' ', "-"), "detail": c.detail })
}

fn describe(s: &Option<State>) -> String {
    match s {
        None => "absent".into(),
        Some(s) => {
            let mut d = format!("{:?} {:04o} {}:{}", s.kind, s.mode, s.uid, s.gid).to_lowercase();
            if let (Some(size), Some(sha)) = (s.size, &s.sha256) {
                d.push_str(&format!(" {size} B sha256:{}", &sha.as_str()[..12]));
            }
            if let Some(t) = &s.target {
                d.push_str(&format!(" -> {}", safe(t)));
            }
            d
        }
    }
}

fn status(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Fixed => "fixed",
        CheckStatus::Vulnerable => "vulnerable",
        CheckStatus::NotApplicable => "not applicable",
    }
}

fn print_summary(
    recipe: &Recipe,
    result: &rootwasm::run::RunResult,
    journal: &Journal,
    commit: bool,
) {
    let m = &recipe.manifest;
    let cves: Vec<_> = m.fixes.iter().map(|f| f.id.as_str()).collect();
    println!(
        "recipe   {} ({:?}, {} {} {})",
        safe(&m.id),
        m.patch_type,
        safe(&m.target.ecosystem.to_string()),
        safe(&m.target.package),
        safe(&m.target.affected)
    );
    println!("fixes    {}", safe(&cves.join(", ")));
    if let Some(c) = &result.check_before {
        println!("before   {}: {}", status(c.status), safe(&c.detail));
    }
    let outcome = match &result.outcome {
        Outcome::Applied { .. } if commit => "applied".to_string(),
        Outcome::Applied { .. } => {
            "applied to the staging area only (dry run; pass --commit to write)".to_string()
        }
        Outcome::AlreadyFixed => "already fixed; nothing to do".into(),
        Outcome::NotApplicable => "not applicable to this rootfs".into(),
        Outcome::Failed(e) => format!("FAILED ({:?})", e.kind),
    };
    println!("result   {outcome}");
    if let Outcome::Applied { report } = &result.outcome {
        for p in &report.packages {
            println!(
                "package  {} {} at {}: {} -> {}",
                safe(&p.ecosystem.to_string()),
                safe(&p.name),
                safe(&p.location),
                safe(&p.version_before),
                safe(&p.version_after)
            );
        }
        for n in &report.notes {
            println!("note     {}", safe(n));
        }
    }
    if let Some(c) = &result.check_after {
        println!("after    {}: {}", status(c.status), safe(&c.detail));
    }
    if !journal.entries.is_empty() {
        println!("changes  ({})", journal.entries.len());
        for e in &journal.entries {
            let from = e
                .from
                .as_deref()
                .map(|f| format!(" (from {})", safe(f)))
                .unwrap_or_default();
            let op = serde_json::to_value(e.op)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            println!("  {op:<10} {}{from}", safe(&e.path));
            println!("             before: {}", describe(&e.before));
            println!("             after:  {}", describe(&e.after));
        }
    }
}
