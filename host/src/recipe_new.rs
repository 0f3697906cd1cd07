//! `rootwasm recipe new distro-upgrade`: write a recipe for a distribution's
//! fixed `.deb`, so a fix can exist as soon as the distribution publishes it.
//!
//! Everything in the recipe comes from the package itself: the target and
//! affected range (`<< new`: a distribution's upgrade fixes every older
//! version) from its control file, the vulnerabilities from the items of
//! its `changelog.Debian.gz` entries above the installed version's own entry
//! that fix something, and the capabilities from its file list. The `.deb`
//! is copied beside the recipe.toml and pinned by sha256; the shared
//! `dpkg-upgrade` component does the installing. See docs/recipes.md.

use crate::journal::Sha256Hex;
use crate::recipe_build::SHARED_COMPONENT;
use rootwasm_deb::{Deb, EntryKind, Limits, changelog};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What the installed package is, if known.
#[derive(Clone, Debug)]
pub enum Installed {
    /// The installed version's `.deb`: gives its version and its files, so the
    /// recipe may remove files the new version dropped.
    Deb(PathBuf),
    /// Only the installed version.
    Version(String),
    /// The installed version and the paths dpkg lists for it (its
    /// `info/<pkg>.list` in the image), as good as its `.deb`.
    Listed(String, Vec<String>),
}

/// The shared `dpkg-upgrade` component this binary was built with: written
/// next to the recipes when they have none, so `recipe new` and `sync` work
/// in any directory. Its hash is pinned in every recipe like any component.
pub const DPKG_UPGRADE: &[u8] = include_bytes!("../../recipes/dpkg-upgrade/component.wasm");

/// Options for [`distro_upgrade`].
#[derive(Clone, Debug)]
pub struct DistroUpgrade {
    /// The fixed `.deb`.
    pub deb: PathBuf,
    /// The installed version (or its `.deb`).
    pub installed: Option<Installed>,
    /// Vulnerability ids to use instead of the changelog's.
    pub fixes: Vec<String>,
    /// The recipes directory; the recipe goes into `<dir>/<id>/`, and the
    /// shared component is `<dir>/dpkg-upgrade/component.wasm`.
    pub recipes_dir: PathBuf,
    /// The changelog text to read when the `.deb` ships none (a sibling
    /// binary of the same source and version ships it).
    pub changelog: Option<String>,
    /// The installed package's own changelog (from the image): entries it
    /// already has are never claimed.
    pub installed_changelog: Option<String>,
    /// Replace an existing recipe with the same id that differs.
    pub force: bool,
    /// Write the recipe even when the changelog names no vulnerability: a
    /// plain update, which claims no fix (no VEX statement). Off by
    /// default: rootwasm changes only what a vulnerability affects.
    pub plain_update: bool,
    /// Advisories (OSV records, Trivy or Grype reports) that give each
    /// fixed vulnerability its severity, aliases and publication date.
    pub advisories: std::sync::Arc<[crate::advisory::Advisory]>,
}

/// What [`distro_upgrade`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Written {
    /// A new recipe.
    New,
    /// The same recipe was already there, byte for byte.
    Unchanged,
    /// A different recipe with the same id was replaced (`force`).
    Replaced,
}

/// The recipe written.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Its directory.
    pub dir: PathBuf,
    /// New, unchanged or replaced.
    pub written: Written,
    /// The ids it claims to fix.
    pub fixes: Vec<String>,
}

/// Why no recipe could be written.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The input is not usable; the message says what to do.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NewError + '_ {
    move |source| NewError::Io {
        path: path.into(),
        source,
    }
}

fn version(v: &str) -> Result<debversion::Version, NewError> {
    v.parse()
        .map_err(|e| NewError::Invalid(format!("bad Debian version {v:?}: {e:?}")))
}

fn read_deb(path: &Path) -> Result<(Vec<u8>, Deb), NewError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let deb = Deb::parse(&bytes, &Limits::default())
        .map_err(|e| NewError::Invalid(format!("{}: {e}", path.display())))?;
    Ok((bytes, deb))
}

/// One vulnerability found in the changelog.
struct Fix {
    id: String,
    published: String,
    severity: crate::recipe::Severity,
    aliases: Vec<String>,
}

