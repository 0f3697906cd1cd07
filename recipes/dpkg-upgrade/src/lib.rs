//! The distro-upgrade component: install the distribution's fixed `.deb`
//! over the installed version and leave the dpkg database as `dpkg -i` (or
//! apt) would have left it, without running dpkg or any maintainer script.
//!
//! One audited component serves every Debian distro upgrade; each fix is a
//! `recipe.toml` that pins the `.deb`s as artifacts and names them in the
//! `deb` parameter (`rootwasm recipe new distro-upgrade` writes one for a
//! package, `rootwasm recipe sync` one for the installed binary packages
//! of each source). Several are installed one after another, each as
//! `dpkg -i` would install it alone.
//!
//! What it does, in dpkg's terms (see docs/recipes.md, "Distro upgrades"):
//! - unpacks the new data tar: files with their modes and owners, symlinks,
//!   hardlinks, missing directories; files whose bytes and mode are already
//!   right are left alone, so the patch layer holds only what changed;
//! - conffiles as dpkg with `--force-confdef --force-confold`: a file the user
//!   changed is kept, and a changed new version goes beside it as `.dpkg-dist`;
//! - removes files the old version owned and the new one does not, unless
//!   another package lists them;
//! - rewrites the package's `status` stanza in dpkg's field order and its
//!   `info/` files (`.list`, `.md5sums`, `.conffiles`, `.shlibs`, `.symbols`,
//!   `.triggers`, scripts), or the distroless `status.d/` files.
//!
//! - evaluates the maintainer scripts dpkg would run for this upgrade from
//!   this installed version (`rootwasm_deb::maintscript`) and applies what
//!   they would change: files they write or remove, the CA trust store
//!   (`update-ca-certificates`), stale Python bytecode; the no-ops (services,
//!   debconf, version-gated conffile moves) are listed in the report's notes.
//!
//! It refuses, changing nothing, when the upgrade needs something it cannot
//! reproduce: script lines it cannot model (quoted in the error), a trigger
//! other than ldconfig or one the package already declared, a file trigger
//! another package registered on these paths, a diversion or a stat
//! override of a path the package installs.

use debversion::Version;
use rootwasm_sdk::dpkg::deb::maintscript::{self, Effect, Plan, Upgrade};
use rootwasm_sdk::dpkg::deb::{Deb, EntryKind, Limits, Stanza, md5_hex, md5sums};
use rootwasm_sdk::dpkg::{self, ADMIN, Installed, Layout};
use rootwasm_sdk::maintscript::{ImageFacts, apply_file_effect};
use rootwasm_sdk::{Check, Context, Error, Kind, PackageChange, Recipe, Report, Result};
use std::collections::{BTreeMap, BTreeSet};

/// Per-package files dpkg keeps in `info/`.
const INFO_FILES: &[&str] = &[
    "list",
    "md5sums",
    "conffiles",
    "shlibs",
    "symbols",
    "triggers",
    "preinst",
    "postinst",
    "prerm",
    "postrm",
    "config",
    "templates",
];
const SCRIPTS: &[&str] = &["preinst", "postinst", "prerm", "postrm", "config"];

/// The `.deb` artifacts to install, in order: the `deb` parameter (one
/// name, or several separated by spaces for the binary packages of one
/// source), else the recipe's only `.deb`.
fn deb_names(cx: &mut Context) -> Result<Vec<String>> {
    if let Some(list) = cx.param("deb") {
        let names: Vec<String> = list.split_whitespace().map(str::to_owned).collect();
        if names.is_empty() {
            return Err(Error::msg("the `deb` parameter names no .deb artifact"));
        }
        return Ok(names);
    }
    let debs: Vec<String> = cx
        .artifacts()
        .into_iter()
        .map(|a| a.name)
        .filter(|n| n.ends_with(".deb"))
        .collect();
    match debs.as_slice() {
        [one] => Ok(vec![one.clone()]),
        _ => Err(Error::msg(
            "set the `deb` parameter to the .deb artifacts to install",
        )),
    }
}

/// The package `name`, with its data tar or (for `check`, which runs twice
/// per apply and needs only the control file) without.
fn load(cx: &mut Context, name: &str, with_data: bool) -> Result<Deb> {
    let limits = Limits::default();
    let control = member(cx, name, "control.tar", Deb::control_tar)?;
    let data = match with_data {
        true => Some(member(cx, name, "data.tar", Deb::data_tar)?),
        false => None,
    };
    Deb::from_tars(&control, data.as_deref(), &limits)
        .map_err(|e| Error::msg(format!("artifact {name}: {e}")))
}

