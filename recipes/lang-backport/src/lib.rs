//! The backport component for language packages (pip, npm and gem installs)
//! and the Python runtime's standard library.
//!
//! A recipe pins one or more `.patch` artifacts: unified diffs of the
//! package's own files, usually the upstream fix commit's change, with paths
//! relative to the installed package after stripping `strip` components
//! (default 1: `a/requests/sessions.py`, `package/lodash.js`,
//! `rack-2.2.8/lib/rack/utils.rb`). The host passes the installs it matched
//! against the recipe's `affected` range (`Context::targets`); for each one
//! the component:
//! - applies every diff with exact context (no fuzz; an offset only where
//!   the hunk's lines occur at exactly one other place); all files of
//!   an install are checked before any is written, and an install whose code
//!   matches neither the diff nor its reverse is left alone and reported
//!   `not-applicable` with the reason;
//! - keeps the version: the fix is recorded as a backport, not an upgrade;
//! - pypi: rewrites the changed files' rows of `RECORD` (hash and size) and
//!   removes their stale `__pycache__/<module>.*.pyc` (and those rows);
//! - the Python runtime (`generic` `python`, an official image's
//!   `/usr/local` build): patches its standard library `lib/python3.X`
//!   (diff paths `a/Lib/...` with `strip = 2`) and removes the stale
//!   bytecode the same way;
//! - npm and gem: changes nothing else. npm's `integrity` (in
//!   `node_modules/.package-lock.json`) and a gem's `checksums.yaml` are
//!   digests of the published archive, not of the installed tree: they stay
//!   true of where the install came from, and neither tool hashes installed
//!   files (docs/recipes.md says more).
//!
//! Parameters: `strip` (default 1) and `patches` (comma-separated artifact
//! names; default: every `.patch` and `.diff` artifact).

use rootwasm_sdk::patch;
use rootwasm_sdk::python::Record;
use rootwasm_sdk::{Check, Context, Error, Kind, PackageChange, Recipe, Report, Result, Target};

/// One file of the fix, relative to an install's root.
struct FileFix {
    rel: String,
    diff: String,
}

fn fixes(cx: &mut Context) -> Result<Vec<FileFix>> {
    let strip: usize = match cx.param("strip") {
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| Error::msg(format!("parameter strip={s:?} is not a number")))?,
        None => 1,
    };
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
    let mut out: Vec<FileFix> = Vec::new();
    for name in names {
        let text = String::from_utf8(cx.artifact(&name)?)
            .map_err(|_| Error::msg(format!("{name} is not UTF-8")))?;
        for f in patch::split(&text)? {
            let rel = patch::strip_path(&f.path, strip)?;
            if rel.split('/').any(|c| c == ".." || c.is_empty()) {
                return Err(Error::msg(format!(
                    "{name}: {rel:?} is not a plain relative path"
                )));
            }
            // Each diff is checked against the file as installed, so two
            // diffs of one file would not compose.
            if out.iter().any(|x| x.rel == rel) {
                return Err(Error::msg(format!(
                    "{rel} is changed by more than one diff ({name} and an earlier one); combine them into one"
                )));
            }
            out.push(FileFix { rel, diff: f.diff });
        }
    }
    Ok(out)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("/", |(d, _)| d)
}

