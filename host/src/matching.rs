//! Which installed packages a recipe targets, by the ecosystem's own version rules.

use crate::inventory::{Inventory, Package};
use crate::recipe::Recipe;
use crate::version::{Ecosystem, matches};

/// How a recipe relates to an inventory.
#[derive(Debug)]
pub enum Match<'a> {
    /// The recipe's ecosystem has no inventory reader or comparator here;
    /// only its own `check` can tell.
    Unknown,
    /// Its package is not installed.
    NotInstalled,
    /// Installed; split by whether the version is in the recipe's range.
    Installed {
        /// Versions the recipe patches.
        affected: Vec<&'a Package>,
        /// Versions outside its range.
        unaffected: Vec<&'a Package>,
    },
}

/// Package names compare as the ecosystem does (PEP 503 for Python).
pub fn same_name(ecosystem: Ecosystem, a: &str, b: &str) -> bool {
    if ecosystem == Ecosystem::Pypi {
        let n = |s: &str| s.to_ascii_lowercase().replace(['_', '.'], "-");
        n(a) == n(b)
    } else {
        a == b
    }
}

/// Whether `p` is built for the recipe's target architecture. `all`
/// packages run anywhere; a package with no recorded architecture is kept.
pub fn same_architecture(t: &crate::recipe::Target, p: &Package) -> bool {
    t.architecture.as_deref().is_none_or(|want| {
        p.arch
            .as_deref()
            .is_none_or(|have| have == want || have == "all" || want == "all")
    })
}

/// Whether `version` is below `range` (`deb` ranges: a `>=`/`>>` bound it
/// fails), as opposed to above it or not comparable.
pub fn below_range(eco: Ecosystem, version: &str, range: &str) -> bool {
    eco == Ecosystem::Deb
        && range.split(',').map(str::trim).any(|c| {
            (c.starts_with(">=") || c.starts_with(">>")) && matches(eco, version, c) == Ok(false)
        })
}

/// The interpreters the inventory lists as `generic` packages, each with
/// its language's version order: CPython's versions are PEP 440, Node's
/// semver, Ruby's `Gem::Version`.
const RUNTIMES: &[(&str, Ecosystem)] = &[
    ("python", Ecosystem::Pypi),
    ("node", Ecosystem::Npm),
    ("ruby", Ecosystem::Gem),
];

/// The order a target's ranges are read in: its ecosystem's, or for an
/// interpreter (`generic` `python`, `node`, `ruby`) its language's.
fn scheme(t: &crate::recipe::Target) -> Option<Ecosystem> {
    if t.ecosystem != Ecosystem::Generic {
        return Some(t.ecosystem);
    }
    RUNTIMES
        .iter()
        .find(|(name, _)| *name == t.package)
        .map(|(_, eco)| *eco)
}

/// Whether `recipe` patches `version`: in its range, or, for a distro
/// upgrade, below it. The distribution's newer package fixes older versions
/// too (its own check still compares installed < new); a range's lower
/// bound only says which version its fix list was read against.
pub fn patches(recipe: &Recipe, range: &str, version: &str) -> bool {
    let t = &recipe.manifest.target;
    scheme(t).is_some_and(|eco| matches(eco, version, range).unwrap_or(false))
        || (recipe.manifest.patch_type == crate::recipe::PatchType::DistroUpgrade
            && below_range(t.ecosystem, version, range))
}

/// The range `recipe` declares for the installed package `p`, if it targets
/// it: its `package`, or one of its `siblings` (a distro upgrade of several
/// binary packages of one source), of the right architecture.
pub fn range_for<'r>(recipe: &'r Recipe, p: &Package) -> Option<&'r str> {
    let t = &recipe.manifest.target;
    if p.ecosystem != t.ecosystem || !same_architecture(t, p) {
        return None;
    }
    t.packages()
        .find(|(name, _)| same_name(t.ecosystem, &p.name, name))
        .map(|(_, range)| range)
}

/// Match `recipe` against `inv`.
pub fn match_recipe<'a>(inv: &'a Inventory, recipe: &Recipe) -> Match<'a> {
    let t = &recipe.manifest.target;
    if scheme(t).is_none() {
        return Match::Unknown;
    }
    let installed: Vec<(&Package, &str)> = (inv.packages.iter())
        .filter_map(|p| Some((p, range_for(recipe, p)?)))
        .collect();
    if installed.is_empty() {
        return Match::NotInstalled;
    }
    let (affected, unaffected): (Vec<_>, Vec<_>) = installed
        .into_iter()
        .partition(|(p, range)| patches(recipe, range, &p.version));
    let (affected, unaffected) = (
        affected.into_iter().map(|(p, _)| p).collect(),
        unaffected.into_iter().map(|(p, _)| p).collect(),
    );
    Match::Installed {
        affected,
        unaffected,
    }
}

/// What to read from an image's layers for `recipes`: the files the
/// inventory readers need (to match recipes to installed versions) plus
/// everything the recipes may read (their read and write scopes).
pub fn capture_for<'a>(
    recipes: impl IntoIterator<Item = &'a Recipe>,
) -> crate::image::view::Capture {
    let scopes = recipes.into_iter().flat_map(|r| {
        r.manifest
            .capabilities
            .read
            .iter()
            .chain(&r.manifest.capabilities.write)
            .map(String::as_str)
    });
    // RecipeToml::parse already compiled every scope pattern, so this cannot fail.
    crate::image::view::Capture::new(crate::inventory::FILES.iter().copied().chain(scopes))
        .expect("recipe scopes were validated at load")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ecosystem: Ecosystem, package: &str) -> crate::recipe::Target {
        crate::recipe::Target {
            ecosystem,
            package: package.into(),
            affected: String::new(),
            architecture: None,
            siblings: Vec::new(),
        }
    }

    /// An interpreter's range is read in its language's order (3.11.10 is
    /// above 3.11.9 for PEP 440, not for a string compare); any other
    /// generic target has none, and only its own check can tell.
    #[test]
    fn runtimes_have_their_languages_version_order() {
        for (name, eco, low, high) in [
            ("python", Ecosystem::Pypi, "3.11.9", "3.11.10"),
            ("node", Ecosystem::Npm, "20.9.0", "20.10.0"),
            ("ruby", Ecosystem::Gem, "3.2.9", "3.2.10"),
        ] {
            let t = target(Ecosystem::Generic, name);
            let eco_of = scheme(&t).unwrap();
            assert_eq!(eco_of, eco);
            assert_eq!(matches(eco_of, low, &format!("<{high}")), Ok(true));
            assert_eq!(matches(eco_of, high, &format!("<{high}")), Ok(false));
        }
        assert_eq!(scheme(&target(Ecosystem::Generic, "openjdk")), None);
        assert_eq!(
            scheme(&target(Ecosystem::Npm, "python")),
            Some(Ecosystem::Npm)
        );
    }
}
