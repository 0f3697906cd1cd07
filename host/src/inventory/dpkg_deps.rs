//! Is a dpkg database whole? Every installed package's `Pre-Depends`,
//! `Depends`, `Breaks` and `Conflicts` judged the way `apt-get check` judges
//! them: alternatives, version relations, virtual packages and (versioned)
//! `Provides`, and Multi-Arch with `:any`/`:native` qualifiers.
//!
//! Hand-written because no crate evaluates relations against a database
//! (debian-control and deb822 parse fields but answer no "is this
//! satisfied"). The architecture rule is dpkg's `deparchsatisfied()`
//! (lib/dpkg/depcon.c): an unqualified dependency is met by a package of the
//! depender's architecture (`all` counting as native) or by a
//! `Multi-Arch: foreign` one; `:any` only by `Multi-Arch: allowed`; Breaks
//! and Conflicts without a qualifier apply to every architecture; a package
//! never conflicts with itself (any of its architectures). Versions compare
//! with debversion (checked against dpkg in tests/it/versions.rs).
//! `host/tests/it/depends.rs` checks the verdicts against `apt-get check`.

use crate::rootfs::{Kind, RootPath, RootView};
use debversion::Version;
use std::collections::HashMap;
use std::fmt;

/// A version relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    /// `<<`
    Lt,
    /// `<=` (and the obsolete `<`)
    Le,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`)
    Ge,
    /// `>>`
    Gt,
}

impl Rel {
    fn holds(self, have: &Version, want: &Version) -> bool {
        match self {
            Rel::Lt => have < want,
            Rel::Le => have <= want,
            Rel::Eq => have == want,
            Rel::Ge => have >= want,
            Rel::Gt => have > want,
        }
    }
}

/// An architecture qualifier on a relation's package name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchQual {
    /// None written.
    Implicit,
    /// `:any`
    Any,
    /// `:native`
    Native,
    /// `:amd64`, ...
    Named(String),
}

/// One package in a relation: `name[:arch] [(op version)]`.
#[derive(Clone, Debug)]
pub struct Atom {
    /// Package or virtual package name.
    pub name: String,
    /// Architecture qualifier.
    pub arch: ArchQual,
    /// Version constraint.
    pub version: Option<(Rel, Version)>,
    /// As written, for messages.
    pub text: String,
}

/// `Multi-Arch:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiArch {
    /// Absent or `no`.
    No,
    /// `same`
    Same,
    /// `foreign`
    Foreign,
    /// `allowed`
    Allowed,
}

/// Which field a relation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `Pre-Depends`
    PreDepends,
    /// `Depends`
    Depends,
    /// `Breaks`
    Breaks,
    /// `Conflicts`
    Conflicts,
}

impl Field {
    /// The field name as written in control files.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::PreDepends => "Pre-Depends",
            Field::Depends => "Depends",
            Field::Breaks => "Breaks",
            Field::Conflicts => "Conflicts",
        }
    }
    fn negative(self) -> bool {
        matches!(self, Field::Breaks | Field::Conflicts)
    }
}

/// One installed package with its relations.
#[derive(Clone, Debug)]
pub struct Installed {
    /// `Package`.
    pub name: String,
    /// `Architecture` (`all` kept as written).
    pub arch: String,
    /// `Version`.
    pub version: Version,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// Source package name (the package's own name if no `Source`).
    pub source: String,
    /// Source version (`Source: name (version)`, else `Version`).
    pub source_version: String,
    /// Relations: each clause is a list of alternatives (one for Breaks/Conflicts).
    pub relations: Vec<(Field, Vec<Atom>)>,
    /// `Provides`: virtual name and optional `(= version)`.
    pub provides: Vec<(String, Option<Version>)>,
}

impl Installed {
    /// `name:arch`, as apt prints it.
    pub fn id(&self) -> String {
        format!("{}:{}", self.name, self.arch)
    }