impl Fix {
    /// Unrated, with the changelog upload's date until an advisory says more.
    fn new(id: String, published: String) -> Fix {
        Fix {
            id,
            published,
            severity: crate::recipe::Severity::Unknown,
            aliases: Vec::new(),
        }
    }
}

/// Take severity, aliases and the publication date from the advisory
/// naming each fix (by id or alias), preferring one for `names` (the
/// binary or its source package). The changelog only knows when Debian
/// uploaded the fix, not when the vulnerability was published.
fn from_advisories(
    fixes: &mut [Fix],
    advisories: &[crate::advisory::Advisory],
    names: &[impl AsRef<str>],
) {
    for f in fixes {
        let naming = |a: &&crate::advisory::Advisory| a.ids().any(|i| i == f.id);
        let Some(a) = advisories
            .iter()
            .filter(naming)
            .find(|a| names.iter().any(|n| n.as_ref() == a.package))
            .or_else(|| advisories.iter().find(naming))
        else {
            continue;
        };
        if let Some(s) = a.details.severity {
            f.severity = s;
        }
        if let Some(p) = &a.details.published {
            f.published = p.clone();
        }
        let mut aliases: Vec<String> = advisories
            .iter()
            .filter(naming)
            .flat_map(|a| a.ids().map(str::to_owned).collect::<Vec<_>>())
            .filter(|i| *i != f.id && valid_vulnerability_id(i))
            .collect();
        aliases.sort();
        aliases.dedup();
        f.aliases = aliases;
    }
}

/// The deb's own changelog text, or `None` when it ships none.
fn own_changelog(deb: &Deb) -> Result<Option<String>, NewError> {
    let pkg = deb.package();
    let candidates = [
        format!("/usr/share/doc/{pkg}/changelog.Debian.gz"),
        format!("/usr/share/doc/{pkg}/changelog.gz"),
    ];
    let Some(raw) = candidates
        .iter()
        .find_map(|p| match deb.entry(p).map(|e| &e.kind) {
            Some(EntryKind::File(d)) => Some(d),
            _ => None,
        })
    else {
        return Ok(None);
    };
    gunzip_text(raw)
        .map(Some)
        .map_err(|e| NewError::Invalid(format!("{pkg}: reading changelog.Debian.gz: {e}")))
}

/// The changelog a `.deb` ships, if any.
pub fn shipped_changelog(path: &Path) -> Result<Option<String>, NewError> {
    let (_, deb) = read_deb(path)?;
    own_changelog(&deb)
}

/// The changelog a sibling `.deb` ships (`recipe new --changelog-from`).
pub fn changelog_of(path: &Path) -> Result<String, NewError> {
    shipped_changelog(path)?
        .ok_or_else(|| NewError::Invalid(format!("{} ships no changelog either", path.display())))
}

/// A gzip-compressed text file, at most 64 MiB unpacked.
pub fn gunzip_text(raw: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(raw)
        .take(64 << 20)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// The version a binary's changelog entry has: a binNMU (`+bN`) has no
/// entry of its own in the source changelog.
fn source_version(v: &str) -> &str {
    match v.rsplit_once("+b") {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => v,
    }
}

/// The entries an upgrade from `installed` brings, newest first: those
/// above the installed version's own entry, by position (a changelog lists
/// uploads in the order they built on each other, so an older upload from
/// another suite that sorts higher, like unstable's `1.3` above bookworm's
/// `1.3~deb12u4`, is below it and already included). Without that entry,
/// the entries from the top while they sort above `installed`. Entries the
/// installed package's own changelog already has are never new.
fn new_entries<'a>(
    entries: &'a [changelog::Entry],
    installed: &str,
    installed_changelog: Option<&[changelog::Entry]>,
) -> Result<Vec<&'a changelog::Entry>, NewError> {
    let mut own = source_version(installed);
    // A binary may carry an epoch its source's entries lack (bsdutils
    // `1:2.38.1-5+deb12u1` of util-linux `2.38.1-5+deb12u1`).
    if !entries.iter().any(|e| e.version == own)
        && let Some((_, bare)) = own.split_once(':')
        && entries.iter().all(|e| !e.version.contains(':'))
    {
        own = bare;
    }
    let floor = version(own)?;
    let stop = entries
        .iter()
        .position(|e| e.version == own)
        .unwrap_or_else(|| {
            entries
                .iter()
                .position(|e| version(&e.version).is_ok_and(|v| v <= floor))
                .unwrap_or(entries.len())
        });
    let had = |e: &changelog::Entry| {
        installed_changelog.is_some_and(|old| old.iter().any(|o| o.version == e.version))
    };
    Ok(entries[..stop].iter().filter(|e| !had(e)).collect())
}