/// The directory the diff's paths are relative to, from the target's record.
fn install_root(t: &Target) -> Result<String> {
    let loc = t.location.trim_end_matches('/');
    match t.ecosystem.as_str() {
        // `<site>/<name>-<ver>.dist-info` (or `.egg-info`): files are under `<site>`.
        "pypi" => Ok(parent(loc).to_owned()),
        // `node_modules/<name>/package.json`: files are beside it.
        "npm" => Ok(parent(loc).to_owned()),
        // `<GEM_HOME>/specifications/<name>-<ver>.gemspec`: files are in `<GEM_HOME>/gems/<name>-<ver>`.
        "gem" => {
            let file = loc.rsplit('/').next().unwrap_or(loc);
            let stem = file.strip_suffix(".gemspec").ok_or_else(|| {
                Error::msg(format!("{loc}: a gem's location must be its .gemspec"))
            })?;
            let specs = parent(loc);
            if !specs.ends_with("/specifications") {
                return Err(Error::msg(format!(
                    "{loc} is not in a specifications/ directory"
                )));
            }
            Ok(format!("{}/gems/{stem}", parent(specs)))
        }
        // An interpreter of its own (`generic`): CPython's
        // `<prefix>/include/python3.X/patchlevel.h`, whose standard library
        // is `<prefix>/lib/python3.X`, the root of the diff's `Lib/` paths.
        "generic" if t.name == "python" => {
            let include = parent(loc);
            let (prefix, abi) = include
                .rsplit_once("/include/")
                .filter(|(_, abi)| abi.starts_with("python3") && !abi.contains('/'))
                .ok_or_else(|| {
                    Error::msg(format!(
                        "{loc}: a Python runtime's location must be <prefix>/include/python3.X/patchlevel.h"
                    ))
                })?;
            Ok(format!("{prefix}/lib/{abi}"))
        }
        other => Err(Error::msg(format!(
            "lang-backport patches pypi, npm and gem installs and the Python runtime's standard library, not {other} {}",
            t.name
        ))),
    }
}

enum State {
    /// Every file matches the diff's context: the new contents.
    Vulnerable(Vec<(String, String)>),
    Fixed,
    Other(String),
}

/// Debian's packaged gems (rubygems-integration) are dpkg's files: their
/// md5sums would go stale here, so they are `dpkg-backport`'s to patch.
fn dpkg_owned(t: &Target) -> Option<String> {
    let debian = ["/usr/share/rubygems-integration/", "/usr/lib/ruby/"];
    (t.ecosystem == "gem" && debian.iter().any(|d| t.location.starts_with(d))).then(|| {
        format!(
            "{} is Debian's packaged gem: dpkg owns its files, so patch it with dpkg-backport",
            t.location
        )
    })
}

fn state(cx: &mut Context, t: &Target, fixes: &[FileFix]) -> Result<State> {
    if let Some(why) = dpkg_owned(t) {
        return Ok(State::Other(why));
    }
    let root = install_root(t)?;
    let mut new = Vec::new();
    let mut fixed = 0;
    let mut why = Vec::new();
    for f in fixes {
        let path = format!("{root}/{}", f.rel);
        if cx.lstat(&path)?.is_none_or(|m| m.kind != Kind::File) {
            why.push(format!("{path} is missing"));
            continue;
        }
        let text = cx.read_to_string(&path)?;
        match patch::apply(&path, &text, &f.diff) {
            Ok(t) => new.push((path, t)),
            Err(forward) => {
                let rev = patch::reverse(&path, &f.diff)?;
                if patch::apply(&path, &text, &rev).is_ok() {
                    fixed += 1;
                } else {
                    why.push(forward.to_string());
                }
            }
        }
    }
    Ok(if !why.is_empty() || (fixed > 0 && !new.is_empty()) {
        if why.is_empty() {
            why.push("some files carry the fix and others do not".into());
        }
        State::Other(why.join("; "))
    } else if new.is_empty() {
        State::Fixed
    } else {
        State::Vulnerable(new)
    })
}

fn label(t: &Target) -> String {
    format!("{} {} at {}", t.name, t.version, t.location)
}

pub struct LangBackport;

