//! `rootwasm recipe sync`: from an image and Debian repositories to the
//! distro-upgrade recipes the image needs, in one pass that reads and
//! verifies everything first and writes only then.
//!
//! image ─► installed packages ─┐
//! repos ─► release (signature) ─► packages (hashes) ─► newer offers ─► debs (hashes) ─► recipe_new
//!
//! A bad signature or a hash mismatch anywhere stops the run before any
//! recipe is written. One recipe upgrades the installed binary packages of
//! one source version together (`recipe_new::distro_upgrade_group`), so a
//! second run over the same input writes nothing.

pub mod fetch;
mod installed;
pub mod packages;
pub mod release;

use crate::image::error::ImageError;
use crate::recipe_new::{self, DistroUpgrade, Installed, NewError, Outcome, Written};
use packages::Offer;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why sync stopped (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A Release whose signature does not verify.
    #[error("{place}: signature refused: {reason}; nothing was written")]
    Signature {
        /// The file.
        place: String,
        /// Why.
        reason: String,
    },
    /// An index or package whose hash or size is not what the signed Release says.
    #[error("{place}: hash mismatch: expected {want}, got {got}; nothing was written")]
    Hash {
        /// The file.
        place: String,
        /// Expected.
        want: String,
        /// Found.
        got: String,
    },
    /// A file that could not be read.
    #[error("{place}: {reason}")]
    Fetch {
        /// The file.
        place: String,
        /// Why.
        reason: String,
    },
    /// Bad input; the message says what to do.
    #[error("{0}")]
    Invalid(String),
    /// The image.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Writing a recipe.
    #[error(transparent)]
    New(#[from] NewError),
}

/// What to sync.
pub struct SyncOptions<'a> {
    /// Repository roots: directories or `http(s)://` URLs.
    pub repos: Vec<String>,
    /// Suites; empty: the image's codename and its `-updates` and `-security`.
    pub dists: Vec<String>,
    /// The recipes directory written.
    pub out: PathBuf,
    /// The OpenPGP keyring the Release files must be signed by.
    pub keyring: PathBuf,
    /// Replace existing, different recipes with the same id.
    pub force: bool,
    /// Also write plain updates: upgrades whose changelog names no
    /// vulnerability (see [`DistroUpgrade::plain_update`]).
    pub all_updates: bool,
    /// Advisories giving each fix its severity, aliases and publication date.
    pub advisories: std::sync::Arc<[crate::advisory::Advisory]>,
    /// How the image is read.
    pub read: &'a crate::image::view::ReadOptions<'a>,
}

