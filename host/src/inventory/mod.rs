//! What is installed in an image, read the way each ecosystem's own tools
//! read it, without running anything from the image.
//!
//! Today: dpkg (`/var/lib/dpkg/status` and distroless `status.d/`, with
//! licenses from DEP-5 copyright files), apk (`/lib/apk/db/installed`), rpm
//! (`rpmdb.sqlite`), Python distributions (`*.dist-info` and `*.egg-info`
//! anywhere, so virtualenvs count), npm packages
//! (`node_modules/**/package.json`, nested ones too), and the OS identity
//! from os-release. Each reader names the files it needs as globs, so an
//! image's layers keep exactly those when indexed. What a reader finds but
//! cannot read (an old rpm database, a damaged one) becomes a warning in the
//! result, never a failed scan.

pub mod apk;
pub mod copyright;
pub mod dpkg_deps;
pub mod rpmdb;

use crate::ecosystem::Ecosystem;
use crate::rootfs::{Kind, RootPath, RootView};
use serde::Serialize;

/// One installed package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    /// `deb`, `pypi`, ...
    pub ecosystem: crate::ecosystem::Ecosystem,
    /// Name as the ecosystem spells it.
    pub name: String,
    /// Installed version (with epoch for deb).
    pub version: String,
    /// Architecture, for OS packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Source package, for deb.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Declared licenses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Where it was found (the dpkg status file, a dist-info directory).
    pub location: String,
}

/// The OS, from os-release.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Os {
    /// `ID`, e.g. `debian`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`.
    pub version_id: String,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    pub codename: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
}

/// A language runtime (interpreter) installed in the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Runtime {
    /// `python` or `node`.
    pub name: String,
    /// Exact version, e.g. `3.11.7`.
    pub version: String,
    /// The file the version was read from (for a Debian-packaged
    /// interpreter, the interpreter itself: the version is its package's).
    pub location: String,
    /// The OS package that installed it, when that package's file list names
    /// `location` (dpkg's `info/*.list`, apk's database). Such a runtime is
    /// that package in the SBOM; one without, outside `/usr` or under
    /// `/usr/local` (an official image's build), is a package of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl Runtime {
    /// An interpreter no OS package installed (an official image's
    /// `/usr/local` build) is a package of its own, `pkg:generic/<name>`
    /// as Syft names it: recipes target it, the SBOM lists it, the VEX can
    /// say it is fixed. One a package installed is that package already.
    fn as_package(&self) -> Option<Package> {
        // Under /usr but not /usr/local, with no owner recorded, it is the
        // OS's: an rpm's, whose file lists are not read. That rpm is the
        // package; the interpreter is neither listed again nor a target.
        let os_prefix =
            self.location.starts_with("/usr/") && !self.location.starts_with("/usr/local/");
        (self.package.is_none() && !os_prefix).then(|| Package {
            ecosystem: crate::ecosystem::Ecosystem::Generic,
            name: self.name.clone(),
            version: self.version.clone(),
            arch: None,
            source: None,
            licenses: Vec::new(),
            location: self.location.clone(),
        })
    }
}

/// Everything found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    /// The OS, if an os-release was found.
    pub os: Option<Os>,
    /// Interpreters, from the version headers their installs leave behind.
    pub runtimes: Vec<Runtime>,
    /// Packages, sorted by ecosystem, name, version, location; runtimes no
    /// OS package installed among them as `generic` packages.
    pub packages: Vec<Package>,
    /// Package databases found but not (fully) read, each saying what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Files the readers need; an image index must keep them.
pub const FILES: &[&str] = &[
    "/etc/os-release",
    "/usr/lib/os-release",
    "/var/lib/dpkg/status",
    "/var/lib/dpkg/status.d/*",
    "/var/lib/dpkg/info/*.list",
    "/usr/share/doc/*/copyright",
    apk::INSTALLED,
    rpmdb::SQLITE_PATHS[0],
    rpmdb::SQLITE_PATHS[1],
    "/**/*.dist-info/METADATA",
    "/**/*.egg-info/PKG-INFO",
    "/**/*.egg-info",
    "/**/node_modules/*/package.json",
    "/**/node_modules/@*/*/package.json",
    "/**/include/python3*/patchlevel.h",
    "/**/include/node/node_version.h",
    "/**/specifications/*.gemspec",
    "/**/specifications/default/*.gemspec",
    "/**/rbconfig.rb",
];