/// A decompressed member of the package `name`. Inflating the members is
/// most of a run (lzma in wasm), so the host keeps them (`derived`) and
/// the next run of this component on the same .deb reads them back.
fn member(
    cx: &mut Context,
    name: &str,
    label: &str,
    inflate: fn(&[u8], &Limits) -> std::result::Result<Vec<u8>, rootwasm_sdk::dpkg::deb::Error>,
) -> Result<Vec<u8>> {
    if let Some(kept) = cx.derived(name, label)? {
        return Ok(kept);
    }
    let bytes = cx.artifact(name)?;
    let tar = inflate(&bytes, &Limits::default())
        .map_err(|e| Error::msg(format!("artifact {name}: {e}")))?;
    // Keeping is only a saving: refused (a tar larger than the recipe's
    // written-bytes limit, say), the next run inflates it again.
    let _ = cx.keep_derived(name, label, &tar);
    Ok(tar)
}

fn version(v: &str, what: &str) -> Result<Version> {
    v.parse()
        .map_err(|e| Error::msg(format!("{what}: bad Debian version {v:?}: {e:?}")))
}

/// The installed package this `.deb` upgrades, or why there is none.
fn target(
    cx: &mut Context,
    deb: &Deb,
    name: &str,
) -> Result<std::result::Result<Installed, String>> {
    if let Some(p) = cx.param("package")
        && p != deb.package()
    {
        return Err(Error::msg(format!(
            "artifact {name} is package {}, but the recipe targets {p}",
            deb.package()
        )));
    }
    // The installed package of this architecture; with Multi-Arch several
    // may be installed, and only a mismatch everywhere is an error.
    let inst = match dpkg::find(cx, deb.package(), Some(deb.architecture()))? {
        Some(i) => i,
        None => match dpkg::find(cx, deb.package(), None)? {
            Some(i) => i,
            None => return Ok(Err(format!("{} is not installed", deb.package()))),
        },
    };
    let (want, have) = (deb.architecture(), inst.arch.as_str());
    if want != have && want != "all" && have != "all" {
        return Err(Error::msg(format!(
            "artifact {name} is built for architecture {want}, but the image has {}:{have}; \
             use the {have} build of {} {}",
            inst.name,
            deb.package(),
            deb.version()
        )));
    }
    if inst.layout == Layout::Status && inst.info_name != deb.info_name() {
        return Err(Error::msg(format!(
            "{} changes Multi-Arch between {} and {} (its dpkg files move from info/{}.* to info/{}.*); \
             this upgrade is not handled",
            inst.name,
            inst.version,
            deb.version(),
            inst.info_name,
            deb.info_name()
        )));
    }
    Ok(Ok(inst))
}

pub struct DpkgUpgrade;

impl Recipe for DpkgUpgrade {
    fn check(cx: &mut Context) -> Result<Check> {
        // Vulnerable if any package is older than its fix; fixed if every
        // installed one has it; not applicable if none is installed.
        let (mut older, mut current, mut absent) = (Vec::new(), Vec::new(), Vec::new());
        for name in deb_names(cx)? {
            let deb = load(cx, &name, false)?;
            let inst = match target(cx, &deb, &name)? {
                Ok(i) => i,
                Err(why) => {
                    absent.push(why);
                    continue;
                }
            };
            let have = version(&inst.version, "installed")?;
            let new = version(deb.version(), &name)?;
            if have >= new {
                current.push(format!(
                    "{} {} is installed (the fix is in {new})",
                    inst.name, inst.version
                ));
            } else {
                older.push(format!(
                    "{} {} is installed; {new} fixes it",
                    inst.name, inst.version
                ));
            }
        }
        Ok(if !older.is_empty() {
            Check::vulnerable(older.join("; "))
        } else if !current.is_empty() {
            Check::fixed(current.join("; "))
        } else {
            Check::not_applicable(absent.join("; "))
        })
    }