/// The ids (CVE and GHSA) that the new entries' items fix, with the date of
/// the entry that first fixed each.
fn changelog_fixes(
    text: &str,
    deb: &Deb,
    installed: Option<&str>,
    installed_changelog: Option<&str>,
) -> Result<Vec<Fix>, NewError> {
    let entries = changelog::parse(text);
    let old = installed_changelog.map(changelog::parse);
    let chosen: Vec<&changelog::Entry> = match installed {
        Some(inst) => new_entries(&entries, inst, old.as_deref())?,
        None => entries
            .iter()
            .filter(|e| e.version == deb.version())
            .collect(),
    };
    let mut out: Vec<Fix> = Vec::new();
    // Oldest first, so each id gets the date of the upload that first fixed it.
    for e in chosen.into_iter().rev() {
        let date = e.iso_date().unwrap_or_else(|| "1970-01-01".into());
        for id in e.fixed_ids() {
            if !out.iter().any(|f| f.id == id) {
                out.push(Fix::new(id, date.clone()));
            }
        }
    }
    Ok(out)
}

/// Whether `id` names a vulnerability the way scanners and VEX consumers
/// do: `CVE-YYYY-N…`, `GHSA-xxxx-xxxx-xxxx`, or Debian's own `DSA-N-N`,
/// `DLA-N-N` and `TEMP-N-X` (the security tracker's ids for issues without a CVE).
pub fn valid_vulnerability_id(id: &str) -> bool {
    let digits = |s: &str, min: usize| s.len() >= min && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = id.split('-').collect();
    match parts.as_slice() {
        ["CVE", y, n] => y.len() == 4 && digits(y, 4) && digits(n, 4),
        ["DSA" | "DLA", n, r] => digits(n, 1) && digits(r, 1),
        ["TEMP", n, x] => digits(n, 1) && !x.is_empty() && x.bytes().all(|b| b.is_ascii_hexdigit()),
        ["GHSA", ..] => changelog::ghsa_ids(id) == [id],
        _ => false,
    }
}

