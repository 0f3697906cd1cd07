//! `recipe.toml`: what a recipe fixes, where, and what it may touch.
//!
//! Unknown fields are errors: a typo in a capability must never silently
//! widen or narrow what a recipe does. Reference: `docs/recipes.md`.

use crate::journal::Sha256Hex;
use crate::scope::Scope;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The kind of fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatchType {
    /// A fix from a newer release applied to the installed version, which keeps its version.
    Backport,
    /// The distribution's own fixed package replaces the installed one.
    DistroUpgrade,
}

/// One vulnerability a recipe fixes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Vulnerability {
    /// Primary id, e.g. `CVE-2023-32681`.
    pub id: String,
    /// Other ids for the same issue (GHSA, DSA, ...).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: Severity,
    /// When it was published, `YYYY-MM-DD`.
    pub published: String,
}

/// Severity as advisories state it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
    /// Not rated.
    Unknown,
}

impl Severity {
    /// The name as `recipe.toml` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
            Severity::Unknown => "unknown",
        }
    }
}

/// The package a recipe patches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Target {
    /// `pypi`, `npm`, `gem`, `deb`, `apk`, `rpm`, ...
    pub ecosystem: crate::ecosystem::Ecosystem,
    /// Package name in that ecosystem.
    pub package: String,
    /// Installed versions this recipe patches, in the ecosystem's range syntax.
    pub affected: String,
    /// Only packages built for this architecture (the package manager's
    /// name: `amd64`, `arm64`, ...). A distro upgrade installs one
    /// architecture's build; on the other platforms of a multi-platform
    /// image the recipe does not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Other binary packages built from the same source that a distro
    /// upgrade installs with `package` (`[[target.siblings]]`), each with
    /// its own range (their versions may differ, by an epoch say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<Sibling>,
}

/// One more package a distro upgrade targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Sibling {
    /// Package name.
    pub package: String,
    /// Its installed versions this recipe upgrades.
    pub affected: String,
}

impl Target {
    /// Every package targeted, with its range: `package` first, then the siblings.
    pub fn packages(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::once((self.package.as_str(), self.affected.as_str()))
            .chain((self.siblings.iter()).map(|s| (s.package.as_str(), s.affected.as_str())))
    }
}

/// A file of the recipe, pinned by hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pinned {
    /// Path relative to the recipe directory.
    pub path: String,
    /// Expected sha256, lowercase hex.
    pub sha256: String,
}

/// An extra file the recipe reads through the `artifacts` interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Artifact {
    /// Name the recipe asks for; defaults to the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// Path relative to the recipe directory.
    pub path: String,
    /// Expected sha256, lowercase hex.
    pub sha256: String,
    /// Where the file came from, for reviewers.
    #[serde(default)]
    pub source: Option<String>,
}

impl Artifact {
    /// The name the recipe uses.
    pub fn name(&self) -> &str {
        self.name
            .as_deref()
            .unwrap_or_else(|| self.path.rsplit('/').next().unwrap_or(&self.path))
    }
}

/// Rootfs paths the recipe may touch (absolute globs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Paths it may read.
    #[serde(default)]
    pub read: Vec<String>,
    /// Paths it may create, replace, remove or change (and read).
    #[serde(default)]
    pub write: Vec<String>,
}

/// Resource limits of one phase (`check` or `apply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Wasm fuel: the deterministic instruction budget.
    pub fuel: u64,
    /// Linear memory, bytes.
    pub memory_bytes: u64,
    /// Wall-clock backstop, milliseconds.
    pub wall_time_ms: u64,
    /// New file content the recipe may stage, bytes.
    pub written_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000_000,
            memory_bytes: 256 << 20,
            wall_time_ms: 60_000,
            written_bytes: 256 << 20,
        }
    }
}