    fn apply(cx: &mut Context) -> Result<Report> {
        let mut report = Report {
            fixed: Vec::new(),
            packages: Vec::new(),
            notes: Vec::new(),
        };
        // One after another, each on what the ones before it left, as
        // separate recipes would; a package not installed, or already at
        // its fix, is left alone.
        for name in deb_names(cx)? {
            let deb = load(cx, &name, true)?;
            let Ok(inst) = target(cx, &deb, &name)? else {
                continue;
            };
            if version(&inst.version, "installed")? >= version(deb.version(), &name)? {
                continue;
            }
            upgrade(cx, &deb, &name, &inst, &mut report)?;
        }
        if report.packages.is_empty() {
            return Err(Error::msg(
                "no package of this recipe is installed in an older version",
            ));
        }
        Ok(report)
    }
}

/// Install `deb` (the artifact `name`) over `inst`, as `dpkg -i` would.
fn upgrade(
    cx: &mut Context,
    deb: &Deb,
    name: &str,
    inst: &Installed,
    report: &mut Report,
) -> Result<()> {
    refuse_what_dpkg_would_run(cx, deb, inst)?;
    let plan = scripts(cx, deb, inst)?;
    let mut py = Vec::new();
    let conffiles = install_data(cx, deb, inst, &mut py)?;
    remove_obsolete(cx, deb, inst, &mut py)?;
    report.notes.push(format!(
        "installed {name} over {} {}",
        inst.name, inst.version
    ));
    apply_plan(cx, deb, &plan, &py, &mut report.notes)?;
    write_database(cx, deb, inst, &conffiles)?;
    report.packages.push(PackageChange {
        ecosystem: "deb".into(),
        name: inst.name.clone(),
        location: inst.location(),
        version_before: inst.version.clone(),
        version_after: deb.version().to_owned(),
    });
    Ok(())
}

rootwasm_sdk::export_recipe!(DpkgUpgrade);

/// Refuse what an upgrade by dpkg would run and we cannot reproduce.
fn refuse_what_dpkg_would_run(cx: &mut Context, deb: &Deb, inst: &Installed) -> Result<()> {
    if let Some(t) = deb.control_files.get("triggers") {
        for l in String::from_utf8_lossy(t).lines().map(str::trim) {
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            // An interest the installed version already registered stays registered.
            let declared = inst.layout == Layout::Status
                && l.starts_with("interest")
                && cx.exists(&inst.info_file("triggers"))?
                && cx
                    .read_to_string(&inst.info_file("triggers"))?
                    .lines()
                    .any(|o| o.trim() == l);
            if !declared && !matches!(l, "activate-noawait ldconfig" | "activate ldconfig") {
                return Err(Error::msg(format!(
                    "the package declares the trigger `{l}`, which rootwasm cannot run; \
                     only the ldconfig trigger and interests the installed version already \
                     declared are handled"
                )));
            }
        }
    }
    let paths: BTreeSet<&str> = deb.data.iter().map(|e| e.path.as_str()).collect();
    let under = |p: &str| {
        let p = p.trim_end_matches('/');
        paths
            .iter()
            .any(|x| *x == p || x.starts_with(&format!("{p}/")))
    };
    let file_triggers = format!("{ADMIN}/triggers/File");
    if cx.exists(&file_triggers)? {
        for l in cx.read_to_string(&file_triggers)?.lines() {
            let Some((p, pkg)) = l.split_once(' ') else {
                continue;
            };
            if under(p) {
                return Err(Error::msg(format!(
                    "package {pkg} has a file trigger on {p}, which this upgrade touches; \
                     rootwasm does not run trigger handlers"
                )));
            }
        }
    }
    let diversions = format!("{ADMIN}/diversions");
    if cx.exists(&diversions)? {
        let text = cx.read_to_string(&diversions)?;
        for from in text.lines().step_by(3) {
            if paths.contains(from) {
                return Err(Error::msg(format!(
                    "{from} is diverted (dpkg-divert); upgrades of diverted files are not handled"
                )));
            }
        }
    }
    let overrides = format!("{ADMIN}/statoverride");
    if cx.exists(&overrides)? {
        for l in cx.read_to_string(&overrides)?.lines() {
            if let Some(p) = l.split_whitespace().nth(3)
                && paths.contains(p)
            {
                return Err(Error::msg(format!(
                    "{p} has a dpkg-statoverride; upgrades of overridden files are not handled"
                )));
            }
        }
    }
    Ok(())
}

