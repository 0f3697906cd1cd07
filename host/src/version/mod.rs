//! Versions compared by each ecosystem's own rules.
//!
//! The comparators are the field's crates where a trustworthy one exists
//! (debversion for dpkg, pep440_rs for PEP 440, node-semver for npm,
//! rpm-version for rpmvercmp); the tests check them against the ecosystems'
//! reference implementations (`dpkg --compare-versions`, Python's
//! `packaging`, npm's semver, librpm) on thousands of real and generated
//! pairs. Alpine's apk rules are hand-written in [`apk`], which says why.

pub mod apk;
pub mod gem;
pub mod rpm;

use std::cmp::Ordering;
use std::str::FromStr;

pub use rootwasm_core::ecosystem::Ecosystem;

impl From<rootwasm_core::ecosystem::UnknownEcosystem> for VersionError {
    fn from(e: rootwasm_core::ecosystem::UnknownEcosystem) -> Self {
        VersionError(e.to_string())
    }
}

/// A version or range that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VersionError(pub(crate) String);

fn deb(v: &str) -> Result<debversion::Version, VersionError> {
    v.trim()
        .parse()
        .map_err(|e| VersionError(format!("{v:?} is not a Debian version: {e:?}")))
}

fn npm(v: &str) -> Result<node_semver::Version, VersionError> {
    node_semver::Version::parse(v.trim())
        .map_err(|e| VersionError(format!("{v:?} is not a semver version: {e}")))
}

fn pep440(v: &str) -> Result<pep440_rs::Version, VersionError> {
    v.trim()
        .parse()
        .map_err(|e| VersionError(format!("{v:?} is not a PEP 440 version: {e}")))
}

/// Compare two versions of `eco`.
pub fn compare(eco: Ecosystem, a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(match eco {
        Ecosystem::Deb => deb(a)?.cmp(&deb(b)?),
        Ecosystem::Pypi => pep440(a)?.cmp(&pep440(b)?),
        Ecosystem::Npm => npm(a)?.cmp(&npm(b)?),
        Ecosystem::Apk => apk::Version::parse(a.trim())?.cmp(&apk::Version::parse(b.trim())?),
        Ecosystem::Rpm => rpm::compare(a, b)?,
        Ecosystem::Gem => gem::Version::parse(a)?.cmp(&gem::Version::parse(b)?),
        Ecosystem::Generic => {
            return Err(VersionError(
                "generic packages have no version order".into(),
            ));
        }
    })
}

/// A relation and a version from a comma-separated range, operators tried in order.
fn clauses<'r>(
    range: &'r str,
    ops: &[&'static str],
) -> Result<Vec<(&'static str, &'r str)>, VersionError> {
    range
        .split(',')
        .map(|clause| {
            let clause = clause.trim();
            ops.iter()
                .find_map(|op| clause.strip_prefix(op).map(|r| (*op, r.trim())))
                .filter(|(_, v)| !v.is_empty())
                .ok_or_else(|| {
                    VersionError(format!(
                        "{clause:?}: expected a relation ({}) and a version",
                        ops.join(", ")
                    ))
                })
        })
        .collect()
}

/// Does ordering `o` (installed against bound) satisfy `op`?
fn holds(op: &str, o: Ordering) -> bool {
    match op {
        "<<" | "<" => o == Ordering::Less,
        "<=" => o != Ordering::Greater,
        "=" => o == Ordering::Equal,
        ">=" => o != Ordering::Less,
        ">>" | ">" => o == Ordering::Greater,
        _ => false,
    }
}

