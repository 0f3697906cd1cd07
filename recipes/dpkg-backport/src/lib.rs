//! The backport component for files a Debian package owns.
//!
//! Each recipe pins one or more `.patch` artifacts: unified diffs whose paths
//! are rooted at `/` after stripping one component (`a/usr/lib/...`), usually
//! the difference between the installed package's file and the fixed
//! version's. The component:
//! - applies every diff with exact context (all files are checked first, so
//!   nothing is half-applied);
//! - keeps the package's Version: the fix is recorded as a backport, not an
//!   upgrade;
//! - updates the package's `md5sums`, so `dpkg --verify` stays clean;
//! - removes stale bytecode (`__pycache__/<module>.*.pyc`) beside each
//!   patched `.py`, which Python would otherwise keep running (dpkg does not
//!   own those files; Debian's py3compile made them).
//!
//! Parameters: `package` (required) and `patches` (comma-separated artifact
//! names; default: every `.patch` artifact).

use rootwasm_sdk::dpkg::{self, Installed};
use rootwasm_sdk::patch;
use rootwasm_sdk::{Check, Context, Error, Kind, PackageChange, Recipe, Report, Result};

/// One file the recipe patches.
struct FileFix {
    path: String,
    diff: String,
}

fn fixes(cx: &mut Context) -> Result<Vec<FileFix>> {
    let names: Vec<String> = match cx.param("patches") {
        Some(p) => p.split(',').map(|s| s.trim().to_owned()).collect(),
        None => cx
            .artifacts()
            .into_iter()
            .map(|a| a.name)
            .filter(|n| n.ends_with(".patch") || n.ends_with(".diff"))
            .collect(),
    };
    if names.is_empty() {
        return Err(Error::msg("the recipe pins no .patch artifact"));
    }
    let mut out = Vec::new();
    for name in names {
        let text = String::from_utf8(cx.artifact(&name)?)
            .map_err(|_| Error::msg(format!("{name} is not UTF-8")))?;
        for f in patch::split(&text)? {
            let path = format!("/{}", patch::strip_path(&f.path, 1)?);
            // Each diff is checked against the file as installed, so two diffs
            // of one file would not compose: one diff per file.
            if out.iter().any(|x: &FileFix| x.path == path) {
                return Err(Error::msg(format!(
                    "{path} is changed by more than one diff ({name} and an earlier one); combine them into one"
                )));
            }
            out.push(FileFix { path, diff: f.diff });
        }
    }
    Ok(out)
}

fn package(cx: &mut Context) -> Result<Option<Installed>> {
    let name = cx.param("package").ok_or_else(|| {
        Error::msg("set the `package` parameter to the Debian package that owns the files")
    })?;
    dpkg::find(cx, &name, None)
}

enum State {
    Vulnerable,
    Fixed,
    Other(String),
}

fn state(cx: &mut Context, f: &FileFix) -> Result<State> {
    if cx.lstat(&f.path)?.is_none_or(|m| m.kind != Kind::File) {
        return Ok(State::Other(format!("{} is missing", f.path)));
    }
    let text = cx.read_to_string(&f.path)?;
    if patch::apply(&f.path, &text, &f.diff).is_ok() {
        return Ok(State::Vulnerable);
    }
    let rev = patch::reverse(&f.path, &f.diff)?;
    if patch::apply(&f.path, &text, &rev).is_ok() {
        return Ok(State::Fixed);
    }
    Ok(State::Other(format!(
        "{} is neither the version this fix was made for nor the fixed one",
        f.path
    )))
}

pub struct DpkgBackport;

impl Recipe for DpkgBackport {
    fn check(cx: &mut Context) -> Result<Check> {
        let Some(inst) = package(cx)? else {
            return Ok(Check::not_applicable("the package is not installed"));
        };
        let mut vulnerable = Vec::new();
        let mut fixed = Vec::new();
        for f in fixes(cx)? {
            match state(cx, &f)? {
                State::Vulnerable => vulnerable.push(f.path),
                State::Fixed => fixed.push(f.path),
                State::Other(why) => {
                    return Ok(Check::not_applicable(format!(
                        "{} {}: {why}",
                        inst.name, inst.version
                    )));
                }
            }
        }
        Ok(if vulnerable.is_empty() {
            Check::fixed(format!("fix present in {}", fixed.join(", ")))
        } else {
            Check::vulnerable(format!("unfixed: {}", vulnerable.join(", ")))
        })
    }

    fn apply(cx: &mut Context) -> Result<Report> {
        let inst = package(cx)?.ok_or_else(|| Error::msg("the package is not installed"))?;
        let mut staged = Vec::new();
        for f in fixes(cx)? {
            if let State::Vulnerable = state(cx, &f)? {
                let old = cx.read_to_string(&f.path)?;
                let new = patch::apply(&f.path, &old, &f.diff)?;
                staged.push((f.path, new));
            }
        }
        let mut changed = Vec::new();
        for (path, new) in staged {
            let mode = cx.stat(&path)?.map_or(0o644, |m| m.mode);
            cx.write_file(&path, new.as_bytes(), mode)?;
            remove_bytecode(cx, &path)?;
            changed.push(path);
        }
        dpkg::update_md5sums(cx, &inst, &changed)?;
        Ok(Report {
            fixed: Vec::new(),
            packages: vec![PackageChange {
                ecosystem: "deb".into(),
                name: inst.name.clone(),
                location: inst.location(),
                version_before: inst.version.clone(),
                version_after: inst.version.clone(),
            }],
            notes: changed.iter().map(|p| format!("patched {p}")).collect(),
        })
    }
}

rootwasm_sdk::export_recipe!(DpkgBackport);

/// `dir/__pycache__/<stem>.*.pyc` for a patched `dir/<stem>.py`.
fn remove_bytecode(cx: &mut Context, path: &str) -> Result<()> {
    let Some(base) = path.strip_suffix(".py") else {
        return Ok(());
    };
    let (dir, stem) = base.rsplit_once('/').unwrap_or(("", base));
    let cache = format!("{dir}/__pycache__");
    if cx.lstat(&cache)?.is_none_or(|m| m.kind != Kind::Dir) {
        return Ok(());
    }
    for e in cx.read_dir(&cache)? {
        if e.name.starts_with(&format!("{stem}.")) && e.name.ends_with(".pyc") {
            cx.remove(&format!("{cache}/{}", e.name))?;
        }
    }
    Ok(())
}
