//! Per-patch test results: what was checked about one applied recipe, and
//! with what result. They go into the signed provenance (each recipe
//! result's `tests`, see docs/attestations.md) and `verify` recomputes the
//! ones that can be recomputed from the image's bytes.
//!
//! - `recipe-check`: the recipe's own check said vulnerable before and
//!   fixed after (apply keeps a recipe's changes only then).
//! - `package-database`: every file the recipe wrote that a package
//!   database lists has the digest that database records, read from the
//!   patched tree as dpkg (`info/*.md5sums`, `status.d/*.md5sums`) and pip
//!   (`*.dist-info/RECORD`, sha256 in unpadded urlsafe base64) keep them:
//!   the native equivalent of `dpkg --verify` and `pip`'s RECORD check for
//!   exactly the paths the patch touched.
//! - `dependencies`: for recipes that changed a dpkg database, the patched
//!   database breaks no `Depends`, `Pre-Depends`, `Breaks` or `Conflicts`
//!   that was whole in the input image, as `apt-get check` judges them
//!   (`inventory::dpkg_deps`).
//! - `replay`: the journal rebuilds the patch layer (its diff_id recorded).

use crate::inventory::dpkg_deps::{Database, STATUS, STATUS_D};
use crate::journal::Journal;
use crate::rootfs::Kind;
use crate::rootfs::{RootPath, RootView};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One check and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// `recipe-check`, `package-database`, `dependencies` or `replay`.
    pub name: String,
    /// `passed`, `failed` or `skipped` (nothing to check).
    pub result: String,
    /// What was compared.
    pub detail: String,
}

impl TestResult {
    fn new(name: &str, result: &str, detail: String) -> Self {
        TestResult {
            name: name.into(),
            result: result.into(),
            detail,
        }
    }
}

/// The package databases' files: what the tree must capture for
/// [`package_database`] and [`dependencies`].
pub const DATABASE_FILES: &[&str] = &[
    "/var/lib/dpkg/info/*.md5sums",
    "/var/lib/dpkg/status",
    "/var/lib/dpkg/status.d/*",
    "/**/*.dist-info/RECORD",
];

/// Does `path` hold a dpkg database's package stanzas?
fn is_dpkg_status(path: &str) -> bool {
    path == STATUS || path.starts_with(&format!("{STATUS_D}/")) && !path.ends_with(".md5sums")
}

/// The dpkg database of `after` against the one of `before`: passed when
/// no relation is broken that was whole before.
pub fn dependencies(before: &dyn RootView, after: &dyn RootView) -> TestResult {
    let read = |v: &dyn RootView| Database::read(v).map(|db| db.problems());
    let (was, now) = match (read(before), read(after)) {
        (Ok(was), Ok(now)) => (was, now),
        (Err(e), _) | (_, Err(e)) => {
            return TestResult::new("dependencies", "failed", format!("unreadable: {e}"));
        }
    };
    let was: BTreeSet<_> = was.iter().map(|p| p.key()).collect();
    let new: Vec<String> = now
        .iter()
        .filter(|p| !was.contains(&p.key()))
        .map(|p| p.to_string())
        .collect();
    if new.is_empty() {
        let n = Database::read(after).map(|d| d.packages.len()).unwrap_or(0);
        TestResult::new(
            "dependencies",
            "passed",
            format!(
                "the dpkg database of {n} packages breaks no relation that was whole before, as \
                 apt-get check judges them"
            ),
        )
    } else {
        TestResult::new("dependencies", "failed", new.join("; "))
    }
}

/// The recipe's own check, from apply's result for it (`applied` means the
/// check said vulnerable before and fixed on the patched tree).
pub fn recipe_check(result: &str) -> TestResult {
    if result == "applied" {
        TestResult::new(
            "recipe-check",
            "passed",
            "check: vulnerable before, fixed after".into(),
        )
    } else {
        TestResult::new("recipe-check", "failed", format!("recipe result {result}"))
    }
}

/// Replay equality: the patch layer apply built from the journal.
pub fn replay(diff_id: &str) -> TestResult {
    TestResult::new(
        "replay",
        "passed",
        format!("the journal rebuilds the patch layer (diff_id {diff_id})"),
    )
}