/// Is `version` inside `range`?
///
/// Ranges use the ecosystem's own syntax: PEP 440 specifiers for pypi
/// (`>=2.3,<2.31`, `==2.30.0`); dpkg relations for deb, comma-separated
/// (`>= 2.5.0-1, << 2.5.0-1+deb12u3`); npm ranges for npm (`^1.2.3 || 2.x`);
/// apk dependency relations for apk, comma-separated (`>= 1.36.1-r0, < 1.36.1-r29`,
/// `~1.36` for apk's fuzzy prefix match); RubyGems requirements for gem,
/// comma-separated (`>= 2.2.0, < 2.2.8.1`, `~> 2.2.6`); rpm's relations for rpm
/// (`>= 1:2.0-1.el9, < 1:2.0-5.el9`; a bound without release covers every release).
/// `*` matches everything.
pub fn matches(eco: Ecosystem, version: &str, range: &str) -> Result<bool, VersionError> {
    let range = range.trim();
    if range == "*" {
        return Ok(true);
    }
    match eco {
        Ecosystem::Npm => {
            let r = node_semver::Range::parse(range)
                .map_err(|e| VersionError(format!("{range:?}: {e}")))?;
            Ok(r.satisfies(&npm(version)?))
        }
        Ecosystem::Pypi => {
            let spec = pep440_rs::VersionSpecifiers::from_str(range)
                .map_err(|e| VersionError(format!("{range:?}: {e}")))?;
            Ok(spec.contains(&pep440(version)?))
        }
        Ecosystem::Deb => {
            let v = deb(version)?;
            for (op, bound) in clauses(range, &["<<", "<=", ">=", ">>", "="])? {
                if !holds(op, v.cmp(&deb(bound)?)) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Ecosystem::Apk => {
            let v = apk::Version::parse(version.trim())?;
            for (op, bound) in clauses(range, &["<=", ">=", "<", ">", "=", "~"])? {
                let b = apk::Version::parse(bound)?;
                let ok = if op == "~" {
                    v.fuzzy_matches(&b)
                } else {
                    holds(op, v.cmp(&b))
                };
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Ecosystem::Rpm => {
            for (op, bound) in clauses(range, &["<=", ">=", "<", ">", "="])? {
                if !holds(op, rpm::compare_to_bound(version, bound)?) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Ecosystem::Gem => {
            let v = gem::Version::parse(version)?;
            for (op, bound) in clauses(range, &["~>", "!=", "<=", ">=", "<", ">", "="])? {
                let b = gem::Version::parse(bound)?;
                let ok = match op {
                    "~>" => v >= b && v < b.bump(),
                    "!=" => v != b,
                    _ => holds(op, v.cmp(&b)),
                };
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Ecosystem::Generic => Err(VersionError(format!(
            "{range:?}: generic packages have no version order; use \"*\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_rules() {
        use Ordering::*;
        assert_eq!(compare(Ecosystem::Deb, "1.0~rc1", "1.0").unwrap(), Less);
        assert_eq!(compare(Ecosystem::Deb, "1:0.9", "2.0").unwrap(), Greater);
        assert_eq!(
            compare(Ecosystem::Deb, "2.5.0-1+deb12u2", "2.5.0-1+deb12u10").unwrap(),
            Less
        );
        assert!(
            matches(
                Ecosystem::Deb,
                "2.5.0-1+deb12u2",
                ">= 2.5.0-1, << 2.5.0-1+deb12u5"
            )
            .unwrap()
        );
        assert!(
            !matches(
                Ecosystem::Deb,
                "2.5.0-1+deb12u5",
                ">= 2.5.0-1, << 2.5.0-1+deb12u5"
            )
            .unwrap()
        );
        assert!(matches(Ecosystem::Deb, "2.5.0-1", "bogus").is_err());
    }

    #[test]
    fn pep440_rules() {
        use Ordering::*;
        assert_eq!(
            compare(Ecosystem::Pypi, "2.31.0rc1", "2.31.0").unwrap(),
            Less
        );
        assert_eq!(
            compare(Ecosystem::Pypi, "1.0.post1", "1.0").unwrap(),
            Greater
        );
        assert!(matches(Ecosystem::Pypi, "2.30.0", "==2.30.0").unwrap());
        assert!(matches(Ecosystem::Pypi, "2.30.0", ">=2.3.0,<2.31.0").unwrap());
        assert!(!matches(Ecosystem::Pypi, "2.31.0", ">=2.3.0,<2.31.0").unwrap());
    }

    #[test]
    fn apk_ranges() {
        use Ordering::*;
        assert_eq!(
            compare(Ecosystem::Apk, "1.36.1-r29", "1.36.1-r3").unwrap(),
            Greater
        );
        assert_eq!(
            compare(Ecosystem::Apk, "9.6_p1-r0", "9.6-r5").unwrap(),
            Greater
        );
        assert!(compare(Ecosystem::Apk, "0.9.8zh-r0", "1.0").is_err());
        let r = ">= 1.36.1-r0, < 1.36.1-r29";
        assert!(matches(Ecosystem::Apk, "1.36.1-r28", r).unwrap());
        assert!(!matches(Ecosystem::Apk, "1.36.1-r29", r).unwrap());
        assert!(matches(Ecosystem::Apk, "1.36.1-r2", "~1.36").unwrap());
        assert!(!matches(Ecosystem::Apk, "1.37.0-r0", "~1.36").unwrap());
        assert!(matches(Ecosystem::Apk, "1.36.1-r2", "<< 1.37").is_err());
    }

    #[test]
    fn rpm_ranges() {
        assert!(
            matches(
                Ecosystem::Rpm,
                "1:2.0-3.el9",
                ">= 1:2.0-1.el9, < 1:2.0-5.el9"
            )
            .unwrap()
        );
        assert!(!matches(Ecosystem::Rpm, "2.0-3.el9", ">= 1:2.0-1.el9").unwrap());
        assert!(!matches(Ecosystem::Rpm, "2.0-3.el9", "< 2.0").unwrap());
        assert!(matches(Ecosystem::Rpm, "2.0-3.el9", "<= 2.0").unwrap());
        assert_eq!("rpm".parse::<Ecosystem>().unwrap(), Ecosystem::Rpm);
        assert_eq!("apk".parse::<Ecosystem>().unwrap(), Ecosystem::Apk);
    }
}
