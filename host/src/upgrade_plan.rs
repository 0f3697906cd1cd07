//! Which distro upgrades run together, decided from control data before any
//! recipe runs, so the dpkg database stays whole.
//!
//! Each recipe's `.deb` artifacts say what it would install (their control
//! files). The plan simulates the database after the chosen upgrades and
//! asks [`Database::problems`] what that breaks beyond what was broken
//! before. A break that another loaded recipe can mend pulls that recipe in
//! (a companion); one that none can mend refuses the recipes that caused it,
//! with exactly what is missing. Binary packages installed from one source
//! version are upgraded together or not at all. Recipes that depend on each
//! other form a group: the runner keeps a group's changes only if all of it
//! applied.

use crate::inventory::dpkg_deps::{Database, Installed, MultiArch, Problem};
use crate::recipe::Recipe;
use rootwasm_deb::{Deb, Limits};
use std::collections::{BTreeMap, BTreeSet};

/// A recipe the plan may use.
pub struct Candidate<'a> {
    /// The recipe.
    pub recipe: &'a Recipe,
    /// Chosen by the user (else a companion, run only when needed).
    pub selected: bool,
}

/// What runs, in which groups, and what is refused.
#[derive(Debug, Default)]
pub struct Plan {
    /// Groups of candidate indices, each in candidate order; groups ordered
    /// by their first member.
    pub groups: Vec<Vec<usize>>,
    /// Refused candidates and why.
    pub refused: BTreeMap<usize, String>,
}

/// One package a recipe would upgrade.
#[derive(Clone, Debug)]
pub struct Upgrade {
    /// As installed now.
    pub old: Installed,
    /// As the `.deb` declares it.
    pub new: Installed,
}

/// The upgrades a recipe's `.deb` artifacts make on `db`: packages installed
/// in an older version. A recipe without `.deb` artifacts makes none.
pub fn upgrades(recipe: &Recipe, db: &Database) -> Result<Vec<Upgrade>, String> {
    let mut out = Vec::new();
    for (name, (_, bytes)) in &recipe.artifacts {
        if !name.ends_with(".deb") {
            continue;
        }
        let deb = Deb::parse_control(bytes, &Limits::default())
            .map_err(|e| format!("artifact {name}: {e}"))?;
        let new =
            Installed::from_stanza(&deb.control).map_err(|e| format!("artifact {name}: {e}"))?;
        let old = db.packages.iter().find(|p| {
            p.name == new.name
                && (p.arch == new.arch || p.multi_arch != MultiArch::Same || new.arch == "all")
        });
        if let Some(old) = old.filter(|o| o.version < new.version) {
            out.push(Upgrade {
                old: old.clone(),
                new,
            });
        }
    }
    Ok(out)
}

/// Union-find over candidate indices.
struct Groups(Vec<usize>);

impl Groups {
    fn root(&mut self, i: usize) -> usize {
        let mut r = i;
        while self.0[r] != r {
            r = self.0[r];
        }
        self.0[i] = r;
        r
    }
    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        self.0[ra.max(rb)] = ra.min(rb);
    }
}

/// A new break and the names whose upgrade could mend it.
struct Break {
    text: String,
    involved: BTreeSet<String>,
}

/// Decide the plan. `ups[i]` are candidate `i`'s upgrades.
pub fn plan(db: &Database, cands: &[Candidate<'_>], ups: &[Vec<Upgrade>]) -> Plan {
    let baseline: BTreeSet<_> = db.problems().into_iter().map(key).collect();
    let mut refused: BTreeMap<usize, String> = BTreeMap::new();
    'restart: loop {
        let mut chosen: BTreeSet<usize> = (0..cands.len())
            .filter(|i| cands[*i].selected && !refused.contains_key(i))
            .collect();
        let mut groups = Groups((0..cands.len()).collect());
        loop {
            let breaks = breaks(db, &baseline, &chosen, ups);
            if breaks.is_empty() {
                break;
            }
            let mut added = false;
            for b in &breaks {
                let upgrading =
                    |i: &usize| ups[*i].iter().any(|u| b.involved.contains(&u.new.name));
                let responsible: Vec<usize> = chosen.iter().copied().filter(upgrading).collect();
                let fixers: Vec<usize> = (0..cands.len())
                    .filter(|i| !chosen.contains(i) && !refused.contains_key(i))
                    .filter(upgrading)
                    .collect();
                for &f in &fixers {
                    chosen.insert(f);
                    added = true;
                    responsible.iter().for_each(|&r| groups.join(r, f));
                }
                if fixers.is_empty() && !added {
                    let before = refused.len();
                    for r in responsible {
                        refused
                            .entry(r)
                            .or_insert_with(|| refusal(&ups[r], &b.text));
                    }
                    if refused.len() > before {
                        continue 'restart;
                    }
                }
            }
            if !added {
                // Breaks no chosen recipe causes: the runner's final check reports them.
                break;
            }
        }
        join_needs(db, &baseline, &chosen, ups, &mut groups);
        return Plan {
            groups: collect_groups(&chosen, &mut groups),
            refused,
        };
    }
}

