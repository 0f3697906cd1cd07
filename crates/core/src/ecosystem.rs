//! Package ecosystems, as recipes, patch records and the inventory name them.

use std::fmt;
use std::str::FromStr;

/// A package ecosystem rootwasm inventories and compares versions in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    /// Debian/Ubuntu packages (dpkg).
    Deb,
    /// Python packages (PEP 440).
    Pypi,
    /// npm packages (semver as node-semver implements it).
    Npm,
    /// Alpine packages (apk-tools' rules).
    Apk,
    /// RPM packages (rpmvercmp on epoch, version, release).
    Rpm,
    /// Ruby gems (RubyGems' `Gem::Version` order).
    Gem,
    /// Anything else (the purl spec's `generic`). rootwasm inventories only
    /// interpreters as such (`python`, `node`, `ruby` no OS package
    /// installed), whose ranges the host reads in their language's order;
    /// for any other name there is no version order, and the recipe's own
    /// check decides.
    Generic,
}

impl Ecosystem {
    /// The canonical name, as written in `recipe.toml`, journals and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Gem => "gem",
            Ecosystem::Generic => "generic",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ecosystem name rootwasm does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ecosystem {0:?} is not supported (supported: deb, pypi, npm, apk, rpm, gem, generic)")]
pub struct UnknownEcosystem(pub String);

impl FromStr for Ecosystem {
    type Err = UnknownEcosystem;
    fn from_str(s: &str) -> Result<Self, UnknownEcosystem> {
        match s {
            "deb" | "debian" | "dpkg" => Ok(Ecosystem::Deb),
            "pypi" | "python" => Ok(Ecosystem::Pypi),
            "npm" => Ok(Ecosystem::Npm),
            "apk" | "alpine" => Ok(Ecosystem::Apk),
            "rpm" => Ok(Ecosystem::Rpm),
            "gem" | "rubygems" => Ok(Ecosystem::Gem),
            "generic" => Ok(Ecosystem::Generic),
            other => Err(UnknownEcosystem(other.to_owned())),
        }
    }
}

impl serde::Serialize for Ecosystem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Ecosystem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in [
            Ecosystem::Deb,
            Ecosystem::Pypi,
            Ecosystem::Npm,
            Ecosystem::Apk,
            Ecosystem::Rpm,
            Ecosystem::Gem,
            Ecosystem::Generic,
        ] {
            assert_eq!(e.as_str().parse::<Ecosystem>().unwrap(), e);
            let j = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Ecosystem>(&j).unwrap(), e);
        }
        assert_eq!("dpkg".parse::<Ecosystem>().unwrap(), Ecosystem::Deb);
        assert_eq!("rubygems".parse::<Ecosystem>().unwrap(), Ecosystem::Gem);
        assert!("cargo".parse::<Ecosystem>().is_err());
        assert!(serde_json::from_str::<Ecosystem>("\"TZDATA\"").is_err());
    }
}