impl Recipe for LangBackport {
    fn check(cx: &mut Context) -> Result<Check> {
        let targets = cx.targets();
        if targets.is_empty() {
            return Ok(Check::not_applicable(
                "no install of the target package in the affected range",
            ));
        }
        let fixes = fixes(cx)?;
        let (mut vulnerable, mut fixed, mut other) = (Vec::new(), Vec::new(), Vec::new());
        for t in &targets {
            match state(cx, t, &fixes)? {
                State::Vulnerable(_) => vulnerable.push(label(t)),
                State::Fixed => fixed.push(label(t)),
                State::Other(why) => other.push(format!("{}: {why}", label(t))),
            }
        }
        let skipped = if other.is_empty() {
            String::new()
        } else {
            format!("; not applicable: {}", other.join("; "))
        };
        Ok(if !vulnerable.is_empty() {
            Check::vulnerable(format!("unfixed: {}{skipped}", vulnerable.join(", ")))
        } else if !fixed.is_empty() {
            Check::fixed(format!("fix present in {}{skipped}", fixed.join(", ")))
        } else {
            Check::not_applicable(other.join("; "))
        })
    }

    fn apply(cx: &mut Context) -> Result<Report> {
        let fixes = fixes(cx)?;
        let mut report = Report::default();
        for t in cx.targets() {
            let staged = match state(cx, &t, &fixes)? {
                State::Vulnerable(staged) => staged,
                State::Fixed => continue,
                State::Other(why) => {
                    report
                        .notes
                        .push(format!("left alone {}: {why}", label(&t)));
                    continue;
                }
            };
            let mut changed = Vec::new();
            for (path, new) in staged {
                let mode = cx.stat(&path)?.map_or(0o644, |m| m.mode);
                cx.write_file(&path, new.as_bytes(), mode)?;
                changed.push(path);
            }
            if t.ecosystem == "pypi" || t.ecosystem == "generic" {
                python_record(cx, &t, &changed)?;
            }
            report
                .notes
                .extend(changed.iter().map(|p| format!("patched {p}")));
            report.packages.push(PackageChange {
                ecosystem: t.ecosystem.clone(),
                name: t.name.clone(),
                location: t.location.clone(),
                version_before: t.version.clone(),
                version_after: t.version.clone(),
            });
        }
        if report.packages.is_empty() {
            return Err(Error::msg("no vulnerable install left to patch"));
        }
        Ok(report)
    }
}

rootwasm_sdk::export_recipe!(LangBackport);

/// Remove the bytecode of each changed `.py`, and keep RECORD true for the
/// changed files and the removed bytecode (a `.egg-info` has no RECORD).
fn python_record(cx: &mut Context, t: &Target, changed: &[String]) -> Result<()> {
    let has_record = t.location.ends_with(".dist-info")
        && cx.lstat(&format!("{}/RECORD", t.location))?.is_some();
    let mut record = if has_record {
        Some(Record::load(cx, &t.location)?)
    } else {
        None
    };
    for path in changed {
        if let Some(r) = record.as_mut() {
            r.refresh(cx, path)?;
        }
        for pyc in bytecode(cx, path)? {
            cx.remove(&pyc)?;
            if let Some(r) = record.as_mut() {
                r.remove(&pyc)?;
            }
        }
    }
    if let Some(r) = record {
        r.save(cx)?;
    }
    Ok(())
}

/// `dir/__pycache__/<stem>.*.pyc` for `dir/<stem>.py`.
fn bytecode(cx: &mut Context, path: &str) -> Result<Vec<String>> {
    let Some(base) = path.strip_suffix(".py") else {
        return Ok(Vec::new());
    };
    let (dir, stem) = base.rsplit_once('/').unwrap_or(("", base));
    let cache = format!("{dir}/__pycache__");
    if cx.lstat(&cache)?.is_none_or(|m| m.kind != Kind::Dir) {
        return Ok(Vec::new());
    }
    let prefix = format!("{stem}.");
    Ok(cx
        .read_dir(&cache)?
        .into_iter()
        .filter(|e| e.name.starts_with(&prefix) && e.name.ends_with(".pyc"))
        .map(|e| format!("{cache}/{}", e.name))
        .collect())
}