    /// Parse one control or status stanza (status not checked here).
    pub fn from_stanza(s: &rootwasm_deb::Stanza) -> Result<Installed, String> {
        let name = s.get("Package").ok_or("no Package field")?.to_owned();
        let what = |f: &str| format!("package {name}: {f}");
        let version = parse_version(s.get("Version").ok_or_else(|| what("no Version field"))?)
            .map_err(|e| what(&e))?;
        let (source, source_version) = match s.get("Source").map(str::trim) {
            Some(src) => match src.split_once(' ') {
                Some((n, v)) => (n.to_owned(), v.trim().trim_matches(['(', ')']).to_owned()),
                None => (src.to_owned(), version.to_string()),
            },
            None => (name.clone(), version.to_string()),
        };
        let mut relations = Vec::new();
        for f in [
            Field::PreDepends,
            Field::Depends,
            Field::Breaks,
            Field::Conflicts,
        ] {
            if let Some(v) = s.get(f.as_str()) {
                for clause in
                    parse_relations(v).map_err(|e| what(&format!("{}: {e}", f.as_str())))?
                {
                    if f.negative() {
                        // An `|` in Breaks/Conflicts means nothing to dpkg; each counts.
                        relations.extend(clause.into_iter().map(|a| (f, vec![a])));
                    } else {
                        relations.push((f, clause));
                    }
                }
            }
        }
        let mut provides = Vec::new();
        if let Some(v) = s.get("Provides") {
            for a in parse_relations(v)
                .map_err(|e| what(&format!("Provides: {e}")))?
                .into_iter()
                .flatten()
            {
                provides.push((a.name, a.version.map(|(_, v)| v)));
            }
        }
        Ok(Installed {
            arch: s.get("Architecture").unwrap_or("all").to_owned(),
            multi_arch: match s.get("Multi-Arch") {
                Some("same") => MultiArch::Same,
                Some("foreign") => MultiArch::Foreign,
                Some("allowed") => MultiArch::Allowed,
                _ => MultiArch::No,
            },
            name,
            version,
            source,
            source_version,
            relations,
            provides,
        })
    }
}

fn parse_version(v: &str) -> Result<Version, String> {
    v.trim()
        .parse()
        .map_err(|e| format!("bad version {v:?}: {e:?}"))
}

/// Parse a relation field: clauses separated by `,`, alternatives by `|`.
/// Architecture restrictions (`[amd64]`) and build profiles (`<!nocheck>`)
/// belong to source packages; here they are dropped.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<Atom>>, String> {
    let mut out = Vec::new();
    for clause in field.split(',') {
        if clause.trim().is_empty() {
            continue;
        }
        let mut alts = Vec::new();
        for alt in clause.split('|') {
            alts.push(parse_atom(alt.trim())?);
        }
        out.push(alts);
    }
    Ok(out)
}

fn parse_atom(text: &str) -> Result<Atom, String> {
    // `[arch]` and `<profile>` start outside the parentheses of a version.
    let mut depth = 0;
    let end = text
        .char_indices()
        .find(|&(_, c)| {
            depth += (c == '(') as i32 - (c == ')') as i32;
            depth == 0 && (c == '[' || c == '<')
        })
        .map_or(text.len(), |(i, _)| i);
    let bare = text[..end].trim();
    let (head, version) = match bare.split_once('(') {
        Some((h, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("{text:?}: unclosed `(`"))?
                .trim();
            let op_len = inner
                .find(|c: char| !"<=>".contains(c))
                .unwrap_or(inner.len());
            let rel = match &inner[..op_len] {
                "<<" => Rel::Lt,
                "<=" | "<" => Rel::Le,
                "=" => Rel::Eq,
                ">=" | ">" => Rel::Ge,
                ">>" => Rel::Gt,
                op => return Err(format!("{text:?}: unknown relation {op:?}")),
            };
            (h.trim(), Some((rel, parse_version(&inner[op_len..])?)))
        }
        None => (bare, None),
    };
    let (name, arch) = match head.split_once(':') {
        Some((n, "any")) => (n, ArchQual::Any),
        Some((n, "native")) => (n, ArchQual::Native),
        Some((n, a)) => (n, ArchQual::Named(a.to_owned())),
        None => (head, ArchQual::Implicit),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("{text:?}: bad package name"));
    }
    Ok(Atom {
        name: name.to_owned(),
        arch,
        version,
        text: text.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

/// A relation an installed package has that the database does not meet.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The package whose relation is unmet, `name:arch`.
    pub package: String,
    /// Its version.
    pub version: String,
    /// `Depends`, `Pre-Depends`, `Breaks` or `Conflicts`.
    pub field: &'static str,
    /// The relation as written (alternatives joined by ` | `).
    pub relation: String,
    /// What is installed instead (or what breaks it).
    pub found: String,
    /// Names the relation is about (to find what would complete it).
    pub names: Vec<String>,
}

impl Problem {
    /// What the problem is about, versions left out: the same relation of
    /// the same package on the same names, unmet before and after an
    /// upgrade, is not a break the upgrade made.
    pub fn key(&self) -> (String, &'static str, Vec<String>) {
        let mut names = self.names.clone();
        names.sort();
        (self.package.clone(), self.field, names)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}: {} ({})",
            self.package, self.version, self.field, self.relation, self.found
        )
    }
}

