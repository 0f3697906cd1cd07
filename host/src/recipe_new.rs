//! `rootwasm recipe new distro-upgrade`: write a recipe for a distribution's
//! fixed `.deb`, so a fix can exist as soon as the distribution publishes it.
//!
//! Everything in the recipe comes from the package itself: the target and
//! affected range from its control file, the vulnerabilities from its
//! `changelog.Debian.gz` entries newer than the installed version, and the
//! capabilities from its file list. The `.deb` is copied beside the
//! recipe.toml and pinned by sha256; the shared `dpkg-upgrade` component
//! does the installing.

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
}

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
}

/// The ids (CVE and GHSA) in changelog entries newer than `installed`, with
/// the date of the entry that first fixed each.
fn changelog_fixes(deb: &Deb, installed: Option<&str>) -> Result<Vec<Fix>, NewError> {
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
        return Err(NewError::Invalid(format!(
            "{pkg} ships no changelog.Debian.gz (its /usr/share/doc/{pkg} may link to another \
             package's); name the fixed vulnerabilities with --fix CVE-YYYY-NNNN"
        )));
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .take(64 << 20)
        .read_to_string(&mut text)
        .map_err(|e| NewError::Invalid(format!("{pkg}: reading changelog.Debian.gz: {e}")))?;
    let entries = changelog::parse(&text);
    let floor = installed.map(version).transpose()?;
    let mut out: Vec<Fix> = Vec::new();
    // Oldest first, so each id gets the date of the upload that first fixed it.
    for e in entries.iter().rev() {
        // An entry whose version dpkg could not parse is not an upload to compare.
        let Ok(v) = version(&e.version) else {
            continue;
        };
        if floor.as_ref().is_some_and(|f| v <= *f) {
            continue;
        }
        if floor.is_none() && e.version != deb.version() {
            continue;
        }
        let date = e.iso_date().unwrap_or_else(|| "1970-01-01".into());
        for id in e.cves().into_iter().chain(ghsa_ids(&e.changes)) {
            if !out.iter().any(|f| f.id == id) {
                out.push(Fix {
                    id,
                    published: date.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// `GHSA-xxxx-xxxx-xxxx` ids in text.
fn ghsa_ids(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            let parts: Vec<&str> = w.split('-').collect();
            parts.len() == 4
                && parts[0] == "GHSA"
                && parts[1..]
                    .iter()
                    .all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        })
        .map(str::to_owned)
        .collect()
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
    let fixes: Vec<Fix> = if o.fixes.is_empty() {
        changelog_fixes(deb, installed)?
    } else {
        o.fixes
            .iter()
            .map(|id| Fix {
                id: id.clone(),
                published: "1970-01-01".into(),
            })
            .collect()
    };
    if fixes.is_empty() {
        return Err(NewError::Invalid(format!(
            "the changelog of {pkg} {ver} names no CVE or GHSA newer than {}; \
             name the fixed vulnerabilities with --fix",
            installed.unwrap_or("the previous upload")
        )));
    }

    Ok(fixes)
}

/// The shared component's path relative to the recipe, and its sha256.
fn component_pin(o: &DistroUpgrade) -> Result<(String, Sha256Hex), NewError> {
    let component_rel = format!("../dpkg-upgrade/{SHARED_COMPONENT}");
    let component = o.recipes_dir.join("dpkg-upgrade").join(SHARED_COMPONENT);
    let component_sha = Sha256Hex::of(&std::fs::read(&component).map_err(|e| {
        NewError::Invalid(format!(
            "{}: {e}; build it first with `rootwasm recipe build {}`",
            component.display(),
            o.recipes_dir.join("dpkg-upgrade").display()
        ))
    })?);
    Ok((component_rel, component_sha))
}

/// What a generated recipe.toml says.
struct Rendered<'a> {
    file_name: &'a str,
    installed: Option<&'a str>,
    id: &'a str,
    pkg: &'a str,
    ver: &'a str,
    arch: &'a str,
    source: &'a str,
    fixes: &'a [Fix],
    affected: &'a str,
    component_rel: &'a str,
    component_sha: &'a Sha256Hex,
    deb_sha: &'a Sha256Hex,
    may_remove: bool,
    read: &'a [String],
    write: &'a [String],
    memory: u64,
    fuel: u64,
    written: u64,
}

// Long: a template, one statement per recipe.toml section in file order.
fn render(r: &Rendered<'_>) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Written by `rootwasm recipe new distro-upgrade` from {}.\n\
         # The fixes are the CVE/GHSA ids in its changelog entries newer than {}.\n",
        r.file_name,
        r.installed.unwrap_or("the previous upload")
    );
    let _ = writeln!(t, "id = {}", toml_str(r.id));
    t.push_str("type = \"distro-upgrade\"\n");
    let _ = writeln!(
        t,
        "summary = {}",
        toml_str(&format!(
            "{}: upgrade to {}, the distribution's fixed package",
            r.pkg, r.ver
        ))
    );
    let _ = writeln!(
        t,
        "origin = {}",
        toml_str(&format!("Debian source package {} {}", r.source, r.ver))
    );
    for f in r.fixes {
        let _ = write!(
            t,
            "\n[[fixes]]\nid = {}\nseverity = \"unknown\"\npublished = {}\n",
            toml_str(&f.id),
            toml_str(&f.published)
        );
    }
    let _ = write!(
        t,
        "\n[target]\necosystem = \"deb\"\npackage = {}\naffected = {}\narchitecture = {}\n",
        toml_str(r.pkg),
        toml_str(r.affected),
        toml_str(r.arch)
    );
    let _ = write!(
        t,
        "\n[component]\npath = {}\nsha256 = {}\n",
        toml_str(r.component_rel),
        toml_str(&r.component_sha.to_string())
    );
    let _ = write!(
        t,
        "\n[[artifacts]]\npath = {}\nsha256 = {}\nsource = {}\n",
        toml_str(r.file_name),
        toml_str(&r.deb_sha.to_string()),
        toml_str(&format!("Debian archive: {} {} ({})", r.pkg, r.ver, r.arch))
    );
    let _ = write!(
        t,
        "\n[params]\npackage = {}\ndeb = {}\n# The old version's paths are in scope (from --installed OLD.deb).\nremove-obsolete = {}\n",
        toml_str(r.pkg),
        toml_str(r.file_name),
        toml_str(if r.may_remove { "true" } else { "false" })
    );
    let _ = write!(
        t,
        "\n[capabilities]\nread = {}\nwrite = {}\n",
        toml_list(r.read),
        toml_list(r.write)
    );
    let _ = write!(
        t,
        "\n[limits]\nfuel = {}\nmemory-bytes = {}\nwall-time-ms = 60000\nwritten-bytes = {}\n",
        r.fuel, r.memory, r.written
    );

    t
}

/// Write `<recipes_dir>/<id>/recipe.toml` and the `.deb` beside it. Returns the recipe directory.
pub fn distro_upgrade(o: &DistroUpgrade) -> Result<PathBuf, NewError> {
    let (bytes, deb) = read_deb(&o.deb)?;
    let (pkg, ver, arch) = (deb.package(), deb.version(), deb.architecture());
    let may_remove = matches!(o.installed, Some(Installed::Deb(_)));
    let (installed, old_paths, old_deb) = installed(o, pkg)?;
    if let Some(inst) = &installed
        && version(inst)? >= version(ver)?
    {
        return Err(NewError::Invalid(format!(
            "{pkg} {ver} is not newer than the installed {inst}: nothing to upgrade"
        )));
    }
    let fixes = fixes_for(o, &deb, installed.as_deref())?;
    let (component_rel, component_sha) = component_pin(o)?;
    let file_name = o
        .deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{pkg}_{ver}_{arch}.deb"));
    let id = recipe_id(pkg, ver, arch);
    let dir = o.recipes_dir.join(&id);

    let (read, write) = capabilities(&deb, old_deb.as_ref(), old_paths);
    let unpacked: u64 = deb
        .data
        .iter()
        .map(|e| match &e.kind {
            EntryKind::File(d) => d.len() as u64,
            _ => 0,
        })
        .sum();
    let memory = (64u64 << 20) + 4 * (bytes.len() as u64 + unpacked);
    let affected = match &installed {
        Some(v) => format!(">= {v}, << {ver}"),
        None => format!("<< {ver}"),
    };
    let source = deb
        .control
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(pkg)
        .to_owned();

    let t = render(&Rendered {
        file_name: &file_name,
        installed: installed.as_deref(),
        id: &id,
        pkg,
        ver,
        arch,
        source: &source,
        fixes: &fixes,
        affected: &affected,
        component_rel: &component_rel,
        component_sha: &component_sha,
        deb_sha: &Sha256Hex::of(&bytes),
        may_remove,
        read: &read,
        write: &write,
        memory,
        fuel: 20_000_000_000u64 + 200 * (bytes.len() as u64 + unpacked),
        written: (1u64 << 20) + 2 * unpacked,
    });
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let deb_out = dir.join(&file_name);
    std::fs::write(&deb_out, &bytes).map_err(io(&deb_out))?;
    let toml_path = dir.join("recipe.toml");
    std::fs::write(&toml_path, t).map_err(io(&toml_path))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ghsa() {
        assert_eq!(
            super::ghsa_ids("fix for GHSA-5qpq-xqfv-j9pg (Closes: #1)"),
            ["GHSA-5qpq-xqfv-j9pg"]
        );
        assert!(super::ghsa_ids("GHSA-12-34").is_empty());
    }

    #[test]
    fn ids() {
        assert_eq!(
            super::recipe_id("libexpat1", "2.5.0-1+deb12u5", "amd64"),
            "debian-libexpat1-2.5.0-1-deb12u5-amd64"
        );
    }
}