/// A recipe id from the package and version: `debian-libexpat1-2.5.0-1-deb12u5`.
fn recipe_id(pkg: &str, ver: &str, arch: &str) -> String {
    let clean: String = format!("debian-{pkg}-{ver}-{arch}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.into()).to_string()
}

fn toml_list(items: &[String]) -> String {
    let mut out = String::from("[\n");
    for i in items {
        let _ = writeln!(out, "    {},", toml_str(i));
    }
    out.push(']');
    out
}

/// The installed version, the old version's paths and its `.deb`, if given.
type InstalledInfo = (Option<String>, Vec<String>, Option<Deb>);

/// The installed version (`--installed VERSION` or the old `.deb`'s) and,
/// from an old `.deb`, its paths and scripts.
fn installed(o: &DistroUpgrade, pkg: &str) -> Result<InstalledInfo, NewError> {
    Ok(match &o.installed {
        None => (None, Vec::new(), None),
        Some(Installed::Version(v)) => (Some(v.clone()), Vec::new(), None),
        Some(Installed::Listed(v, paths)) => (Some(v.clone()), paths.clone(), None),
        Some(Installed::Deb(p)) => {
            let (_, old) = read_deb(p)?;
            if old.package() != pkg {
                return Err(NewError::Invalid(format!(
                    "--installed {} is package {}, not {pkg}",
                    p.display(),
                    old.package()
                )));
            }
            let paths = old.data.iter().map(|e| e.path.clone()).collect();
            (Some(old.version().to_owned()), paths, Some(old))
        }
    })
}

/// Capabilities: the package's own paths, the `.dpkg-dist` beside each
/// conffile, and its database records. Read adds what the component
/// consults to refuse what it cannot reproduce. Returns (read, write).
fn capabilities(
    deb: &Deb,
    old: Option<&Deb>,
    old_paths: Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let pkg = deb.package();
    let info = deb.info_name();
    let mut write: Vec<String> = deb
        .data
        .iter()
        .filter(|e| e.path != "/.")
        .map(|e| e.path.clone())
        .collect();
    for p in old_paths {
        if p != "/." && !write.contains(&p) {
            write.push(p);
        }
    }
    // On merged-/usr images /bin, /sbin and /lib* are symlinks into /usr, and
    // every access is checked on the resolved path too: grant both names.
    let aliased: Vec<String> = write
        .iter()
        .filter(|p| {
            ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
                .iter()
                .any(|a| *p == a || p.starts_with(&format!("{a}/")))
        })
        .map(|p| format!("/usr{p}"))
        .filter(|p| !write.contains(p))
        .collect();
    write.extend(aliased);
    write.extend(deb.conffiles().iter().map(|c| format!("{c}.dpkg-dist")));
    write.extend([
        "/var/lib/dpkg/status".to_owned(),
        format!("/var/lib/dpkg/info/{info}.*"),
        format!("/var/lib/dpkg/status.d/{pkg}"),
        format!("/var/lib/dpkg/status.d/{pkg}.*"),
    ]);
    let mut write: Vec<String> = write
        .into_iter()
        .map(|p| {
            if p.starts_with("/var/lib/dpkg/") {
                p
            } else {
                rootwasm_glob::escape(&p)
            }
        })
        .collect();
    let mut read = write.clone();
    read.extend([
        "/var/lib/dpkg/info/*.list".to_owned(),
        "/var/lib/dpkg/status.d/*".to_owned(),
        "/var/lib/dpkg/triggers/File".to_owned(),
        "/var/lib/dpkg/diversions".to_owned(),
        "/var/lib/dpkg/statoverride".to_owned(),
    ]);
    let (sr, sw) = script_scope(deb, old);
    for p in sw {
        if !write.contains(&p) {
            write.push(p);
        }
    }
    for p in sr {
        if !read.contains(&p) {
            read.push(p);
        }
    }
    for p in &write {
        if !read.contains(p) {
            read.push(p.clone());
        }
    }
    (read, write)
}

/// What evaluating the maintainer scripts reads and changes: the new
/// version's, and the old one's prerm/postrm (the new ones stand in for
/// them when only the installed version is known).
fn script_scope(deb: &Deb, old: Option<&Deb>) -> (Vec<String>, Vec<String>) {
    let mut texts: Vec<String> = ["preinst", "postinst", "config", "prerm", "postrm"]
        .iter()
        .filter_map(|s| deb.control_files.get(*s))
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    if let Some(old) = old {
        texts.extend(
            ["prerm", "postrm"]
                .iter()
                .filter_map(|s| old.control_files.get(*s))
                .map(|t| String::from_utf8_lossy(t).into_owned()),
        );
    }
    let files: Vec<String> = deb.data.iter().map(|e| e.path.clone()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    rootwasm_deb::maintscript::scope(&refs, &files)
}

/// `--fix` ids, else the changelog's CVE/GHSA ids newer than `installed`.
fn fixes_for(o: &DistroUpgrade, deb: &Deb, installed: Option<&str>) -> Result<Vec<Fix>, NewError> {
    let (pkg, ver) = (deb.package(), deb.version());
    if let Some(bad) = o.fixes.iter().find(|id| !valid_vulnerability_id(id)) {
        return Err(NewError::Invalid(format!(
            "--fix {bad:?} is not a vulnerability id: use CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx, \
             or Debian's DSA-NNNN-N, DLA-NNNN-N or TEMP-NNNNNNN-XXXXXX"
        )));
    }
    if !o.fixes.is_empty() {
        return Ok(o
            .fixes
            .iter()
            .map(|id| Fix::new(id.clone(), "1970-01-01".into()))
            .collect());
    }
    let Some(text) = own_changelog(deb)?.or_else(|| o.changelog.clone()) else {
        if o.plain_update {
            return Ok(Vec::new());
        }
        return Err(NewError::Invalid(format!(
            "{pkg} ships no changelog.Debian.gz (its /usr/share/doc/{pkg} may link to another \
             package's); name the fixed vulnerabilities with --fix CVE-YYYY-NNNN, or write it \
             as a plain update that claims none (--plain-update)"
        )));
    };
    let fixes = changelog_fixes(&text, deb, installed, o.installed_changelog.as_deref())?;
    if fixes.is_empty() && !o.plain_update {
        return Err(NewError::Invalid(format!(
            "the changelog of {pkg} {ver} fixes no CVE or GHSA above {}: not a security \
             update; name the fixed vulnerabilities with --fix, or write it as a plain update \
             that claims none (recipe new --plain-update, recipe sync --all-updates)",
            installed.unwrap_or("the previous upload")
        )));
    }
    Ok(fixes)
}

/// The shared component's path relative to the recipe, and its sha256: the
/// recipes directory's own, else the one built into this binary, written there.
fn component_pin(o: &DistroUpgrade) -> Result<(String, Sha256Hex), NewError> {
    let component_rel = format!("../dpkg-upgrade/{SHARED_COMPONENT}");
    let dir = o.recipes_dir.join("dpkg-upgrade");
    let component = dir.join(SHARED_COMPONENT);
    let bytes = match std::fs::read(&component) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            std::fs::write(&component, DPKG_UPGRADE).map_err(io(&component))?;
            DPKG_UPGRADE.to_vec()
        }
        Err(e) => {
            return Err(NewError::Io {
                path: component,
                source: e,
            });
        }
    };
    Ok((component_rel, Sha256Hex::of(&bytes)))
}