/// A problem's identity across versions ([`Problem::key`]).
type Key = (String, &'static str, Vec<String>);

fn key(p: Problem) -> Key {
    p.key()
}

fn refusal(ups: &[Upgrade], why: &str) -> String {
    let what: Vec<String> = ups
        .iter()
        .map(|u| format!("{} {} -> {}", u.new.name, u.old.version, u.new.version))
        .collect();
    format!(
        "refused before running: upgrading {} would leave the dpkg database broken, and no \
         loaded recipe completes it: {why}. Add a recipe for what is missing (`rootwasm recipe \
         new distro-upgrade --deb <its .deb>`) to --recipes",
        what.join(", ")
    )
}

/// The database after the upgrades of `chosen`.
fn simulate(db: &Database, chosen: &BTreeSet<usize>, ups: &[Vec<Upgrade>]) -> Database {
    let mut sim = db.clone();
    for i in chosen {
        for u in &ups[*i] {
            sim.upgrade(u.new.clone());
        }
    }
    sim
}

/// What the upgrades of `chosen` break that was not broken before:
/// unmet relations, and binary packages of one source version split.
fn breaks(
    db: &Database,
    baseline: &BTreeSet<Key>,
    chosen: &BTreeSet<usize>,
    ups: &[Vec<Upgrade>],
) -> Vec<Break> {
    let sim = simulate(db, chosen, ups);
    let mut out = Vec::new();
    for p in sim.problems() {
        let mut involved: BTreeSet<String> = p.names.iter().cloned().collect();
        involved.insert(p.package.split(':').next().unwrap_or_default().to_owned());
        // A package that provides a name (before or after) may be the cause.
        for old in db.packages.iter().chain(&sim.packages) {
            if old.provides.iter().any(|(n, _)| p.names.contains(n)) {
                involved.insert(old.name.clone());
            }
        }
        let text = p.to_string();
        if !baseline.contains(&key(p)) {
            out.push(Break { text, involved });
        }
    }
    out.extend(splits(db, &sim, chosen, ups));
    out
}

/// Installed siblings of an upgraded package (same source and source
/// version before) that the plan leaves at the old source version.
fn splits(
    db: &Database,
    sim: &Database,
    chosen: &BTreeSet<usize>,
    ups: &[Vec<Upgrade>],
) -> Vec<Break> {
    let mut out = Vec::new();
    for u in chosen.iter().flat_map(|i| &ups[*i]) {
        for sib in db.packages.iter().filter(|p| {
            p.name != u.old.name
                && p.source == u.old.source
                && p.source_version == u.old.source_version
        }) {
            let now = sim.get(&sib.name, &sib.arch);
            if now.is_some_and(|n| n.source_version != u.new.source_version) {
                out.push(Break {
                    text: format!(
                        "{} {} is built from {} {} like {}, which would move to {}: a source's \
                         binary packages are upgraded together",
                        sib.id(),
                        sib.version,
                        sib.source,
                        sib.source_version,
                        u.old.name,
                        u.new.source_version
                    ),
                    involved: [sib.name.clone(), u.new.name.clone()].into(),
                });
            }
        }
    }
    out
}

/// Join into one group each chosen recipe with the chosen recipes it
/// needs: those mending what it would break alone.
fn join_needs(
    db: &Database,
    baseline: &BTreeSet<Key>,
    chosen: &BTreeSet<usize>,
    ups: &[Vec<Upgrade>],
    groups: &mut Groups,
) {
    for &i in chosen {
        for b in breaks(db, baseline, &[i].into(), ups) {
            for &j in chosen {
                if j != i && ups[j].iter().any(|u| b.involved.contains(&u.new.name)) {
                    groups.join(i, j);
                }
            }
        }
    }
}

fn collect_groups(chosen: &BTreeSet<usize>, groups: &mut Groups) -> Vec<Vec<usize>> {
    let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in chosen {
        by_root.entry(groups.root(i)).or_default().push(i);
    }
    let mut out: Vec<Vec<usize>> = by_root.into_values().collect();
    out.sort_by_key(|g| g[0]);
    out
}
