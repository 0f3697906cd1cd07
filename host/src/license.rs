//! Declared license strings as SPDX, for the SBOMs.
//!
//! Ecosystems declare licenses in their own words: SPDX expressions (apk,
//! newer npm and Python metadata), Debian DEP-5 short names (`GPL-2+`,
//! `Expat`, `GPL-2+ or Artistic`), RPM's Fedora/SPDX mix, or free text
//! (`Apache 2.0`). [`Spdx::of`] turns what it can into a valid SPDX
//! expression and keeps the rest as a name, which the SBOMs carry as a
//! CycloneDX `license.name` and an SPDX `LicenseRef-`.

/// A declared license, as SPDX understands it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spdx {
    /// One license id from the SPDX list, e.g. `MIT`.
    Id(String),
    /// A valid compound expression, e.g. `GPL-2.0-or-later OR Artistic-1.0-Perl`.
    Expression(String),
    /// Not expressible in SPDX; the declared text.
    Name(String),
}

/// Debian DEP-5 short names that differ from SPDX ids.
const DEBIAN: &[(&str, &str)] = &[
    ("Expat", "MIT"),
    ("GPL-1", "GPL-1.0-only"),
    ("GPL-1+", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-3+", "GPL-3.0-or-later"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-2+", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("LGPL-3+", "LGPL-3.0-or-later"),
    ("AGPL-3", "AGPL-3.0-only"),
    ("AGPL-3+", "AGPL-3.0-or-later"),
    ("GFDL-1.2+", "GFDL-1.2-or-later"),
    ("GFDL-1.3+", "GFDL-1.3-or-later"),
    ("Artistic", "Artistic-1.0-Perl"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("BSD-4-clause", "BSD-4-Clause"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("Apache-2", "Apache-2.0"),
    ("zlib", "Zlib"),
];

/// A single license name as an SPDX id, if it is one or a DEP-5 alias of one.
fn id(name: &str) -> Option<String> {
    if let Some((_, id)) = DEBIAN.iter().find(|(d, _)| *d == name) {
        return Some((*id).to_owned());
    }
    spdx::license_id(name).map(|l| l.name.to_owned())
}

impl Spdx {
    /// Classify one declared license string.
    pub fn of(declared: &str) -> Spdx {
        let declared = declared.trim();
        if let Some(id) = id(declared) {
            return Spdx::Id(id);
        }
        // Words joined by or/and (DEP-5 spells them lower case), each an id.
        let mut words = Vec::new();
        for w in declared.split_whitespace() {
            match w.to_ascii_lowercase().as_str() {
                "or" => words.push("OR".to_owned()),
                "and" => words.push("AND".to_owned()),
                "with" => words.push("WITH".to_owned()),
                _ => words.push(id(w).unwrap_or_else(|| w.to_owned())),
            }
        }
        let candidate = words.join(" ");
        match spdx::Expression::parse(&candidate) {
            Ok(_) if candidate.contains(' ') => Spdx::Expression(candidate),
            _ => Spdx::Name(declared.to_owned()),
        }
    }
}

/// An SPDX `LicenseRef-` id for a name: letters, digits, `.` and `-` only.
pub fn license_ref(name: &str) -> String {
    let body: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    match body.trim_matches('-') {
        "" => "LicenseRef-unnamed".into(),
        b => format!("LicenseRef-{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_spdx_and_free_text() {
        assert_eq!(Spdx::of("MIT"), Spdx::Id("MIT".into()));
        assert_eq!(Spdx::of("GPL-2"), Spdx::Id("GPL-2.0-only".into()));
        assert_eq!(
            Spdx::of("GPL-2+ or Artistic"),
            Spdx::Expression("GPL-2.0-or-later OR Artistic-1.0-Perl".into())
        );
        assert_eq!(
            Spdx::of("MIT AND BSD-2-Clause"),
            Spdx::Expression("MIT AND BSD-2-Clause".into())
        );
        assert_eq!(Spdx::of("Apache 2.0"), Spdx::Name("Apache 2.0".into()));
        assert_eq!(
            Spdx::of("public-domain"),
            Spdx::Name("public-domain".into())
        );
        assert_eq!(
            license_ref("Apache Software License"),
            "LicenseRef-Apache-Software-License"
        );
    }
}