/// `#define NAME value` from a C header.
fn define<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("#define")?.trim_start();
        let value = rest.strip_prefix(name)?;
        value
            .starts_with([' ', '\t'])
            .then(|| value.trim().trim_matches('"'))
    })
}

fn runtime(view: &dyn RootView, include: &RootPath, name: &str) -> Option<Runtime> {
    if name.starts_with("python3") {
        let loc = format!("{include}/{name}/patchlevel.h");
        let v = define(&read(view, &loc)?, "PY_VERSION")?.to_owned();
        return Some(Runtime {
            name: "python".into(),
            version: v,
            location: loc,
            package: None,
        });
    }
    if name == "node" {
        let loc = format!("{include}/node/node_version.h");
        let h = read(view, &loc)?;
        let v = format!(
            "{}.{}.{}",
            define(&h, "NODE_MAJOR_VERSION")?,
            define(&h, "NODE_MINOR_VERSION")?,
            define(&h, "NODE_PATCH_VERSION")?
        );
        return Some(Runtime {
            name: "node".into(),
            version: v,
            location: loc,
            package: None,
        });
    }
    None
}

fn read(view: &dyn RootView, path: &str) -> Option<String> {
    String::from_utf8(read_bytes(view, path, MAX_TEXT).ok()??).ok()
}

/// Text files the readers parse are small; anything bigger is not what we expect.
const MAX_TEXT: u64 = 64 << 20;

/// A regular file's bytes: `Ok(None)` if absent or not a file, an error if larger than `max`.
fn read_bytes(view: &dyn RootView, path: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
    let Ok(p) = RootPath::lexical(path) else {
        return Ok(None);
    };
    let Some(m) = view.lstat(&p).ok().flatten() else {
        return Ok(None);
    };
    if m.kind != Kind::File {
        return Ok(None);
    }
    if m.size > max {
        return Err(format!(
            "{path} is {} bytes, more than the {max} rootwasm reads",
            m.size
        ));
    }
    view.read(&p)
        .map(Some)
        .map_err(|e| format!("{path}: cannot read it: {e}"))
}

fn exists(view: &dyn RootView, path: &str) -> bool {
    size(view, path).is_some()
}

/// Whether `path` exists (as anything) and its size; content need not be captured.
fn size(view: &dyn RootView, path: &str) -> Option<u64> {
    let p = RootPath::lexical(path).ok()?;
    view.lstat(&p).ok().flatten().map(|m| m.size)
}