/// One installed package with a newer version, and what sync did about it.
#[derive(Clone, Debug, Serialize)]
pub struct Synced {
    /// Binary package.
    pub package: String,
    /// Its architecture.
    pub architecture: String,
    /// Installed version.
    pub installed: String,
    /// The newer version.
    pub version: String,
    /// Source package and version.
    pub source: String,
    /// The suite it came from.
    pub suite: String,
    /// `new`, `unchanged`, `replaced` or `refused`.
    pub status: String,
    /// The recipe id (not for `refused`).
    pub recipe: Option<String>,
    /// The ids it fixes.
    pub fixes: Vec<String>,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// Everything sync did.
#[derive(Clone, Debug, Serialize)]
pub struct SyncReport {
    /// The suites read, as `<repo> <suite>`.
    pub suites: Vec<String>,
    /// Per outdated package.
    pub packages: Vec<Synced>,
}

/// One installed dpkg package, with what the image says about it.
#[derive(Clone, Debug)]
pub struct Have {
    name: String,
    arch: String,
    version: String,
    /// Its `info/<pkg>.list` paths.
    list: Vec<String>,
    /// Its `changelog.Debian.gz`, unpacked.
    changelog: Option<String>,
}

/// An outdated package, its offer and the downloaded `.deb`.
struct Chosen {
    have: Have,
    offer: Offer,
    deb: PathBuf,
}

/// Sync `image` against the repositories.
pub fn sync(
    source: &crate::image::source::Source,
    o: &SyncOptions<'_>,
) -> Result<SyncReport, SyncError> {
    let keys = release::keyring(&o.keyring)?;
    let repos: Vec<fetch::Repo> = o
        .repos
        .iter()
        .map(|r| fetch::Repo::parse(r))
        .collect::<Result<_, _>>()?;
    let (codename, haves) = installed::read(source, o.read)?;
    let dists = if o.dists.is_empty() {
        if codename.is_empty() {
            return Err(SyncError::Invalid(
                "the image's os-release names no VERSION_CODENAME: name the suites with --dist"
                    .into(),
            ));
        }
        ["", "-updates", "-security"]
            .iter()
            .map(|s| format!("{codename}{s}"))
            .collect()
    } else {
        o.dists.clone()
    };
    let mut archs: Vec<String> = haves
        .iter()
        .map(|h| h.arch.clone())
        .filter(|a| a != "all")
        .collect();
    archs.sort();
    archs.dedup();
    let mut suites = Vec::new();
    let mut offers = Vec::new();
    for (ri, repo) in repos.iter().enumerate() {
        for d in &dists {
            let Some(rel) = release::fetch(repo, d, &keys)? else {
                continue;
            };
            let family = rel.codename.split('-').next().unwrap_or_default();
            if !codename.is_empty() && family != codename {
                return Err(SyncError::Invalid(format!(
                    "{}: suite {} is for {family}, but the image is {codename}",
                    repo.place(&rel.base),
                    rel.codename
                )));
            }
            offers.extend(packages::offers(repo, ri, &rel, &archs)?);
            suites.push(format!("{} {}", o.repos[ri], rel.codename));
        }
    }
    if suites.is_empty() {
        return Err(SyncError::Invalid(format!(
            "no suite of {} found in {}: check --repo and --dist",
            dists.join(", "),
            o.repos.join(", ")
        )));
    }
    let staging = tempfile::tempdir()
        .map_err(|e| SyncError::Invalid(format!("a temporary directory: {e}")))?;
    let chosen = choose(&repos, &haves, &offers, staging.path())?;
    let siblings = sibling_changelogs(&repos, &chosen, &offers, staging.path())?;
    let packages = write(&chosen, &siblings, o)?;
    Ok(SyncReport { suites, packages })
}

fn newer(a: &str, b: &str) -> bool {
    match (
        a.parse::<debversion::Version>(),
        b.parse::<debversion::Version>(),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

/// Download (and check) the newest offer above each installed version.
fn choose(
    repos: &[fetch::Repo],
    haves: &[Have],
    offers: &[Offer],
    staging: &Path,
) -> Result<Vec<Chosen>, SyncError> {
    let mut out = Vec::new();
    for h in haves {
        let best = offers
            .iter()
            .filter(|x| x.package == h.name && x.arch == h.arch && newer(&x.version, &h.version))
            .fold(None::<&Offer>, |b, x| match b {
                Some(b) if !newer(&x.version, &b.version) => Some(b),
                _ => Some(x),
            });
        if let Some(offer) = best {
            let deb = download(repos, offer, staging)?;
            out.push(Chosen {
                have: h.clone(),
                offer: offer.clone(),
                deb,
            });
        }
    }
    Ok(out)
}

/// The offer's `.deb`, checked by size and SHA256, in `staging`.
fn download(repos: &[fetch::Repo], offer: &Offer, staging: &Path) -> Result<PathBuf, SyncError> {
    let repo = &repos[offer.repo];
    let place = repo.place(&offer.filename);
    let bytes = repo
        .get(&offer.filename, packages::MAX_DEB)?
        .ok_or_else(|| SyncError::Fetch {
            place: place.clone(),
            reason: "listed in Packages but missing".into(),
        })?;
    packages::check_hash(&place, &bytes, &offer.sha256, offer.size)?;
    let name = offer.filename.rsplit('/').next().unwrap_or(&offer.filename);
    let path = staging.join(name);
    std::fs::write(&path, &bytes)
        .map_err(|e| SyncError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// For each chosen package that ships no changelog, a sibling's of the
/// same source and version: one already chosen, else one downloaded for it.
fn sibling_changelogs(
    repos: &[fetch::Repo],
    chosen: &[Chosen],
    offers: &[Offer],
    staging: &Path,
) -> Result<Vec<Option<String>>, SyncError> {
    let own: Vec<Option<String>> = chosen
        .iter()
        .map(|c| recipe_new::shipped_changelog(&c.deb))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (i, c) in chosen.iter().enumerate() {
        if own[i].is_some() {
            out.push(None);
            continue;
        }
        let same =
            |o: &Offer| o.source == c.offer.source && o.source_version == c.offer.source_version;
        let found = chosen
            .iter()
            .zip(&own)
            .find(|(s, t)| t.is_some() && same(&s.offer))
            .and_then(|(_, t)| t.clone());
        let found = match found {
            Some(t) => Some(t),
            None => {
                let mut text = None;
                for o in offers
                    .iter()
                    .filter(|o| same(o) && o.package != c.offer.package)
                {
                    let deb = download(repos, o, staging)?;
                    text = recipe_new::shipped_changelog(&deb)?;
                    if text.is_some() {
                        break;
                    }
                }
                text
            }
        };
        out.push(found);
    }
    Ok(out)
}

/// Write (or keep) the recipes: one per source version, for its binary
/// packages installed here, so they travel together. A group that cannot
/// be one recipe (a member refused, say) is written package by package,
/// each refusal with its own reason.
fn write(
    chosen: &[Chosen],
    siblings: &[Option<String>],
    o: &SyncOptions<'_>,
) -> Result<Vec<Synced>, SyncError> {
    let options = |c: &Chosen, sibling: &Option<String>| DistroUpgrade {
        deb: c.deb.clone(),
        installed: Some(if c.have.list.is_empty() {
            Installed::Version(c.have.version.clone())
        } else {
            Installed::Listed(c.have.version.clone(), c.have.list.clone())
        }),
        fixes: Vec::new(),
        recipes_dir: o.out.clone(),
        changelog: sibling.clone(),
        installed_changelog: c.have.changelog.clone(),
        force: o.force,
        plain_update: o.all_updates,
        advisories: o.advisories.clone(),
    };
    let mut groups: Vec<((&str, &str), Vec<usize>)> = Vec::new();
    for (i, c) in chosen.iter().enumerate() {
        let key = (c.offer.source.as_str(), c.offer.source_version.as_str());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    let mut results: Vec<Option<Result<Outcome, String>>> = vec![None; chosen.len()];
    let one = |i: usize| -> Result<Result<Outcome, String>, SyncError> {
        match recipe_new::distro_upgrade(&options(&chosen[i], &siblings[i])) {
            Ok(w) => Ok(Ok(w)),
            Err(NewError::Invalid(reason)) => Ok(Err(reason)),
            Err(e) => Err(e.into()),
        }
    };
    for (_, members) in &groups {
        if let [i] = members.as_slice() {
            results[*i] = Some(one(*i)?);
            continue;
        }
        let opts: Vec<DistroUpgrade> = (members.iter())
            .map(|&i| options(&chosen[i], &siblings[i]))
            .collect();
        match recipe_new::distro_upgrade_group(&opts) {
            Ok(w) => members
                .iter()
                .for_each(|&i| results[i] = Some(Ok(w.clone()))),
            Err(NewError::Invalid(_)) => {
                for &i in members {
                    results[i] = Some(one(i)?);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(chosen
        .iter()
        .zip(results)
        .map(|(c, r)| synced(c, r.expect("every chosen package was written or refused")))
        .collect())
}

/// What sync reports for `c`: its recipe, or why it has none.
fn synced(c: &Chosen, r: Result<Outcome, String>) -> Synced {
    let mut s = Synced {
        package: c.have.name.clone(),
        architecture: c.have.arch.clone(),
        installed: c.have.version.clone(),
        version: c.offer.version.clone(),
        source: format!("{} {}", c.offer.source, c.offer.source_version),
        suite: c.offer.suite.clone(),
        status: String::new(),
        recipe: None,
        fixes: Vec::new(),
        reason: None,
    };
    match r {
        Ok(w) => {
            s.status = match w.written {
                Written::New => "new",
                Written::Unchanged => "unchanged",
                Written::Replaced => "replaced",
            }
            .into();
            s.recipe = w.dir.file_name().map(|n| n.to_string_lossy().into_owned());
            s.fixes = w.fixes;
        }
        Err(reason) => {
            s.status = "refused".into();
            s.reason = Some(reason);
        }
    }
    s
}