/// Every regular file `recipe` left in the journal, checked against the
/// package databases of the patched tree `view`.
pub fn package_database(view: &dyn RootView, journal: &Journal, recipe: &str) -> TestResult {
    let dpkg = dpkg_md5sums(view);
    let mut records: BTreeMap<String, Option<BTreeMap<String, String>>> = BTreeMap::new();
    let (mut ok, mut bad, mut unlisted) = (Vec::new(), Vec::new(), 0usize);
    let finals = journal
        .entries
        .iter()
        .filter(|e| e.recipe == recipe)
        .map(|e| (e.path.as_str(), e.after.as_ref()))
        .collect::<BTreeMap<_, _>>();
    for (path, after) in finals {
        if after.is_none_or(|s| s.kind != Kind::File) || is_database(path) {
            continue;
        }
        let Some(bytes) = RootPath::lexical(path)
            .ok()
            .and_then(|p| view.read(&p).ok())
        else {
            bad.push(format!("{path}: unreadable"));
            continue;
        };
        let want = dpkg
            .get(path)
            .map(|(pkg, md5)| {
                (
                    format!("dpkg {pkg}"),
                    md5.clone(),
                    rootwasm_deb::md5_hex(&bytes),
                )
            })
            .or_else(|| {
                record_entry(view, &mut records, path).map(|(dist, h)| {
                    let got = sha2::Digest::finalize(
                        <sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes),
                    );
                    let got = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(got);
                    (format!("RECORD of {dist}"), h, got)
                })
            });
        match want {
            Some((by, w, g)) if w == g => ok.push(by),
            Some((by, w, g)) => bad.push(format!("{path}: {by} says {w}, the file has {g}")),
            None => unlisted += 1,
        }
    }
    let matched = ok.len();
    ok.sort();
    ok.dedup();
    let summary = format!(
        "{matched} file(s) match {}; {unlisted} not listed by any package database",
        if ok.is_empty() {
            "-".to_owned()
        } else {
            ok.join(", ")
        },
    );
    if !bad.is_empty() {
        TestResult::new("package-database", "failed", bad.join("; "))
    } else if ok.is_empty() {
        TestResult::new("package-database", "skipped", summary)
    } else {
        TestResult::new("package-database", "passed", summary)
    }
}

/// The databases themselves are what the check reads, not what it checks.
fn is_database(path: &str) -> bool {
    path.starts_with("/var/lib/dpkg/") || path.ends_with(".dist-info/RECORD")
}

/// `/path → (package, md5)` from every md5sums file dpkg keeps.
fn dpkg_md5sums(view: &dyn RootView) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for dir in ["/var/lib/dpkg/info", "/var/lib/dpkg/status.d"] {
        let Ok(d) = RootPath::lexical(dir) else {
            continue;
        };
        for (name, _) in view.read_dir(&d).unwrap_or_default() {
            let Some(pkg) = name.strip_suffix(".md5sums") else {
                continue;
            };
            let Some(text) = RootPath::lexical(&format!("{dir}/{name}"))
                .ok()
                .and_then(|p| view.read(&p).ok())
                .and_then(|b| String::from_utf8(b).ok())
            else {
                continue;
            };
            for (file, md5) in rootwasm_deb::md5sums::parse(&text).unwrap_or_default() {
                out.insert(file, (pkg.split(':').next().unwrap_or(pkg).to_owned(), md5));
            }
        }
    }
    out
}

/// The RECORD entry for `path`: the `*.dist-info` beside one of its
/// ancestors that lists it, and its unpadded urlsafe-base64 sha256.
fn record_entry(
    view: &dyn RootView,
    cache: &mut BTreeMap<String, Option<BTreeMap<String, String>>>,
    path: &str,
) -> Option<(String, String)> {
    let mut dir = path;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        dir = parent;
        let p = RootPath::lexical(if dir.is_empty() { "/" } else { dir }).ok()?;
        let rel = path[dir.len()..].trim_start_matches('/');
        for (name, _) in view.read_dir(&p).unwrap_or_default() {
            if !name.ends_with(".dist-info") {
                continue;
            }
            let key = format!("{dir}/{name}");
            let entries = cache
                .entry(key.clone())
                .or_insert_with(|| read_record(view, &format!("{key}/RECORD")));
            if let Some(h) = entries.as_ref().and_then(|e| e.get(rel)) {
                return Some((name, h.clone()));
            }
        }
    }
    None
}

/// `path → sha256` (urlsafe base64) from a RECORD file.
fn read_record(view: &dyn RootView, path: &str) -> Option<BTreeMap<String, String>> {
    let bytes = view.read(&RootPath::lexical(path).ok()?).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let mut it = l.rsplitn(3, ',');
                let (_size, hash, file) = (it.next()?, it.next()?, it.next()?);
                let h = hash.strip_prefix("sha256=")?;
                Some((file.trim_matches('"').to_owned(), h.to_owned()))
            })
            .collect(),
    )
}