/// Unpack the data tar. Returns the `Conffiles` lines (path, md5 of the new
/// distributed version) in the package's order.
fn install_data(
    cx: &mut Context,
    deb: &Deb,
    inst: &Installed,
    py: &mut Vec<String>,
) -> Result<Vec<(String, String)>> {
    let new_conffiles = deb.conffiles();
    let old_conffiles: BTreeMap<String, String> = inst
        .conffiles()
        .into_iter()
        .map(|(p, m, _)| (p, m))
        .collect();
    let mut conffiles = Vec::new();
    for e in &deb.data {
        if e.path == "/." {
            continue;
        }
        let cur = cx.lstat(&e.path)?;
        match &e.kind {
            EntryKind::Dir => match cur {
                Some(m) if m.kind == Kind::Dir => {}
                // A symlink to a directory stands for it, as dpkg treats it
                // (merged-/usr: the package's /lib is the image's /lib -> usr/lib).
                Some(m)
                    if m.kind == Kind::Symlink
                        && cx.stat(&e.path)?.is_some_and(|t| t.kind == Kind::Dir) => {}
                Some(_) => {
                    return Err(Error::msg(format!(
                        "{} is a directory in the new package but not in the image",
                        e.path
                    )));
                }
                None => {
                    cx.mkdir(&e.path, e.mode)?;
                    own(cx, &e.path, e.uid, e.gid)?;
                }
            },
            EntryKind::File(data) if new_conffiles.contains(&e.path) => {
                let new_md5 = md5_hex(data);
                let current = match cur {
                    Some(m) if m.kind == Kind::File => Some(md5_hex(&cx.read(&e.path)?)),
                    Some(m) if m.kind == Kind::Dir => {
                        return Err(Error::msg(format!(
                            "conffile {} is a directory in the image",
                            e.path
                        )));
                    }
                    Some(_) => Some(String::new()),
                    None => None,
                };
                let old = old_conffiles.get(&e.path);
                // dpkg: the user edited it if it differs from the old distributed version
                // (a new conffile that already exists counts as edited); the distribution
                // edited it if the new distributed version differs from the old one.
                let user_edited = match (old, &current) {
                    (Some(o), Some(c)) => o != c,
                    (Some(_), None) => true,
                    (None, Some(c)) => *c != new_md5,
                    (None, None) => false,
                };
                let dist_edited = old.is_none_or(|o| *o != new_md5);
                if !user_edited {
                    put_file(cx, &e.path, data, e.mode, e.uid, e.gid)?;
                } else if dist_edited {
                    let dist = format!("{}.dpkg-dist", e.path);
                    put_file(cx, &dist, data, e.mode, e.uid, e.gid)?;
                    cx.info(&format!(
                        "kept the changed {}; the new version is {dist}",
                        e.path
                    ));
                }
                conffiles.push((e.path.clone(), new_md5));
            }
            EntryKind::File(data) => {
                if cur.is_some_and(|m| m.kind == Kind::Dir) {
                    return Err(Error::msg(format!(
                        "{} is a file in the new package but a directory in the image",
                        e.path
                    )));
                }
                let before = cur.map(|m| (m.kind, m.size));
                if e.path.ends_with(".py")
                    && (before != Some((Kind::File, data.len() as u64))
                        || cx.read(&e.path)? != *data)
                {
                    py.push(e.path.clone());
                }
                put_file(cx, &e.path, data, e.mode, e.uid, e.gid)?;
            }
            EntryKind::Symlink(target) => match cur {
                Some(m) if m.kind == Kind::Symlink && cx.readlink(&e.path)? == *target => {}
                Some(m) if m.kind == Kind::Dir => {
                    return Err(Error::msg(format!(
                        "{} is a symlink in the new package but a directory in the image",
                        e.path
                    )));
                }
                Some(_) => {
                    cx.remove(&e.path)?;
                    cx.symlink(target, &e.path)?;
                }
                None => cx.symlink(target, &e.path)?,
            },
            EntryKind::Hardlink(target) => {
                if cur.is_some() {
                    cx.remove(&e.path)?;
                }
                cx.hardlink(target, &e.path)?;
            }
        }
    }
    stale_through_links(deb, py);
    Ok(conffiles)
}