/// One binary package's share of a generated recipe.
struct Member {
    bytes: Vec<u8>,
    deb: Deb,
    file_name: String,
    installed: Option<String>,
    may_remove: bool,
    fixes: Vec<Fix>,
    read: Vec<String>,
    write: Vec<String>,
    unpacked: u64,
}

impl Member {
    fn new(o: &DistroUpgrade) -> Result<Self, NewError> {
        let (bytes, deb) = read_deb(&o.deb)?;
        let (pkg, ver, arch) = (deb.package(), deb.version(), deb.architecture());
        let may_remove = matches!(o.installed, Some(Installed::Deb(_) | Installed::Listed(..)));
        let (installed, old_paths, old_deb) = installed(o, pkg)?;
        if let Some(inst) = &installed
            && version(inst)? >= version(ver)?
        {
            return Err(NewError::Invalid(format!(
                "{pkg} {ver} is not newer than the installed {inst}: nothing to upgrade"
            )));
        }
        let mut fixes = fixes_for(o, &deb, installed.as_deref())?;
        from_advisories(&mut fixes, &o.advisories, &names(&deb));
        let file_name = o
            .deb
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{pkg}_{ver}_{arch}.deb"));
        let (read, write) = capabilities(&deb, old_deb.as_ref(), old_paths);
        let unpacked: u64 = (deb.data.iter())
            .map(|e| match &e.kind {
                EntryKind::File(d) => d.len() as u64,
                _ => 0,
            })
            .sum();
        Ok(Member {
            bytes,
            deb,
            file_name,
            installed,
            may_remove,
            fixes,
            read,
            write,
            unpacked,
        })
    }

    fn package(&self) -> &str {
        self.deb.package()
    }
}

/// Each item once, in the order first seen.
fn union<T: Clone + Ord>(lists: impl IntoIterator<Item = Vec<T>>) -> Vec<T> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for item in lists.into_iter().flatten() {
        if seen.insert(item.clone()) {
            out.push(item);
        }
    }
    out
}

/// What a generated recipe.toml says.
struct Rendered<'a> {
    id: &'a str,
    /// The packages, the target first.
    members: &'a [Member],
    arch: &'a str,
    source: &'a str,
    fixes: &'a [Fix],
    component_rel: &'a str,
    component_sha: &'a Sha256Hex,
    read: &'a [String],
    write: &'a [String],
}