/// The installed packages of one root.
#[derive(Clone, Debug, Default)]
pub struct Database {
    /// Installed packages.
    pub packages: Vec<Installed>,
}

/// Where dpkg keeps what is installed.
pub const STATUS: &str = "/var/lib/dpkg/status";
/// Distroless images' one-file-per-package database.
pub const STATUS_D: &str = "/var/lib/dpkg/status.d";

impl Database {
    /// Read `/var/lib/dpkg/status` and `status.d/` (either may be absent).
    pub fn read(view: &dyn RootView) -> Result<Database, String> {
        let mut db = Database::default();
        if let Some(t) = super::read(view, STATUS) {
            db.add_text(&t, STATUS)?;
        }
        let dir = RootPath::lexical(STATUS_D).expect("valid path");
        if let Ok(entries) = view.read_dir(&dir) {
            for (name, kind) in entries {
                let loc = format!("{STATUS_D}/{name}");
                if kind == Kind::File
                    && !name.ends_with(".md5sums")
                    && let Some(t) = super::read(view, &loc)
                {
                    db.add_text(&t, &loc)?;
                }
            }
        }
        Ok(db)
    }

    /// Add the installed packages of a status-format text.
    pub fn add_text(&mut self, text: &str, location: &str) -> Result<(), String> {
        let stanzas =
            rootwasm_deb::Stanza::parse_all(text).map_err(|e| format!("{location}: {e}"))?;
        for s in stanzas {
            // apt counts every state but not-installed and config-files as installed.
            let state = s.get("Status").and_then(|st| st.split_whitespace().nth(2));
            if matches!(state, Some("not-installed" | "config-files")) {
                continue;
            }
            self.packages
                .push(Installed::from_stanza(&s).map_err(|e| format!("{location}: {e}"))?);
        }
        Ok(())
    }

    /// The installed package `name` of `arch` (or `all`), if any.
    pub fn get(&self, name: &str, arch: &str) -> Option<&Installed> {
        self.packages
            .iter()
            .find(|p| p.name == name && (p.arch == arch || p.arch == "all" || arch == "all"))
    }

    /// Replace the installed package of the same name and architecture
    /// (or add it): what an upgrade leaves in the database.
    pub fn upgrade(&mut self, new: Installed) {
        let same = |p: &Installed| {
            p.name == new.name && (p.arch == new.arch || p.multi_arch != MultiArch::Same)
        };
        self.packages.retain(|p| !same(p));
        self.packages.push(new);
    }