/// A `.py` symlink's bytecode names its target's mtime and size, so it is
/// stale when the target was replaced (python3.11's `_sysconfigdata_*`).
fn stale_through_links(deb: &Deb, py: &mut Vec<String>) {
    for e in &deb.data {
        let EntryKind::Symlink(target) = &e.kind else {
            continue;
        };
        let Some((dir, _)) = e.path.rsplit_once('/') else {
            continue;
        };
        if !e.path.ends_with(".py") || py.contains(&e.path) {
            continue;
        }
        let mut parts: Vec<&str> = if target.starts_with('/') {
            Vec::new()
        } else {
            dir.split('/').filter(|p| !p.is_empty()).collect()
        };
        for t in target.split('/').filter(|t| !t.is_empty() && *t != ".") {
            if t == ".." {
                parts.pop();
            } else {
                parts.push(t);
            }
        }
        if py.contains(&format!("/{}", parts.join("/"))) {
            py.push(e.path.clone());
        }
    }
}

/// Write a file unless it already has these bytes, mode and owner.
fn put_file(
    cx: &mut Context,
    path: &str,
    data: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<()> {
    if let Some(m) = cx.lstat(path)? {
        if m.kind == Kind::File
            && m.size == data.len() as u64
            && m.mode & 0o7777 == mode
            && (m.uid, m.gid) == (uid, gid)
            && cx.read(path)? == data
        {
            return Ok(());
        }
        if m.kind != Kind::File {
            cx.remove(path)?;
        }
    }
    cx.write_file(path, data, mode)?;
    own(cx, path, uid, gid)
}

fn own(cx: &mut Context, path: &str, uid: u32, gid: u32) -> Result<()> {
    if cx
        .lstat(path)?
        .is_some_and(|m| (m.uid, m.gid) != (uid, gid))
    {
        cx.chown(path, uid, gid)?;
    }
    Ok(())
}

/// Remove what the old version owned and the new one does not, as dpkg does
/// after an upgrade: files unless another package lists them, directories
/// only when empty and unlisted elsewhere. A path that resolves to one the
/// new version installed (the same file reached through a symlinked
/// directory, as on merged-/usr images) is kept, as dpkg keeps it by
/// comparing inodes.
///
/// Removing needs the old version's paths in scope, which `recipe new`
/// grants (and says so in the `remove-obsolete` parameter) only when it was
/// given the old `.deb`; without it, an upgrade that drops files is refused
/// before anything outside scope is touched.
fn remove_obsolete(
    cx: &mut Context,
    deb: &Deb,
    inst: &Installed,
    py: &mut Vec<String>,
) -> Result<()> {
    let list = inst.info_file("list");
    if inst.layout != Layout::Status || !cx.exists(&list)? {
        return Ok(());
    }
    let new: BTreeSet<&str> = deb.data.iter().map(|e| e.path.as_str()).collect();
    let conffiles: BTreeSet<String> = inst.conffiles().into_iter().map(|(p, _, _)| p).collect();
    let old = cx.read_to_string(&list)?;
    let mut obsolete: Vec<&str> = old
        .lines()
        .filter(|p| *p != "/." && !new.contains(p) && !conffiles.contains(*p))
        .collect();
    if obsolete.is_empty() {
        return Ok(());
    }
    if cx.param("remove-obsolete").as_deref() != Some("true") {
        return Err(Error::msg(format!(
            "{} {} owned {} path(s) that {} does not ship (first: {}); re-create this recipe with \
             `rootwasm recipe new distro-upgrade --installed <the {} .deb>` so it may remove them",
            inst.name,
            inst.version,
            obsolete.len(),
            deb.version(),
            obsolete[0],
            inst.version
        )));
    }
    let mut installed = BTreeSet::new();
    for e in &deb.data {
        installed.insert(canonical(cx, &e.path)?);
    }
    // Paths other packages own stay.
    let mut others = BTreeSet::new();
    for l in cx.glob(&format!("{ADMIN}/info/*.list"))? {
        if l != list {
            others.extend(cx.read_to_string(&l)?.lines().map(str::to_owned));
        }
    }
    // A path the old list has children under was a directory in the package.
    let was_dir = |p: &str| {
        old.lines()
            .any(|q| q.len() > p.len() && q.starts_with(p) && q.as_bytes()[p.len()] == b'/')
    };
    // Deepest first, so directories are emptied before they are considered.
    obsolete.sort_by(|a, b| b.cmp(a));
    for p in obsolete {
        if others.contains(p) || installed.contains(&canonical(cx, p)?) {
            continue;
        }
        let meta = cx.lstat(p)?;
        // A directory the image made a symlink (merged-/usr: /lib -> usr/lib)
        // is never removed. dpkg would unlink it when no other package lists
        // it, which breaks every path through it; we deliberately differ.
        if meta.is_some_and(|m| m.kind == Kind::Symlink) && was_dir(p) {
            continue;
        }
        match meta {
            Some(m) if m.kind == Kind::Dir && cx.read_dir(p)?.is_empty() => cx.remove(p)?,
            Some(m) if m.kind == Kind::Dir => {}
            Some(_) => {
                if p.ends_with(".py") {
                    py.push(p.to_owned());
                }
                cx.remove(p)?
            }
            None => {}
        }
    }
    Ok(())
}

/// What dpkg's scripts would do for this upgrade, decided before anything
/// is unpacked (dpkg's order: old prerm, new preinst, old postrm, config,
/// new postinst).
fn scripts(cx: &mut Context, deb: &Deb, inst: &Installed) -> Result<Plan> {
    let mut up = Upgrade {
        package: deb.package().to_owned(),
        arch: inst.arch.clone(),
        old_version: inst.version.clone(),
        new_version: deb.version().to_owned(),
        ..Default::default()
    };
    for e in &deb.data {
        let k = match e.kind {
            EntryKind::Dir => maintscript::Kind::Dir,
            EntryKind::Symlink(_) => maintscript::Kind::Symlink,
            _ => maintscript::Kind::File,
        };
        up.new_files
            .insert(e.path.trim_end_matches('/').to_owned(), k);
    }
    for s in ["preinst", "postinst", "config"] {
        if let Some(t) = deb.control_files.get(s) {
            up.new_scripts
                .insert(s.into(), String::from_utf8_lossy(t).into_owned());
        }
    }
    if inst.layout == Layout::Status {
        for s in ["prerm", "postrm"] {
            let path = inst.info_file(s);
            if cx.exists(&path)? {
                up.old_scripts.insert(s.into(), cx.read_to_string(&path)?);
            }
        }
    }
    let plan = maintscript::evaluate(&up, &mut ImageFacts(cx)).map_err(|e| Error::msg(e.0))?;
    if plan.effects.contains(&Effect::PamAuthUpdate) {
        for e in &deb.data {
            if let EntryKind::File(data) = &e.kind
                && e.path.starts_with("/usr/share/pam-configs/")
                && cx.read(&e.path).ok().as_deref() != Some(data.as_slice())
            {
                return Err(Error::msg(format!(
                    "{} changes {}, so pam-auth-update in its postinst would regenerate \
                     /etc/pam.d/common-*; rootwasm does not run it",
                    deb.package(),
                    e.path
                )));
            }
        }
    }
    Ok(plan)
}

/// Apply the scripts' effects to the unpacked tree, in dpkg's order.
fn apply_plan(
    cx: &mut Context,
    deb: &Deb,
    plan: &Plan,
    py: &[String],
    notes: &mut Vec<String>,
) -> Result<()> {
    let config = deb
        .control_files
        .get("config")
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_default();
    let mut bytecode = false;
    for e in &plan.effects {
        match e {
            Effect::Bytecode => bytecode = true,
            Effect::PamAuthUpdate => notes.push(
                "pam-auth-update --package: no profile under /usr/share/pam-configs changes, so it \
                 would write /etc/pam.d/common-* as they are"
                    .into(),
            ),
            Effect::CaCertificatesConfigure | Effect::UpdateCaCertificates => {
                let conf = *e == Effect::CaCertificatesConfigure;
                let n = rootwasm_sdk::maintscript::ca_certificates(cx, &config, conf)?;
                notes.push(format!(
                    "update-ca-certificates: /etc/ca-certificates.conf and /etc/ssl/certs updated as \
                     the script does ({n} change(s))"
                ));
            }
            other => apply_file_effect(cx, other)?,
        }
    }
    if bytecode {
        let n = remove_stale_bytecode(cx, py)?;
        notes.push(format!(
            "Python bytecode: {n} stale __pycache__ file(s) of the {} replaced or removed module(s) \
             removed (Python recompiles them on import); bytecode of unchanged modules is kept, \
             still valid since their sources keep their size and mtime",
            py.len()
        ));
    }
    notes.extend(plan.notes.iter().cloned());
    Ok(())
}

/// Remove `__pycache__/<module>.*.pyc` beside each replaced or removed `.py`.
fn remove_stale_bytecode(cx: &mut Context, py: &[String]) -> Result<usize> {
    let mut n = 0;
    for p in py {
        let Some((dir, file)) = p.rsplit_once('/') else {
            continue;
        };
        let stem = file.trim_end_matches(".py");
        let cache = format!("{dir}/__pycache__");
        if cx.lstat(&cache)?.is_none_or(|m| m.kind != Kind::Dir) {
            continue;
        }
        for e in cx.read_dir(&cache)? {
            let rest = e.name.strip_prefix(stem).and_then(|r| r.strip_prefix('.'));
            if rest.is_some_and(|r| r.ends_with(".pyc") && !r[..r.len() - 4].contains('/')) {
                cx.remove(&format!("{cache}/{}", e.name))?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// `path` with every symlinked parent directory resolved (the last component
/// is not followed), so two names of one file compare equal.
fn canonical(cx: &mut Context, path: &str) -> Result<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut out: Vec<String> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        out.push((*part).to_owned());
        if i + 1 == parts.len() {
            break;
        }
        // Follow this directory while it is a symlink (bounded, as the kernel does).
        for _ in 0..40 {
            let here = format!("/{}", out.join("/"));
            if cx.lstat(&here)?.is_none_or(|m| m.kind != Kind::Symlink) {
                break;
            }
            let target = cx.readlink(&here)?;
            out.pop();
            if target.starts_with('/') {
                out.clear();
            }
            for t in target.split('/').filter(|t| !t.is_empty() && *t != ".") {
                if t == ".." {
                    out.pop();
                } else {
                    out.push(t.to_owned());
                }
            }
        }
    }
    Ok(format!("/{}", out.join("/")))
}

fn write_database(
    cx: &mut Context,
    deb: &Deb,
    inst: &Installed,
    conffiles: &[(String, String)],
) -> Result<()> {
    let mut stanza: Stanza = deb.control.clone();
    if let Some(st) = inst.stanza.get("Status") {
        stanza.set("Status", st);
    }
    // Conffiles: the new ones, then old ones the new version dropped, marked obsolete.
    let mut lines: Vec<String> = conffiles.iter().map(|(p, m)| format!(" {p} {m}")).collect();
    for (p, m, _) in inst.conffiles() {
        if !conffiles.iter().any(|(q, _)| *q == p) {
            lines.push(format!(" {p} {m} obsolete"));
        }
    }
    if !lines.is_empty() {
        stanza.set("Conffiles", format!("\n{}", lines.join("\n")));
    }

    let md5 = match deb.control_files.get("md5sums") {
        Some(b) => b.clone(),
        None => {
            // dpkg computes them when the package ships none.
            let sums: Vec<(String, String)> = deb
                .data
                .iter()
                .filter_map(|e| match &e.kind {
                    EntryKind::File(d) => Some((e.path.clone(), md5_hex(d))),
                    _ => None,
                })
                .collect();
            md5sums::format(&sums).into_bytes()
        }
    };
    match &inst.layout {
        Layout::Status => {
            let mut list = String::new();
            for e in &deb.data {
                list.push_str(&e.path);
                list.push('\n');
            }
            // dpkg keeps conffiles the new version dropped as the package's
            // (obsolete), listed after its files.
            for (p, _, _) in inst.conffiles() {
                if !conffiles.iter().any(|(q, _)| *q == p) {
                    list.push_str(&p);
                    list.push('\n');
                }
            }
            for ext in INFO_FILES {
                let path = inst.info_file(ext);
                let mode = if SCRIPTS.contains(ext) { 0o755 } else { 0o644 };
                let new: Option<&[u8]> = match *ext {
                    "list" => Some(list.as_bytes()),
                    "md5sums" => Some(&md5),
                    _ => deb.control_files.get(*ext).map(Vec::as_slice),
                };
                match new {
                    Some(bytes) => put_file(cx, &path, bytes, mode, 0, 0)?,
                    None if cx.exists(&path)? => cx.remove(&path)?,
                    None => {}
                }
            }
            dpkg::write_stanza(cx, inst, &stanza)?;
        }
        Layout::StatusD { .. } => {
            let path = inst.info_file("md5sums");
            if cx.exists(&path)? {
                put_file(cx, &path, &md5, 0o644, 0, 0)?;
            }
            if inst.stanza.get("Status").is_none() {
                stanza.remove("Status");
            }
            dpkg::write_stanza(cx, inst, &stanza)?;
        }
    }
    Ok(())
}
