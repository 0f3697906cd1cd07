//! deb822 stanzas (control files, `/var/lib/dpkg/status`) and the field
//! order dpkg writes them in.

use crate::{Error, err};

/// One paragraph of `Field: value` lines, fields in their original order.
///
/// A value keeps its continuation lines verbatim (`"first\n second\n ."`); a
/// field whose first line is empty (like `Conffiles:`) has a value that
/// starts with `\n`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stanza {
    fields: Vec<(String, String)>,
}

/// The order in which dpkg writes the fields it knows (`fieldinfos[]` in
/// dpkg's lib/dpkg/parse.c); fields it does not know follow, in their
/// original order.
const DPKG_ORDER: &[&str] = &[
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Filename",
    "Size",
    "MD5sum",
    "MSDOS-Filename",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

impl Stanza {
    /// Parse every paragraph of a deb822 file.
    pub fn parse_all(text: &str) -> Result<Vec<Stanza>, Error> {
        Ok(paragraphs(text)?.into_iter().map(|(_, s)| s).collect())
    }

    /// A field's value (field names match case-insensitively, as in dpkg).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Set a field, keeping its position if present, else appending it.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.to_owned(), value)),
        }
    }

    /// Remove a field.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Field names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| k.as_str())
    }

    /// The stanza as written, fields in their current order, with no blank line after.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.fields {
            write_field(&mut out, k, v);
        }
        out
    }

    /// The stanza as dpkg writes it into `status`: known fields in dpkg's
    /// order, then the rest in their original order.
    pub fn to_dpkg_text(&self) -> String {
        let mut out = String::new();
        for name in DPKG_ORDER {
            if let Some((k, v)) = self
                .fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
            {
                write_field(&mut out, k, v);
            }
        }
        for (k, v) in &self.fields {
            if !DPKG_ORDER.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                write_field(&mut out, k, v);
            }
        }
        out
    }
}

fn write_field(out: &mut String, k: &str, v: &str) {
    out.push_str(k);
    out.push(':');
    if !v.starts_with('\n') {
        out.push(' ');
    }
    out.push_str(v);
    out.push('\n');
}

/// Every paragraph with the byte range it spans (its lines, without the
/// blank separator), so one stanza can be replaced and the rest of the file
/// left byte for byte as it was.
pub fn paragraphs(text: &str) -> Result<Vec<(std::ops::Range<usize>, Stanza)>, Error> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, Stanza)> = None;
    let mut pos = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let start = pos;
        pos += line.len();
        let l = line.trim_end_matches('\n');
        if l.trim().is_empty() {
            if let Some((s, st)) = cur.take() {
                out.push((s..start, st));
            }
            continue;
        }
        if l.starts_with('#') && cur.is_none() {
            continue;
        }
        let (s, st) = cur.get_or_insert_with(|| (start, Stanza::default()));
        let _ = s;
        if l.starts_with(' ') || l.starts_with('\t') {
            let (_, v) = st.fields.last_mut().ok_or_else(|| {
                err(format!(
                    "line {}: continuation line before any field",
                    n + 1
                ))
            })?;
            v.push('\n');
            v.push_str(l);
        } else {
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| err(format!("line {}: expected `Field: value`", n + 1)))?;
            if k.is_empty() || k.contains(char::is_whitespace) {
                return Err(err(format!("line {}: bad field name {k:?}", n + 1)));
            }
            st.fields.push((k.to_owned(), v.trim().to_owned()));
        }
    }
    if let Some((s, st)) = cur.take() {
        out.push((s..pos, st));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str = "Package: libexpat1\nSource: expat\nVersion: 2.5.0-1+deb12u5\nArchitecture: amd64\nMaintainer: X <x@example.org>\nInstalled-Size: 414\nDepends: libc6 (>= 2.36)\nSection: libs\nPriority: optional\nMulti-Arch: same\nHomepage: https://libexpat.github.io/\nDescription: XML parsing C library - runtime library\n This package contains the runtime.\n .\n More.\n";

    #[test]
    fn dpkg_order_puts_unknown_fields_last() {
        let mut s = Stanza::parse_all(CONTROL).unwrap().remove(0);
        s.set("Status", "install ok installed");
        let t = s.to_dpkg_text();
        let names: Vec<&str> = t
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| !k.starts_with(' '))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            names,
            [
                "Package",
                "Status",
                "Priority",
                "Section",
                "Installed-Size",
                "Maintainer",
                "Architecture",
                "Multi-Arch",
                "Source",
                "Version",
                "Depends",
                "Description",
                "Homepage"
            ]
        );
        assert!(t.contains("Description: XML parsing C library - runtime library\n This package contains the runtime.\n .\n More.\n"));
    }

    #[test]
    fn paragraphs_keep_ranges() {
        let text = "Package: a\nVersion: 1\n\nPackage: b\nConffiles:\n /etc/b 0123\n";
        let p = paragraphs(text).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(&text[p[0].0.clone()], "Package: a\nVersion: 1\n");
        assert_eq!(p[1].1.get("conffiles"), Some("\n /etc/b 0123"));
        assert_eq!(p[1].1.to_text(), "Package: b\nConffiles:\n /etc/b 0123\n");
    }

    #[test]
    fn rejects_garbage() {
        assert!(paragraphs(" leading continuation\n").is_err());
        assert!(paragraphs("no colon here\n").is_err());
    }
}