/// Debian's interpreters ship no header without `-dev`: when `/usr/bin/python3.X`
/// belongs to an installed `python3.X-minimal` (per its dpkg file list, when
/// there is one), the runtime version is that package's upstream version
/// (`3.11.2-6+deb12u2` gives `3.11.2`; a `~rc1` becomes `rc1`).
fn dpkg_python(view: &dyn RootView, packages: &[Package], runtimes: &[Runtime]) -> Vec<Runtime> {
    let mut out = Vec::new();
    for p in packages.iter().filter(|p| p.ecosystem == Ecosystem::Deb) {
        let Some(minor) = p
            .name
            .strip_prefix("python3.")
            .and_then(|r| r.strip_suffix("-minimal"))
            .filter(|m| !m.is_empty() && m.bytes().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        let bin = format!("/usr/bin/python3.{minor}");
        let owned = match read(view, &format!("/var/lib/dpkg/info/{}.list", p.name)) {
            Some(list) => list.lines().any(|l| l == bin),
            None => true,
        };
        let upstream = p
            .version
            .split_once(':')
            .map_or(p.version.as_str(), |(_, v)| v);
        let upstream = upstream.rsplit_once('-').map_or(upstream, |(u, _)| u);
        let version = upstream.replace('~', "");
        let covered = runtimes
            .iter()
            .any(|r| r.name == "python" && r.version.starts_with(&format!("3.{minor}.")));
        if owned && !covered && exists(view, &bin) {
            out.push(Runtime {
                name: "python".into(),
                version,
                location: bin,
                package: Some(p.name.clone()),
            });
        }
    }
    out
}

/// Debian's `nodejs` ships no `node_version.h` (that is `libnode-dev`): when
/// the package is installed and owns `/usr/bin/node`, the runtime is its
/// upstream version (`18.19.0+dfsg-6~deb12u2` gives `18.19.0`).
fn dpkg_node(view: &dyn RootView, packages: &[Package], runtimes: &[Runtime]) -> Option<Runtime> {
    let p = packages
        .iter()
        .find(|p| p.ecosystem == Ecosystem::Deb && p.name == "nodejs")?;
    let owned = read(view, "/var/lib/dpkg/info/nodejs.list")
        .is_none_or(|list| list.lines().any(|l| l == "/usr/bin/node"));
    if !owned || runtimes.iter().any(|r| r.name == "node") || !exists(view, "/usr/bin/node") {
        return None;
    }
    let upstream = p
        .version
        .split_once(':')
        .map_or(p.version.as_str(), |(_, v)| v);
    let upstream = upstream.rsplit_once('-').map_or(upstream, |(u, _)| u);
    let version = upstream.split(['+', '~']).next().unwrap_or(upstream);
    Some(Runtime {
        name: "node".into(),
        version: version.into(),
        location: "/usr/bin/node".into(),
        package: Some(p.name.clone()),
    })
}

fn rpm_packages(view: &dyn RootView, out: &mut Vec<Package>, warnings: &mut Vec<String>) {
    for path in rpmdb::SQLITE_PATHS {
        match read_bytes(view, path, rpmdb::MAX_DB_BYTES) {
            Ok(None) => {}
            Ok(Some(bytes)) => match rpmdb::read(&bytes, path) {
                Ok((ps, ws)) => {
                    out.extend(ps);
                    warnings.extend(ws);
                }
                Err(e) => warnings.push(e),
            },
            Err(e) => warnings.push(format!("{e}; its RPM packages are not listed")),
        }
        let wal = format!("{path}-wal");
        if size(view, &wal).is_some_and(|n| n > 0) {
            warnings.push(format!(
                "{wal} holds changes not yet checkpointed into {path}; RPM packages they add or remove are not reflected"
            ));
        }
    }
    for (path, kind) in rpmdb::UNSUPPORTED {
        if exists(view, path) {
            warnings.push(format!(
                "{path} is an rpm {kind} database, which rootwasm does not read yet: RPM packages in this image are not listed (rpm >= 4.16 with a SQLite rpmdb is supported; `rpmdb --rebuilddb` with %_db_backend sqlite converts one)"
            ));
        }
    }
}

/// RFC 822-style stanzas (dpkg status, Python metadata headers): field name
/// to value, continuation lines joined with newlines.
fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn field<'a>(s: &'a [(String, String)], name: &str) -> Option<&'a str> {
    s.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn os(view: &dyn RootView) -> Option<Os> {
    let text = read(view, "/etc/os-release").or_else(|| read(view, "/usr/lib/os-release"))?;
    let mut os = Os::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_owned();
        match k.trim() {
            "ID" => os.id = v,
            "VERSION_ID" => os.version_id = v,
            "VERSION_CODENAME" => os.codename = v,
            "PRETTY_NAME" => os.pretty_name = v,
            _ => {}
        }
    }
    Some(os)
}

fn dpkg_packages(text: &str, location: &str, out: &mut Vec<Package>) {
    for s in stanzas(text) {
        // Only what dpkg considers installed (`Status: want ok installed`).
        let installed =
            field(&s, "Status").is_none_or(|st| st.split_whitespace().nth(2) == Some("installed"));
        let (Some(name), Some(version)) = (field(&s, "Package"), field(&s, "Version")) else {
            continue;
        };
        if !installed {
            continue;
        }
        let source =
            field(&s, "Source").map(|src| src.split_whitespace().next().unwrap_or(src).to_owned());
        out.push(Package {
            ecosystem: Ecosystem::Deb,
            name: name.into(),
            version: version.into(),
            arch: field(&s, "Architecture").map(str::to_owned),
            source,
            licenses: Vec::new(),
            location: location.into(),
        });
    }
}

