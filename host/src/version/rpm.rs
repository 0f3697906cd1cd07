//! RPM versions: `[epoch:]version[-release]`, compared with rpmvercmp.
//!
//! The comparison is the `rpm-version` crate (pure Rust, by an rpm-rs
//! maintainer, no dependencies), checked against Debian's librpm through
//! `rpm.labelCompare` on thousands of pairs in the tests. This module only
//! adds rpm's own reading of a bound without a release: in a dependency
//! range `< 1.2` means every release of 1.2 and below, so such a bound
//! compares epoch and version only.

use super::VersionError;
use rpm_version::Evr;
use std::cmp::Ordering;

fn parse(v: &str) -> Result<Evr<'_>, VersionError> {
    let v = v.trim();
    let ok = !v.is_empty()
        && !v.contains(char::is_whitespace)
        && v.split_once(':').is_none_or(|(e, rest)| {
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) && !rest.contains(':')
        })
        && v.matches('-').count() <= 1;
    if !ok {
        return Err(VersionError(format!(
            "{v:?} is not an RPM version; expected [epoch:]version[-release], e.g. 1:2.3.4-5.el9"
        )));
    }
    Ok(Evr::parse(v))
}

/// Full epoch:version-release comparison; an absent release sorts before any release.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(a)?.cmp(&parse(b)?))
}

/// `version` against a range bound: a bound without a release matches every release.
pub fn compare_to_bound(version: &str, bound: &str) -> Result<Ordering, VersionError> {
    let (v, b) = (parse(version)?, parse(bound)?);
    if b.release().is_empty() {
        let strip =
            |e: &Evr<'_>| Evr::new(e.epoch().to_owned(), e.version().to_owned(), String::new());
        return Ok(strip(&v).cmp(&strip(&b)));
    }
    Ok(v.cmp(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn rpmvercmp_rules() {
        assert_eq!(compare("1.0~rc1-1", "1.0-1").unwrap(), Less);
        assert_eq!(compare("1.0^git1-1", "1.0-1").unwrap(), Greater);
        assert_eq!(compare("1.0^git1-1", "1.0.1-1").unwrap(), Less);
        assert_eq!(compare("1:1.0-1", "2.0-1").unwrap(), Greater);
        assert_eq!(compare("0:1.0-1", "1.0-1").unwrap(), Equal);
        assert_eq!(compare("2.4.6-1.el9", "2.4.6-1.el9_2").unwrap(), Less);
        assert!(compare("1:2:3", "1").is_err());
        assert!(compare("x:1.0", "1").is_err());
    }

    #[test]
    fn a_bound_without_release_covers_every_release() {
        assert_eq!(compare_to_bound("1.2-5.el9", "1.2").unwrap(), Equal);
        assert_eq!(compare_to_bound("1.2-5.el9", "1.2-6.el9").unwrap(), Less);
        assert_eq!(compare_to_bound("1:1.2-5", "1.3").unwrap(), Greater);
    }
}
