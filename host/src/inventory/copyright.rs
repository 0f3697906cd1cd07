//! Debian package licenses, from `/usr/share/doc/<package>/copyright`.
//!
//! Only machine-readable files (DEP-5, a first paragraph with `Format:`)
//! are read: their `License:` fields' first lines are the short names
//! (`MIT`, `GPL-2+`, `GPL-2+ or Artistic`). A free-text copyright file
//! gives no license rather than a guess; `license` turns the names into
//! SPDX where it can.

use super::{field, stanzas};

/// Where a package's copyright file is.
pub fn path(package: &str) -> String {
    format!("/usr/share/doc/{package}/copyright")
}

/// The distinct license names a DEP-5 file declares, in order; empty for any other file.
pub fn licenses(text: &str) -> Vec<String> {
    let paragraphs = stanzas(text);
    let dep5 = paragraphs
        .first()
        .and_then(|p| field(p, "Format"))
        .is_some_and(|f| f.contains("copyright-format") || f.contains("dep5"));
    if !dep5 {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for p in &paragraphs {
        let Some(name) = field(p, "License").and_then(|l| l.lines().next()) else {
            continue;
        };
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|x| x == name) {
            out.push(name.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep5_license_names_once_each() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: Expat\n\nFiles: *\nCopyright: 1998 James Clark\nLicense: MIT\n\nFiles: debian/*\nCopyright: 2001 Someone\nLicense: GPL-2+ or Artistic\n\nLicense: MIT\n Permission is hereby granted...\n";
        assert_eq!(licenses(text), ["MIT", "GPL-2+ or Artistic"]);
    }

    #[test]
    fn free_text_gives_nothing() {
        let text =
            "This is the Debian prepackaged version of the Debian Base System.\n\nLicense: GPL\n";
        assert!(licenses(text).is_empty());
    }
}