fn python_package(meta: &str, location: &str) -> Option<Package> {
    // Only the header block: the body is the long description.
    let head = meta.split("\n\n").next().unwrap_or(meta);
    let s = stanzas(head).into_iter().next()?;
    let mut licenses: Vec<String> = Vec::new();
    if let Some(l) = field(&s, "License-Expression") {
        licenses.push(l.into());
    } else if let Some(l) =
        field(&s, "License").filter(|l| !l.is_empty() && l.len() < 100 && !l.contains('\n'))
    {
        licenses.push(l.into());
    }
    for (k, v) in &s {
        if k == "Classifier"
            && let Some(l) = v.strip_prefix("License :: OSI Approved :: ")
            && !licenses.iter().any(|x| x == l)
        {
            licenses.push(l.into());
        }
    }
    Some(Package {
        ecosystem: Ecosystem::Pypi,
        name: field(&s, "Name")?.into(),
        version: field(&s, "Version")?.into(),
        arch: None,
        source: None,
        licenses,
        location: location.into(),
    })
}

fn npm_package(json: &str, location: &str) -> Option<Package> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let license = match &v["license"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("type").and_then(|t| t.as_str()).map(str::to_owned),
        _ => None,
    };
    Some(Package {
        ecosystem: Ecosystem::Npm,
        name: v["name"].as_str()?.into(),
        version: v["version"].as_str()?.into(),
        arch: None,
        source: None,
        licenses: license.into_iter().collect(),
        location: location.into(),
    })
}

/// A gem from its installed `specifications/<name>-<version>.gemspec`, the
/// Ruby file `gem install` (and Debian's rubygems-integration) writes:
/// `s.name = "rack".freeze` and `s.version = "2.2.22"` lines, read, never run.
fn gem_package(spec: &str, location: &str) -> Option<Package> {
    let value = |key: &str| {
        spec.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(key)?.trim_start().strip_prefix('=')?;
            let v = rest.trim().trim_end_matches(".freeze").trim();
            let v = v
                .strip_prefix("Gem::Version.new(")
                .map_or(v, |x| x.trim_end_matches(')'));
            Some(v.trim_matches('"').trim_matches('\'').to_owned())
        })
    };
    let licenses = value("s.licenses")
        .map(|l| {
            l.trim_matches(['[', ']'])
                .split(',')
                .map(|x| {
                    x.trim()
                        .trim_end_matches(".freeze")
                        .trim_matches('"')
                        .to_owned()
                })
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Some(Package {
        ecosystem: Ecosystem::Gem,
        name: value("s.name")?,
        version: value("s.version")?,
        arch: None,
        source: None,
        licenses,
        location: location.into(),
    })
}

/// The Ruby version from an installed `rbconfig.rb` (official images under
/// `/usr/local/lib/ruby`, Debian's under `/usr/lib/<triplet>/ruby`):
/// `CONFIG["MAJOR"]`, `["MINOR"]` and `["TEENY"]`, which
/// `RUBY_PROGRAM_VERSION` is made of.
fn ruby_runtime(view: &dyn RootView, path: &str) -> Option<Runtime> {
    let text = read(view, path)?;
    let get = |key: &str| {
        let prefix = format!("CONFIG[\"{key}\"]");
        text.lines().find_map(|l| {
            let v = l
                .trim()
                .strip_prefix(prefix.as_str())?
                .trim_start()
                .strip_prefix('=')?;
            let v = v.trim().trim_matches('"');
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.to_owned())
        })
    };
    Some(Runtime {
        name: "ruby".into(),
        version: format!("{}.{}.{}", get("MAJOR")?, get("MINOR")?, get("TEENY")?),
        location: path.into(),
        package: None,
    })
}

fn gem_specs(view: &dyn RootView, dir: &RootPath, out: &mut Vec<Package>) {
    let Ok(entries) = view.read_dir(dir) else {
        return;
    };
    for (name, kind) in entries {
        let p = dir.join(&name);
        if kind == Kind::File && name.ends_with(".gemspec") {
            if let Some(t) = read(view, p.as_str()) {
                out.extend(gem_package(&t, p.as_str()));
            }
        } else if kind == Kind::Dir && name == "default" {
            gem_specs(view, &p, out);
        }
    }
}