// Long: a template, one statement per recipe.toml section in file order.
fn render(r: &Rendered<'_>) -> String {
    let mut t = String::new();
    let (first, group) = (&r.members[0], r.members.len() > 1);
    let above = match (group, &first.installed) {
        (true, _) => "each installed version's".to_owned(),
        (false, Some(v)) => format!("{v}'s"),
        (false, None) => "the previous upload's".into(),
    };
    let claims = if r.fixes.is_empty() {
        format!(
            "# A plain update: its changelog entries above {above} name no CVE or GHSA,\n\
             # so it claims no fix (and the VEX says nothing of it).\n"
        )
    } else {
        format!("# The fixes are the CVE/GHSA ids fixed by its changelog entries above {above}.\n")
    };
    let files: Vec<&str> = r.members.iter().map(|m| m.file_name.as_str()).collect();
    let _ = writeln!(
        t,
        "# Written by `rootwasm recipe new distro-upgrade` from {}.\n\
         {claims}# The upgrade fixes every older version too: affected is `<< new`.\n",
        files.join(", "),
    );
    let _ = writeln!(t, "id = {}", toml_str(r.id));
    t.push_str("type = \"distro-upgrade\"\n");
    let what = if r.fixes.is_empty() {
        "updated"
    } else {
        "fixed"
    };
    let summary = if group {
        let pkgs: Vec<&str> = r.members.iter().map(Member::package).collect();
        format!(
            "{}: upgrade {} to {}, the distribution's {what} packages",
            r.source.split(' ').next().unwrap_or_default(),
            pkgs.join(", "),
            first.deb.version()
        )
    } else {
        format!(
            "{}: upgrade to {}, the distribution's {what} package",
            first.package(),
            first.deb.version()
        )
    };
    let _ = writeln!(t, "summary = {}", toml_str(&summary));
    let _ = writeln!(
        t,
        "origin = {}",
        toml_str(&format!("Debian source package {}", r.source))
    );
    for f in r.fixes {
        let _ = write!(t, "\n[[fixes]]\nid = {}\n", toml_str(&f.id));
        if !f.aliases.is_empty() {
            let quoted: Vec<String> = f.aliases.iter().map(|a| toml_str(a)).collect();
            let _ = writeln!(t, "aliases = [{}]", quoted.join(", "));
        }
        let _ = write!(
            t,
            "severity = {}\npublished = {}\n",
            toml_str(f.severity.as_str()),
            toml_str(&f.published)
        );
    }
    let affected = |m: &Member| format!("<< {}", m.deb.version());
    let _ = write!(
        t,
        "\n[target]\necosystem = \"deb\"\npackage = {}\naffected = {}\narchitecture = {}\n",
        toml_str(first.package()),
        toml_str(&affected(first)),
        toml_str(r.arch)
    );
    for m in &r.members[1..] {
        let _ = write!(
            t,
            "\n[[target.siblings]]\npackage = {}\naffected = {}\n",
            toml_str(m.package()),
            toml_str(&affected(m)),
        );
    }
    let _ = write!(
        t,
        "\n[component]\npath = {}\nsha256 = {}\n",
        toml_str(r.component_rel),
        toml_str(&r.component_sha.to_string())
    );
    for m in r.members {
        let _ = write!(
            t,
            "\n[[artifacts]]\npath = {}\nsha256 = {}\nsource = {}\n",
            toml_str(&m.file_name),
            toml_str(&Sha256Hex::of(&m.bytes).to_string()),
            toml_str(&format!(
                "Debian archive: {} {} ({})",
                m.package(),
                m.deb.version(),
                m.deb.architecture()
            ))
        );
    }
    let may_remove = r.members.iter().all(|m| m.may_remove);
    t.push_str("\n[params]\n");
    if !group {
        // A group's packages are named by its artifacts.
        let _ = writeln!(t, "package = {}", toml_str(first.package()));
    }
    let _ = write!(
        t,
        "deb = {}\n{}remove-obsolete = {}\n",
        toml_str(&files.join(" ")),
        match (may_remove, group) {
            (true, false) => "# The old version's paths are in scope (from its file list).\n",
            (true, true) => "# The old versions' paths are in scope (from their file lists).\n",
            (false, _) => "",
        },
        toml_str(if may_remove { "true" } else { "false" })
    );
    let _ = write!(
        t,
        "\n[capabilities]\nread = {}\nwrite = {}\n",
        toml_list(r.read),
        toml_list(r.write)
    );
    let size: u64 = r.members.iter().map(|m| m.bytes.len() as u64).sum();
    let unpacked: u64 = r.members.iter().map(|m| m.unpacked).sum();
    let _ = write!(
        t,
        "\n[limits]\nfuel = {}\nmemory-bytes = {}\nwall-time-ms = 60000\nwritten-bytes = {}\n",
        20_000_000_000u64 + 200 * (size + unpacked),
        (64u64 << 20) + 4 * (size + unpacked),
        (1u64 << 20) + 2 * unpacked
    );

    t
}