/// The patched tree of one manifest, keeping the package databases and
/// the files `journal` touched.
pub fn tree(
    store: &dyn crate::image::source::BlobStore,
    docs: &crate::image::view::Docs,
    journal: &Journal,
    read: &crate::image::view::ReadOptions<'_>,
) -> Result<crate::image::merge::Merged, crate::image::ImageError> {
    let paths = journal
        .entries
        .iter()
        .filter_map(|e| RootPath::lexical(&e.path).ok());
    let layers = docs.manifest.layers.len();
    databases(store, docs, layers, paths, read)
}

/// The package databases (and `paths`) of the first `layers` layers.
fn databases(
    store: &dyn crate::image::source::BlobStore,
    docs: &crate::image::view::Docs,
    layers: usize,
    paths: impl IntoIterator<Item = RootPath>,
    read: &crate::image::view::ReadOptions<'_>,
) -> Result<crate::image::merge::Merged, crate::image::ImageError> {
    let capture = crate::image::view::Capture::new(DATABASE_FILES.iter().copied())
        .expect("valid globs")
        .with_paths(paths);
    let mut merged = crate::image::merge::Merged::with_limits(read.limits);
    let m = &docs.manifest;
    crate::image::view::read_layers(
        store,
        &m.layers[..layers],
        &docs.diff_ids[..layers.min(docs.diff_ids.len())],
        0,
        &capture,
        &mut merged,
        read,
    )?;
    Ok(merged)
}

/// The test results of each applied recipe (`(id, apply's result)`) on
/// one patched manifest, by recipe id.
pub fn for_platform<'r>(
    store: &dyn crate::image::source::BlobStore,
    docs: &crate::image::view::Docs,
    journal: &Journal,
    recipes: impl Iterator<Item = (&'r str, &'r str)>,
    read: &crate::image::view::ReadOptions<'_>,
) -> Result<BTreeMap<String, Vec<TestResult>>, crate::image::ImageError> {
    let view = tree(store, docs, journal, read)?;
    let diff_id = docs.diff_ids.last().map(|d| d.as_str()).unwrap_or_default();
    // Only recipes that changed a dpkg database get the dependency check; the
    // input's database is read once, for all of them.
    let changed_dpkg = |id: &str| {
        journal
            .entries
            .iter()
            .any(|e| e.recipe == id && is_dpkg_status(&e.path))
    };
    let recipes: Vec<(&str, &str)> = recipes.filter(|(_, r)| *r == "applied").collect();
    let deps = if recipes.iter().any(|(id, _)| changed_dpkg(id)) {
        let layers = docs.manifest.layers.len().saturating_sub(1);
        let before = databases(store, docs, layers, [], read)?;
        Some(dependencies(&before, &view))
    } else {
        None
    };
    Ok(recipes
        .into_iter()
        .map(|(id, result)| {
            let mut tests = vec![recipe_check(result), package_database(&view, journal, id)];
            if changed_dpkg(id) {
                tests.extend(deps.clone());
            }
            tests.push(replay(diff_id));
            (id.to_owned(), tests)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::DirRoot;

    fn root(status: &str) -> (tempfile::TempDir, DirRoot) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("var/lib/dpkg")).unwrap();
        std::fs::write(d.path().join("var/lib/dpkg/status"), status).unwrap();
        let v = DirRoot::open(d.path()).unwrap();
        (d, v)
    }

    const CURL: &str = "Package: curl\nStatus: install ok installed\nArchitecture: amd64\n\
        Version: 2\nDepends: libcurl4 (= 2)\n\n";

    #[test]
    fn dependencies_fail_on_a_relation_the_patch_broke_only() {
        let lib = |v: &str| {
            format!(
                "Package: libcurl4\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n\n"
            )
        };
        let (_a, whole) = root(&format!("{CURL}{}", lib("2")));
        let (_b, broken) = root(&format!("{CURL}{}", lib("1")));
        assert_eq!(dependencies(&whole, &whole).result, "passed");
        let t = dependencies(&whole, &broken);
        assert_eq!(t.result, "failed");
        assert!(t.detail.contains("libcurl4 (= 2)"), "{}", t.detail);
        // Broken before already: not this patch's doing.
        assert_eq!(dependencies(&broken, &broken).result, "passed");
    }
}