/// Record the OS package whose file list names each runtime's location: a
/// dpkg `info/<pkg>.list` or an apk database stanza (`F:` directory, `R:`
/// file), each read once. rpm's file lists are not read: a runtime under
/// `/usr` with no owner is taken as an rpm's (`Runtime::as_package`).
fn os_owners(view: &dyn RootView, runtimes: &mut [Runtime]) {
    let mut unowned: Vec<&mut Runtime> = runtimes
        .iter_mut()
        .filter(|r| r.package.is_none())
        .collect();
    if unowned.is_empty() {
        return;
    }
    if let Ok(info) = RootPath::lexical("/var/lib/dpkg/info") {
        for (name, kind) in view.read_dir(&info).unwrap_or_default() {
            let Some(pkg) = name.strip_suffix(".list").filter(|_| kind == Kind::File) else {
                continue;
            };
            let Some(list) = read(view, info.join(&name).as_str()) else {
                continue;
            };
            let pkg = pkg.split(':').next().unwrap_or(pkg);
            for r in unowned.iter_mut().filter(|r| r.package.is_none()) {
                if list.lines().any(|l| l == r.location) {
                    r.package = Some(pkg.to_owned());
                }
            }
        }
    }
    if let Some(db) = read(view, apk::INSTALLED) {
        for r in unowned.iter_mut().filter(|r| r.package.is_none()) {
            r.package = apk::owner(&db, &r.location);
        }
    }
}

/// Walk every directory once, collecting python distributions, npm packages and runtimes.
fn walk(view: &dyn RootView, dir: &RootPath, out: &mut Vec<Package>, runtimes: &mut Vec<Runtime>) {
    let Ok(entries) = view.read_dir(dir) else {
        return;
    };
    for (name, kind) in entries {
        let p = dir.join(&name);
        if kind == Kind::File && name == "rbconfig.rb" {
            runtimes.extend(ruby_runtime(view, p.as_str()));
        }
        if kind != Kind::Dir && !(kind == Kind::File && name.ends_with(".egg-info")) {
            continue;
        }
        if name == "specifications" {
            gem_specs(view, &p, out);
            continue;
        }
        if name.ends_with(".dist-info") {
            if let Some(m) = read(view, &format!("{p}/METADATA")) {
                out.extend(python_package(&m, p.as_str()));
            }
        } else if name.ends_with(".egg-info") {
            let m = if kind == Kind::Dir {
                read(view, &format!("{p}/PKG-INFO"))
            } else {
                read(view, p.as_str())
            };
            if let Some(m) = m {
                out.extend(python_package(&m, p.as_str()));
            }
        } else if kind == Kind::Dir && !matches!(p.as_str(), "/proc" | "/sys" | "/dev") {
            // node_modules/<pkg> and node_modules/@scope/<pkg> are installed npm packages.
            let parent = dir.file_name();
            let grand = dir.parent();
            if (parent == "node_modules"
                || (parent.starts_with('@') && grand.file_name() == "node_modules"))
                && let Some(j) = read(view, &format!("{p}/package.json"))
            {
                out.extend(npm_package(&j, &format!("{p}/package.json")));
            }
            if parent == "include"
                && let Some(r) = runtime(view, dir, &name)
            {
                runtimes.push(r);
            }
            walk(view, &p, out, runtimes);
        }
    }
}