/// A parsed `recipe.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RecipeToml {
    /// Unique id, e.g. `requests-cve-2023-32681`.
    pub id: String,
    /// Backport or distro upgrade.
    #[serde(rename = "type")]
    pub patch_type: PatchType,
    /// One line for humans.
    pub summary: String,
    /// Where the fix comes from (upstream commit, release, advisory).
    #[serde(default)]
    pub origin: Option<String>,
    /// Vulnerabilities fixed. Only a distro upgrade may name none: a plain
    /// update (`recipe sync --all-updates`), which claims no fix.
    #[serde(rename = "fixes", default)]
    pub fixes: Vec<Vulnerability>,
    /// The package patched.
    pub target: Target,
    /// The wasm component.
    pub component: Pinned,
    /// Extra files.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// Scope.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Per-phase limits.
    #[serde(default)]
    pub limits: Limits,
    /// Parameter defaults; operators override them with `--param`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// Why a recipe could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML or schema error.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong, with the field.
        message: String,
    },
    /// A pinned file has another hash.
    #[error(
        "{path}: sha256 is {actual}, but recipe.toml pins {expected}; rebuild with `rootwasm recipe build` or fix the pin"
    )]
    HashMismatch {
        /// File.
        path: PathBuf,
        /// Pinned.
        expected: String,
        /// Found.
        actual: String,
    },
}

/// A recipe directory: its manifest, verified component bytes and artifacts.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// Directory it was loaded from.
    pub dir: PathBuf,
    /// Parsed manifest.
    pub manifest: RecipeToml,
    /// The component's bytes, hash-checked.
    pub component: Vec<u8>,
    /// Artifacts by name, hash-checked.
    pub artifacts: BTreeMap<String, (Sha256Hex, Vec<u8>)>,
    /// Compiled scope.
    pub scope: Scope,
    /// sha256 of the `recipe.toml` bytes it was parsed from (for provenance).
    pub toml_sha256: Sha256Hex,
}

impl RecipeToml {
    /// Parse `recipe.toml` text; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, RecipeError> {
        let invalid = |message: String| RecipeError::Invalid {
            path: path.into(),
            message,
        };
        let m: RecipeToml = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if m.id.is_empty()
            || !m
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(format!(
                "id {:?} must be non-empty and use only [A-Za-z0-9._-]",
                m.id
            )));
        }
        if m.fixes.is_empty() && m.patch_type != PatchType::DistroUpgrade {
            return Err(invalid(
                "`fixes` must name at least one vulnerability (only a distro-upgrade may be a plain update that names none)".into(),
            ));
        }
        if !m.target.siblings.is_empty() && m.patch_type != PatchType::DistroUpgrade {
            return Err(invalid(
                "only a distro-upgrade may target `siblings` (binary packages of one source)"
                    .into(),
            ));
        }
        let mut targeted = std::collections::BTreeSet::new();
        for (p, _) in m.target.packages() {
            if !targeted.insert(p) {
                return Err(invalid(format!("target package {p:?} is named twice")));
            }
        }
        for f in &m.fixes {
            if !is_date(&f.published) {
                return Err(invalid(format!(
                    "fixes {}: published {:?} is not YYYY-MM-DD",
                    f.id, f.published
                )));
            }
        }
        check_component(&m.component.path).map_err(invalid)?;
        for a in &m.artifacts {
            check_relative(&a.path).map_err(invalid)?;
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &m.artifacts {
            if !names.insert(a.name()) {
                return Err(invalid(format!(
                    "artifact name {:?} is declared twice",
                    a.name()
                )));
            }
        }
        Scope::new(&m.capabilities.read, &m.capabilities.write)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(m)
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The component may be the recipe's own or a shared one in a sibling
/// directory of the same collection (`../dpkg-upgrade/component.wasm`), so
/// one audited component can serve many recipes. It is pinned by sha256
/// either way.
fn check_component(p: &str) -> Result<(), String> {
    match p.strip_prefix("../") {
        Some(rest) if rest.contains('/') => check_relative(rest),
        _ => check_relative(p),
    }
    .map_err(|_| {
        format!(
            "component path {p:?} must stay inside the recipe directory or name a sibling recipe directory (`../<dir>/<file>.wasm`)"
        )
    })
}

/// Recipe files must stay inside the recipe directory.
fn check_relative(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if p.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "file path {p:?} must be relative and stay inside the recipe directory"
        ));
    }
    Ok(())
}