/// Write `<recipes_dir>/<id>/recipe.toml` and the `.deb` beside it. An
/// existing recipe with the same id is left alone when it is the same, and
/// refused unless `force` when it differs.
pub fn distro_upgrade(o: &DistroUpgrade) -> Result<Outcome, NewError> {
    distro_upgrade_group(std::slice::from_ref(o))
}

/// One recipe for the binary packages of one source version (each with its
/// own options: its `.deb` and installed version), installed together; a
/// single package's recipe is [`distro_upgrade`]'s. The packages go in name
/// order, the first is the target and the others its siblings, and the
/// fixes are all of theirs.
pub fn distro_upgrade_group(group: &[DistroUpgrade]) -> Result<Outcome, NewError> {
    let Some(o) = group.first() else {
        return Err(NewError::Invalid("no package to upgrade".into()));
    };
    let mut members: Vec<Member> = group.iter().map(Member::new).collect::<Result<_, _>>()?;
    members.sort_by(|a, b| a.package().cmp(b.package()));
    let (source, arch) = one_source(&members)?;
    let id = match members.as_slice() {
        [one] => recipe_id(one.package(), one.deb.version(), one.deb.architecture()),
        _ => {
            let (name, ver) = source.split_once(' ').unwrap_or((&source, ""));
            recipe_id(&format!("source-{name}"), ver, &arch)
        }
    };
    let fixes: Vec<Fix> = {
        let mut seen = std::collections::BTreeSet::new();
        (members.iter_mut())
            .flat_map(|m| std::mem::take(&mut m.fixes))
            .filter(|f| seen.insert(f.id.clone()))
            .collect()
    };
    let read = union(members.iter_mut().map(|m| std::mem::take(&mut m.read)));
    let write = union(members.iter_mut().map(|m| std::mem::take(&mut m.write)));
    let dir = o.recipes_dir.join(&id);
    let toml_path = dir.join("recipe.toml");
    let existing = std::fs::read_to_string(&toml_path).ok();
    let (component_rel, component_sha) = component_pin(o)?;
    let t = render(&Rendered {
        id: &id,
        members: &members,
        arch: &arch,
        source: &source,
        fixes: &fixes,
        component_rel: &component_rel,
        component_sha: &component_sha,
        read: &read,
        write: &write,
    });
    let written = write_recipe(&dir, existing, &t, &members, o.force, &id)?;
    Ok(Outcome {
        dir,
        written,
        fixes: fixes.into_iter().map(|f| f.id).collect(),
    })
}