/// Read the inventory of the tree behind `view`.
pub fn inventory(view: &dyn RootView) -> Inventory {
    let mut packages = Vec::new();
    let mut warnings = Vec::new();
    if let Some(t) = read(view, "/var/lib/dpkg/status") {
        dpkg_packages(&t, "/var/lib/dpkg/status", &mut packages);
    }
    if let Ok(entries) = view.read_dir(&RootPath::lexical("/var/lib/dpkg/status.d").expect("valid"))
    {
        for (name, kind) in entries {
            let loc = format!("/var/lib/dpkg/status.d/{name}");
            if kind == Kind::File
                && !name.ends_with(".md5sums")
                && let Some(t) = read(view, &loc)
            {
                dpkg_packages(&t, &loc, &mut packages);
            }
        }
    }
    for p in packages.iter_mut() {
        if let Some(t) = read(view, &copyright::path(&p.name)) {
            p.licenses = copyright::licenses(&t);
        }
    }
    if let Some(t) = read(view, apk::INSTALLED) {
        packages.extend(apk::packages(&t, apk::INSTALLED));
    }
    rpm_packages(view, &mut packages, &mut warnings);
    let mut runtimes = Vec::new();
    walk(view, &RootPath::root(), &mut packages, &mut runtimes);
    let debian_python = dpkg_python(view, &packages, &runtimes);
    runtimes.extend(debian_python);
    let debian_node = dpkg_node(view, &packages, &runtimes);
    runtimes.extend(debian_node);
    os_owners(view, &mut runtimes);
    packages.extend(runtimes.iter().filter_map(Runtime::as_package));
    packages.sort_by(|a, b| {
        (&a.ecosystem, &a.name, &a.version, &a.location).cmp(&(
            &b.ecosystem,
            &b.name,
            &b.version,
            &b.location,
        ))
    });
    Inventory {
        os: os(view),
        runtimes,
        packages,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An interpreter is a package of its own unless an OS package owns it,
    /// or, under /usr outside /usr/local, probably does (rpm's file lists
    /// are not read).
    #[test]
    fn only_interpreters_no_os_package_installed_are_packages() {
        let at = |location: &str, package: Option<&str>| Runtime {
            name: "python".into(),
            version: "3.11.7".into(),
            location: location.into(),
            package: package.map(Into::into),
        };
        let own = at("/usr/local/include/python3.11/patchlevel.h", None)
            .as_package()
            .unwrap();
        assert_eq!(
            (own.ecosystem, own.name.as_str(), own.version.as_str()),
            (crate::ecosystem::Ecosystem::Generic, "python", "3.11.7")
        );
        assert!(
            at("/opt/python/include/python3.11/patchlevel.h", None)
                .as_package()
                .is_some()
        );
        assert!(
            at("/usr/include/python3.11/patchlevel.h", None)
                .as_package()
                .is_none()
        );
        let owned = at(
            "/usr/local/include/python3.11/patchlevel.h",
            Some("python3.11-dev"),
        );
        assert!(owned.as_package().is_none());
    }

    #[test]
    fn dpkg_status_keeps_installed_packages_only() {
        let status = "Package: libexpat1\nStatus: install ok installed\nArchitecture: amd64\nSource: expat (2.5.0-1)\nVersion: 2.5.0-1+deb12u2\nDescription: XML\n multi-line\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n";
        let mut out = Vec::new();
        dpkg_packages(status, "/var/lib/dpkg/status", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "libexpat1");
        assert_eq!(out[0].source.as_deref(), Some("expat"));
        assert_eq!(out[0].version, "2.5.0-1+deb12u2");
    }

    #[test]
    fn gemspecs_are_read_as_text() {
        let spec = "# stub: rack 2.2.22 ruby lib\nGem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.22\"\n  s.licenses = [\"MIT\".freeze]\n  s.summary = \"x\".freeze\nend\n";
        let p = gem_package(spec, "/usr/local/bundle/specifications/rack-2.2.22.gemspec").unwrap();
        assert_eq!(
            (p.ecosystem, p.name.as_str(), p.version.as_str()),
            (Ecosystem::Gem, "rack", "2.2.22")
        );
        assert_eq!(p.licenses, ["MIT"]);
        assert!(gem_package("s.summary = \"no name\"", "/x.gemspec").is_none());
    }

    #[test]
    fn python_metadata_headers_only() {
        let m = "Metadata-Version: 2.1\nName: requests\nVersion: 2.30.0\nLicense: Apache 2.0\nClassifier: License :: OSI Approved :: Apache Software License\n\nVersion: 9.9 (in the description)\n";
        let p = python_package(m, "/x").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("requests", "2.30.0")
        );
        assert_eq!(p.licenses, ["Apache 2.0", "Apache Software License"]);
    }
}