/// Read a recipe file and check it against its pinned sha256.
///
/// `rel` was checked by [`check_relative`]/[`check_component`]; here every
/// component below the recipe directory (or, for `../<dir>/<file>`, below the
/// collection) must be a real directory and the last a regular file: a
/// symlink anywhere would load a host file into the image, and the hash
/// mismatch error would then tell the file's sha256 to whoever wrote the recipe.
fn read_pinned(dir: &Path, rel: &str, expected: &str) -> Result<(Sha256Hex, Vec<u8>), RecipeError> {
    let path = dir.join(rel);
    let bytes = read_inside(dir, rel).map_err(|e| match e {
        Inside::Io(source) => RecipeError::Io {
            path: path.clone(),
            source,
        },
        Inside::Refused(message) => RecipeError::Invalid {
            path: path.clone(),
            message,
        },
    })?;
    let actual = Sha256Hex::of(&bytes);
    if actual.as_str() != expected.to_ascii_lowercase() {
        return Err(RecipeError::HashMismatch {
            path,
            expected: expected.into(),
            actual: actual.to_string(),
        });
    }
    Ok((actual, bytes))
}

enum Inside {
    Io(std::io::Error),
    Refused(String),
}

/// Open `rel` under `dir` one component at a time, following no symlink.
fn read_inside(dir: &Path, rel: &str) -> Result<Vec<u8>, Inside> {
    use rustix::fs::{Mode, OFlags};
    let (base, rest) = match rel.strip_prefix("../") {
        Some(rest) => (dir.join(".."), rest),
        None => (dir.to_owned(), rel),
    };
    let names: Vec<&str> = rest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let Some((file, parents)) = names.split_last() else {
        return Err(Inside::Refused("names no file".into()));
    };
    if names.contains(&"..") {
        return Err(Inside::Refused(
            "must stay inside the recipe directory (no `..`)".into(),
        ));
    }
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut d =
        rustix::fs::open(&base, dir_flags, Mode::empty()).map_err(|e| Inside::Io(e.into()))?;
    for (i, c) in parents.iter().enumerate() {
        d = rustix::fs::openat(&d, *c, dir_flags | OFlags::NOFOLLOW, Mode::empty()).map_err(
            |e| {
                let at = parents[..=i].join("/");
                match rustix::fs::statat(&d, *c, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_symlink() => {
                        Inside::Refused(format!(
                            "{at} is a symlink; recipe files must be inside the recipe directory, not reached through symlinks"
                        ))
                    }
                    Ok(_) => Inside::Refused(format!("{at} is not a directory")),
                    Err(_) => Inside::Io(e.into()),
                }
            },
        )?;
    }
    // NONBLOCK: opening a FIFO must not hang; it is refused below.
    let fd = rustix::fs::openat(
        &d,
        *file,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            Inside::Refused(
                "is a symlink; recipe files must be regular files inside the recipe directory"
                    .into(),
            )
        } else {
            Inside::Io(e.into())
        }
    })?;
    let mut f = std::fs::File::from(fd);
    let meta = f.metadata().map_err(Inside::Io)?;
    if !meta.is_file() {
        return Err(Inside::Refused(
            "must be a regular file, not a symlink, directory or device".into(),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(1 << 24) as usize);
    std::io::Read::read_to_end(&mut f, &mut bytes).map_err(Inside::Io)?;
    Ok(bytes)
}

impl Recipe {
    /// Load `dir/recipe.toml`, then read and hash-check the component and artifacts.
    pub fn load(dir: &Path) -> Result<Self, RecipeError> {
        let (manifest, artifact_bytes, toml_sha256) = Self::load_parts(dir)?;
        let (_, component) =
            read_pinned(dir, &manifest.component.path, &manifest.component.sha256)?;
        let artifacts = artifact_bytes;
        let scope =
            Scope::new(&manifest.capabilities.read, &manifest.capabilities.write).map_err(|e| {
                RecipeError::Invalid {
                    path: dir.join("recipe.toml"),
                    message: e.to_string(),
                }
            })?;
        Ok(Recipe {
            dir: dir.to_owned(),
            manifest,
            component,
            artifacts,
            scope,
            toml_sha256,
        })
    }

    /// Load the manifest and hash-checked artifacts only, for native tests
    /// that run the recipe as Rust and need no component.
    pub fn load_without_component(
        dir: &Path,
    ) -> Result<(RecipeToml, BTreeMap<String, Vec<u8>>), RecipeError> {
        let (m, a, _) = Self::load_parts(dir)?;
        Ok((m, a.into_iter().map(|(n, (_, b))| (n, b)).collect()))
    }

    #[allow(clippy::type_complexity)]
    fn load_parts(
        dir: &Path,
    ) -> Result<
        (
            RecipeToml,
            BTreeMap<String, (Sha256Hex, Vec<u8>)>,
            Sha256Hex,
        ),
        RecipeError,
    > {
        let manifest_path = dir.join("recipe.toml");
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| RecipeError::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest = RecipeToml::parse(&text, &manifest_path)?;
        let mut artifacts = BTreeMap::new();
        for a in &manifest.artifacts {
            // Checked against its pin, so that sha256 is the artifact's.
            artifacts.insert(a.name().to_owned(), read_pinned(dir, &a.path, &a.sha256)?);
        }
        Ok((manifest, artifacts, Sha256Hex::of(text.as_bytes())))
    }

    /// The component's sha256.
    pub fn component_sha256(&self) -> &str {
        &self.manifest.component.sha256
    }
}

/// Why a `derived` label was refused.
pub const DERIVED_LABEL_RULE: &str = "a derived-data label is 1 to 64 of a-z A-Z 0-9 . _ -";

/// A `derived` label (wit/recipe.wit) is a short name safe to print, never
/// a path: 1 to 64 of `a-z A-Z 0-9 . _ -`. The host and the SDK's native
/// harness refuse anything else alike.
pub fn valid_derived_label(label: &str) -> bool {
    (1..=64).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "x-cve-1"
type = "backport"
summary = "s"
[[fixes]]
id = "CVE-2023-1"
severity = "high"
published = "2023-05-22"
[target]
ecosystem = "pypi"
package = "x"
affected = "==1.0"
[component]
path = "recipe.wasm"
sha256 = "00"
[capabilities]
read = ["/usr/**"]
"#;

    #[test]
    fn parses_and_rejects_unknown_fields() {
        assert!(RecipeToml::parse(GOOD, Path::new("r.toml")).is_ok());
        let bad = GOOD.replace("[capabilities]", "[capabilities]\nwrites = [\"/etc/**\"]");
        let e = RecipeToml::parse(&bad, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `writes`"), "{e}");
    }

    #[test]
    fn rejects_paths_outside_the_recipe() {
        for p in ["../x.wasm", "/etc/passwd", "a/../../b"] {
            let bad = GOOD.replace("\"recipe.wasm\"", &format!("{p:?}"));
            assert!(RecipeToml::parse(&bad, Path::new("r.toml")).is_err(), "{p}");
        }
    }

    #[test]
    fn only_a_distro_upgrade_may_name_no_fix() {
        let start = GOOD.find("[[fixes]]").unwrap();
        let end = GOOD.find("[target]").unwrap();
        let none = format!("{}{}", &GOOD[..start], &GOOD[end..]);
        let e = RecipeToml::parse(&none, Path::new("r")).unwrap_err();
        assert!(e.to_string().contains("at least one vulnerability"), "{e}");
        let update = none.replace("\"backport\"", "\"distro-upgrade\"");
        let m = RecipeToml::parse(&update, Path::new("r")).unwrap();
        assert!(m.fixes.is_empty());
    }

    #[test]
    fn only_a_distro_upgrade_targets_siblings_each_once() {
        let group = GOOD.replace(
            "[component]",
            "[[target.siblings]]\npackage = \"y\"\naffected = \"<< 2\"\n[component]",
        );
        let e = RecipeToml::parse(&group, Path::new("r")).unwrap_err();
        assert!(e.to_string().contains("only a distro-upgrade"), "{e}");
        let upgrade = group.replace("\"backport\"", "\"distro-upgrade\"");
        let m = RecipeToml::parse(&upgrade, Path::new("r")).unwrap();
        let targeted: Vec<_> = m.target.packages().collect();
        assert_eq!(targeted, [("x", "==1.0"), ("y", "<< 2")]);
        let twice = upgrade.replace("package = \"y\"", "package = \"x\"");
        let e = RecipeToml::parse(&twice, Path::new("r")).unwrap_err();
        assert!(e.to_string().contains("named twice"), "{e}");
    }

    #[test]
    fn rejects_bad_dates_and_ids() {
        assert!(
            RecipeToml::parse(&GOOD.replace("2023-05-22", "May 2023"), Path::new("r")).is_err()
        );
        assert!(RecipeToml::parse(&GOOD.replace("x-cve-1", "x y"), Path::new("r")).is_err());
    }
}
