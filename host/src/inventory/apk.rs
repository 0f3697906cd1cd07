//! Installed Alpine packages, from apk's database `/lib/apk/db/installed`.
//!
//! The file is blank-line separated stanzas of one-letter fields (`P:` name,
//! `V:` version, `A:` arch, `o:` origin, `L:` license, then `F:`/`R:` file
//! lists and more); apk-tools writes every installed package there and
//! nothing else, so every stanza with a name and a version counts.

use super::Package;

/// The database, as apk-tools (2.x and 3.x with the v2 database) writes it.
pub const INSTALLED: &str = "/lib/apk/db/installed";

/// The package whose files (`F:` directory then `R:` name) include `path`.
pub fn owner(text: &str, path: &str) -> Option<String> {
    let (mut name, mut dir) = (None, "");
    for l in text.lines() {
        if l.trim().is_empty() {
            (name, dir) = (None, "");
        } else if let Some(n) = l.strip_prefix("P:") {
            name = Some(n);
        } else if let Some(d) = l.strip_prefix("F:") {
            dir = d;
        } else if let Some(f) = l.strip_prefix("R:")
            && path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(dir))
                .and_then(|p| p.strip_prefix('/'))
                == Some(f)
        {
            return name.map(str::to_owned);
        }
    }
    None
}

/// Every package in the `installed` database text.
pub fn packages(text: &str, location: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    // Blank lines separate stanzas. Keys are case-sensitive: `P:` is the name, `p:` what it provides.
    for stanza in lines.split(|l| l.trim().is_empty()) {
        let field = |key: char| {
            stanza.iter().find_map(|l| {
                let mut c = l.chars();
                (c.next() == Some(key) && c.next() == Some(':')).then(|| l[2..].trim().to_owned())
            })
        };
        let (Some(name), Some(version)) = (field('P'), field('V')) else {
            continue;
        };
        if name.is_empty() || version.is_empty() {
            continue;
        }
        let origin = field('o').filter(|o| !o.is_empty());
        out.push(Package {
            ecosystem: crate::ecosystem::Ecosystem::Apk,
            name,
            version,
            arch: field('A').filter(|a| !a.is_empty()),
            source: origin,
            licenses: field('L').filter(|l| !l.is_empty()).into_iter().collect(),
            location: location.into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_with_name_and_version() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:407047\nI:662528\nT:the musl c library\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Maintainer <m@example.org>\nt:1714485000\nc:abc\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1xyz=\n\nP:ssl_client\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\no:busybox\nF:usr/bin\nR:ssl_client\n\nV:9.9-r0\nT:a stanza without a name is not a package\n\n";
        let ps = packages(db, INSTALLED);
        assert_eq!(ps.len(), 2);
        assert_eq!(
            (
                ps[0].name.as_str(),
                ps[0].version.as_str(),
                ps[0].arch.as_deref()
            ),
            ("musl", "1.2.5-r0", Some("x86_64"))
        );
        assert_eq!(ps[1].source.as_deref(), Some("busybox"));
        assert_eq!(ps[1].licenses, ["GPL-2.0-only"]);
    }

    #[test]
    fn owner_is_the_stanza_listing_the_file() {
        let db = "P:musl\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:ruby-libs\nF:usr/lib/ruby/3.3.0\nR:set.rb\nF:usr/lib/ruby/3.3.0/x86_64-linux-musl\nR:rbconfig.rb\n\nP:other\nR:rbconfig.rb\n";
        assert_eq!(
            owner(db, "/usr/lib/ruby/3.3.0/x86_64-linux-musl/rbconfig.rb").as_deref(),
            Some("ruby-libs")
        );
        assert_eq!(
            owner(db, "/lib/ld-musl-x86_64.so.1").as_deref(),
            Some("musl")
        );
        assert_eq!(
            owner(db, "/usr/local/lib/ruby/3.3.0/x86_64-linux/rbconfig.rb"),
            None
        );
    }
}