    /// Every unmet relation, sorted.
    pub fn problems(&self) -> Vec<Problem> {
        let idx = Index::new(self);
        let mut out = Vec::new();
        for p in &self.packages {
            for (field, alts) in &p.relations {
                let found = alts.iter().find_map(|a| idx.satisfier(p, a, *field));
                let unmet = if field.negative() {
                    found.clone()
                } else {
                    found.is_none().then(|| idx.instead(p, alts))
                };
                if let Some(found) = unmet {
                    out.push(Problem {
                        package: p.id(),
                        version: p.version.to_string(),
                        field: field.as_str(),
                        relation: alts
                            .iter()
                            .map(|a| a.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" | "),
                        found,
                        names: alts.iter().map(|a| a.name.clone()).collect(),
                    });
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Packages and providers by name, and the native architecture.
struct Index<'a> {
    by_name: HashMap<&'a str, Vec<&'a Installed>>,
    providers: HashMap<&'a str, Vec<(&'a Installed, Option<&'a Version>)>>,
    native: &'a str,
}

impl<'a> Index<'a> {
    fn new(db: &'a Database) -> Self {
        let mut by_name: HashMap<&str, Vec<&Installed>> = HashMap::new();
        let mut providers: HashMap<&str, Vec<_>> = HashMap::new();
        for p in &db.packages {
            by_name.entry(&p.name).or_default().push(p);
            for (v, ver) in &p.provides {
                providers
                    .entry(v.as_str())
                    .or_default()
                    .push((p, ver.as_ref()));
            }
        }
        // dpkg's own architecture is the native one; else the first
        // architecture-specific package's.
        let native = by_name
            .get("dpkg")
            .and_then(|v| v.first())
            .map(|p| p.arch.as_str())
            .or_else(|| {
                db.packages
                    .iter()
                    .map(|p| p.arch.as_str())
                    .find(|a| *a != "all")
            })
            .unwrap_or("all");
        Index {
            by_name,
            providers,
            native,
        }
    }

    /// `deparchsatisfied()` of dpkg's lib/dpkg/depcon.c.
    fn arch_ok(&self, dependent: &Installed, it: &Installed, a: &Atom, field: Field) -> bool {
        let native = |x: &str| (if x == "all" { self.native } else { x }).to_owned();
        let dep_arch = match &a.arch {
            ArchQual::Implicit if field.negative() => return true,
            ArchQual::Implicit if it.multi_arch == MultiArch::Foreign => return true,
            ArchQual::Implicit => native(&dependent.arch),
            ArchQual::Any => return it.multi_arch == MultiArch::Allowed || field.negative(),
            ArchQual::Native => self.native.to_owned(),
            ArchQual::Named(n) => native(n),
        };
        dep_arch == native(&it.arch)
    }

    /// An installed package (or provider) meeting `a`, described.
    fn satisfier(&self, dependent: &Installed, a: &Atom, field: Field) -> Option<String> {
        let not_self = |p: &Installed| !field.negative() || p.name != dependent.name;
        let version_ok = |have: Option<&Version>| match (&a.version, have) {
            (None, _) => true,
            (Some((rel, want)), Some(have)) => rel.holds(have, want),
            // An unversioned Provides meets no versioned relation.
            (Some(_), None) => false,
        };
        let direct = self
            .by_name
            .get(a.name.as_str())
            .into_iter()
            .flatten()
            .find(|p| {
                not_self(p) && self.arch_ok(dependent, p, a, field) && version_ok(Some(&p.version))
            });
        if let Some(p) = direct {
            return Some(format!("{} {} is installed", p.id(), p.version));
        }
        let provider = self
            .providers
            .get(a.name.as_str())
            .into_iter()
            .flatten()
            .find(|(p, v)| not_self(p) && self.arch_ok(dependent, p, a, field) && version_ok(*v));
        provider.map(|(p, _)| format!("{} {} provides {}", p.id(), p.version, a.name))
    }

    /// What is installed under the names of unmet alternatives.
    fn instead(&self, dependent: &Installed, alts: &[Atom]) -> String {
        let mut seen = Vec::new();
        for a in alts {
            for p in self.by_name.get(a.name.as_str()).into_iter().flatten() {
                let arch = if self.arch_ok(dependent, p, a, Field::Depends) {
                    ""
                } else {
                    " (wrong architecture)"
                };
                seen.push(format!("{} {} is installed{arch}", p.id(), p.version));
            }
        }
        if seen.is_empty() {
            "not installed".into()
        } else {
            seen.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(text: &str) -> Database {
        let mut d = Database::default();
        d.add_text(text, "test").unwrap();
        d
    }

    fn broken(text: &str) -> Vec<String> {
        db(text)
            .problems()
            .iter()
            .map(|p| format!("{} {}: {}", p.package, p.field, p.relation))
            .collect()
    }

    const LIBC: &str = "Package: dpkg\nArchitecture: amd64\nVersion: 1.21\n\nPackage: libc6\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9\nProvides: libc-abi (= 1)\n\n";

    #[test]
    fn versions_alternatives_and_provides() {
        let ok = format!(
            "{LIBC}Package: a\nArchitecture: amd64\nVersion: 1\nDepends: libc6 (>= 2.36), nope | libc6 (<< 3), libc-abi (= 1), libc-abi\n"
        );
        assert!(broken(&ok).is_empty(), "{:?}", broken(&ok));
        let bad = format!(
            "{LIBC}Package: a\nArchitecture: amd64\nVersion: 1\nPre-Depends: libc6 (>> 2.36-9)\nDepends: libc-abi (= 2), nope | nada\n"
        );
        assert_eq!(
            broken(&bad),
            [
                "a:amd64 Depends: libc-abi (= 2)",
                "a:amd64 Depends: nope | nada",
                "a:amd64 Pre-Depends: libc6 (>> 2.36-9)"
            ]
        );
    }

    #[test]
    fn breaks_and_conflicts_not_with_self() {
        let t = format!(
            "{LIBC}Package: a\nArchitecture: all\nVersion: 1\nProvides: mta\nConflicts: mta, a\nBreaks: libc6 (<< 2.37)\n\nPackage: b\nArchitecture: amd64\nVersion: 1\nConflicts: libc-abi\n"
        );
        assert_eq!(
            broken(&t),
            [
                "a:all Breaks: libc6 (<< 2.37)",
                "b:amd64 Conflicts: libc-abi"
            ]
        );
    }

    #[test]
    fn multi_arch_rules() {
        let t = "Package: dpkg\nArchitecture: amd64\nVersion: 1\n\nPackage: py\nArchitecture: i386\nMulti-Arch: allowed\nVersion: 3\n\nPackage: tool\nArchitecture: i386\nMulti-Arch: foreign\nVersion: 1\n\nPackage: lib\nArchitecture: i386\nVersion: 1\n\nPackage: a\nArchitecture: all\nVersion: 1\nDepends: py:any, tool, lib, lib:i386, py:native\n";
        assert_eq!(
            broken(t),
            ["a:all Depends: lib", "a:all Depends: py:native"]
        );
    }

    #[test]
    fn upgrade_replaces_and_source_is_read() {
        let mut d = db(&format!(
            "{LIBC}Package: curl\nArchitecture: amd64\nSource: curl\nVersion: 7.88\nDepends: libcurl4 (= 7.88)\n\nPackage: libcurl4\nArchitecture: amd64\nMulti-Arch: same\nSource: curl (7.88)\nVersion: 7.88\n"
        ));
        assert!(d.problems().is_empty());
        let new =
            db("Package: curl\nArchitecture: amd64\nVersion: 7.89\nDepends: libcurl4 (= 7.89)\n")
                .packages
                .remove(0);
        d.upgrade(new);
        let p = d.problems();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].found, "libcurl4:amd64 7.88 is installed");
        assert_eq!(d.get("libcurl4", "amd64").unwrap().source_version, "7.88");
    }

    #[test]
    fn bad_relations_name_the_place() {
        let mut d = Database::default();
        let e = d
            .add_text(
                "Package: a\nVersion: 1\nDepends: b (~ 1)\n",
                "/var/lib/dpkg/status",
            )
            .unwrap_err();
        assert!(
            e.contains("/var/lib/dpkg/status: package a: Depends:"),
            "{e}"
        );
    }
}