/// The members' source (`name version`) and architecture (the one other
/// than `all`, if any), or why they cannot be one recipe.
fn one_source(members: &[Member]) -> Result<(String, String), NewError> {
    let source = source_of(&members[0].deb);
    if let Some(m) = members.iter().find(|m| source_of(&m.deb) != source) {
        return Err(NewError::Invalid(format!(
            "{} is built from {}, not {source}: one recipe upgrades the packages of one source version",
            m.package(),
            source_of(&m.deb)
        )));
    }
    if let Some(w) = members
        .windows(2)
        .find(|w| w[0].package() == w[1].package())
    {
        return Err(NewError::Invalid(format!(
            "{} is given twice",
            w[0].package()
        )));
    }
    // A source's packages for one architecture, with those for all of them.
    let archs: std::collections::BTreeSet<&str> = (members.iter())
        .map(|m| m.deb.architecture())
        .filter(|a| *a != "all")
        .collect();
    let arch = match archs.len() {
        0 => "all",
        1 => archs.first().copied().unwrap_or("all"),
        _ => {
            return Err(NewError::Invalid(format!(
                "the packages are built for several architectures ({}): one recipe per architecture",
                archs.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    };
    Ok((source, arch.to_owned()))
}

/// Write the recipe `t` and its `.deb`s into `dir`, unless the same are
/// there; a different recipe there is replaced only with `force`.
fn write_recipe(
    dir: &Path,
    existing: Option<String>,
    t: &str,
    members: &[Member],
    force: bool,
    id: &str,
) -> Result<Written, NewError> {
    let same_debs = || {
        (members.iter()).all(|m| std::fs::read(dir.join(&m.file_name)).is_ok_and(|b| b == m.bytes))
    };
    let written = match existing {
        Some(e) if e == t && same_debs() => Written::Unchanged,
        Some(_) if !force => {
            return Err(NewError::Invalid(format!(
                "{} already holds a different recipe {id}; keep it, or replace it with --force",
                dir.display()
            )));
        }
        Some(_) => Written::Replaced,
        None => Written::New,
    };
    if written != Written::Unchanged {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for m in members {
            let deb_out = dir.join(&m.file_name);
            std::fs::write(&deb_out, &m.bytes).map_err(io(&deb_out))?;
        }
        let toml_path = dir.join("recipe.toml");
        std::fs::write(&toml_path, t).map_err(io(&toml_path))?;
    }
    Ok(written)
}

/// The binary package's name and its source package's.
fn names(deb: &Deb) -> [String; 2] {
    let source = source_of(deb);
    let name = source.split(' ').next().unwrap_or(deb.package());
    [deb.package().to_owned(), name.to_owned()]
}

/// `Source: glibc (2.36-9+deb12u14)` or `Source: expat` with the binary's
/// version: the source package and the version it was built from.
fn source_of(deb: &Deb) -> String {
    let field = deb.control.get("Source").unwrap_or(deb.package());
    let mut parts = field.split_whitespace();
    let name = parts.next().unwrap_or(deb.package());
    let ver = parts
        .next()
        .map(|v| v.trim_matches(|c| c == '(' || c == ')'))
        .unwrap_or(deb.version());
    format!("{name} {ver}")
}

#[cfg(test)]
mod tests {
    use crate::advisory::{Advisory, Affected, Details};
    use crate::recipe::Severity;

    fn advisory(id: &str, aliases: &[&str], package: &str, severity: Severity) -> Advisory {
        Advisory {
            id: id.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ecosystem: crate::ecosystem::Ecosystem::Deb,
            package: package.into(),
            affected: Affected::Exactly("1".into()),
            source: "osv",
            details: Details {
                severity: Some(severity),
                published: Some("2024-01-02".into()),
                ..Default::default()
            },
        }
    }

    /// A fix takes the advisory for its own package first, and the
    /// aliases of every advisory naming it (valid ids only).
    #[test]
    fn advisories_rate_and_alias_fixes() {
        let all = [
            advisory(
                "CVE-2024-1",
                &["GHSA-aaaa-bbbb-cccc"],
                "other",
                Severity::Low,
            ),
            advisory(
                "DEBIAN-CVE-2024-1",
                &["CVE-2024-1", "DSA-1-1"],
                "expat",
                Severity::High,
            ),
        ];
        let mut fixes = [super::Fix::new("CVE-2024-1".into(), "2025-05-05".into())];
        super::from_advisories(&mut fixes, &all, &["libexpat1", "expat"]);
        assert_eq!(fixes[0].severity, Severity::High);
        assert_eq!(fixes[0].published, "2024-01-02");
        assert_eq!(fixes[0].aliases, ["DSA-1-1", "GHSA-aaaa-bbbb-cccc"]);
        let mut none = [super::Fix::new("CVE-2024-9".into(), "2025-05-05".into())];
        super::from_advisories(&mut none, &all, &["expat"]);
        assert_eq!(
            (none[0].severity, none[0].published.as_str()),
            (Severity::Unknown, "2025-05-05")
        );
    }

    #[test]
    fn vulnerability_ids() {
        for ok in [
            "CVE-2024-45490",
            "CVE-2026-102633",
            "GHSA-5qpq-xqfv-j9pg",
            "DSA-5899-1",
            "DLA-4123-1",
            "TEMP-0000000-1C2F67",
        ] {
            assert!(super::valid_vulnerability_id(ok), "{ok}");
        }
        for bad in [
            "TZDATA-2026F",
            "CVE-24-1",
            "GHSA-12-34",
            "cve-2024-45490",
            "DSA-x-1",
            "",
        ] {
            assert!(!super::valid_vulnerability_id(bad), "{bad}");
        }
    }

    #[test]
    fn bin_nmus_have_the_source_entry() {
        assert_eq!(super::source_version("1.0.9-2+b6"), "1.0.9-2");
        assert_eq!(super::source_version("2.5.0-1+deb12u1"), "2.5.0-1+deb12u1");
    }

    #[test]
    fn ids() {
        assert_eq!(
            super::recipe_id("libexpat1", "2.5.0-1+deb12u5", "amd64"),
            "debian-libexpat1-2.5.0-1-deb12u5-amd64"
        );
    }
}
