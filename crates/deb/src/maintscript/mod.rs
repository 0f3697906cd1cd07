//! Maintainer scripts, evaluated instead of run.
//!
//! dpkg upgrades a package by running the old `prerm upgrade NEW`, the new
//! `preinst upgrade OLD`, unpacking, the old `postrm upgrade NEW`, and the new
//! `postinst configure OLD` (debconf runs the `config` script first, with the
//! same arguments). rootwasm runs no program from the image or the package,
//! so [`evaluate`] reads each script with the real arguments of *this*
//! upgrade and works out what it would change: debhelper fragments and the
//! usual hand-written shell, command by command (`commands.rs` says what
//! each one means in an image). The result is a [`Plan`] of effects the
//! recipe applies, with notes for the journal, or a refusal that quotes the
//! script lines it could not model.

mod commands;
mod eval;
mod scope;
pub mod shell;

pub use scope::scope;

use crate::Error;
use std::collections::{BTreeMap, BTreeSet};

/// What a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What the evaluator may ask about the image (before the upgrade).
pub trait Facts {
    /// The kind of `path` (absolute), following a final symlink if `follow`.
    fn kind(&mut self, path: &str, follow: bool) -> Option<Kind>;
    /// A file's bytes.
    fn read(&mut self, path: &str) -> Option<Vec<u8>>;
    /// A symlink's target.
    fn readlink(&mut self, path: &str) -> Option<String>;
    /// Names in a directory (empty if none).
    fn read_dir(&mut self, path: &str) -> Vec<String>;
    /// Permission bits (`& 0o7777`), uid and gid, following symlinks.
    fn meta(&mut self, path: &str) -> Option<(u32, u32, u32)>;
    /// debconf's stored answer to a question (`/var/cache/debconf/config.dat`).
    fn debconf(&mut self, question: &str) -> Option<String> {
        let text = self.read("/var/cache/debconf/config.dat")?;
        let text = String::from_utf8_lossy(&text);
        let stanza = text
            .split("\n\n")
            .find(|s| s.lines().next() == Some(&format!("Name: {question}")))?;
        stanza
            .lines()
            .find_map(|l| l.strip_prefix("Value: ").map(str::to_owned))
    }
}

/// One upgrade of one package.
#[derive(Clone, Debug, Default)]
pub struct Upgrade {
    pub package: String,
    pub arch: String,
    pub old_version: String,
    pub new_version: String,
    /// Paths the new package ships and their kinds (they exist once unpacked).
    pub new_files: BTreeMap<String, Kind>,
    /// The old version's `prerm` and `postrm`.
    pub old_scripts: BTreeMap<String, String>,
    /// The new version's `preinst`, `postinst` and `config`.
    pub new_scripts: BTreeMap<String, String>,
}

/// A change a script would make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Remove(String),
    Touch(String),
    Mkdir(String),
    Symlink {
        target: String,
        link: String,
    },
    Rename {
        from: String,
        to: String,
    },
    WriteFile(String, Vec<u8>),
    Chmod(String, u32),
    /// `owner[:group]` (or the group alone with `chgrp`).
    Chown(String, String, bool),
    /// Python bytecode of the package's modules (py3compile, py_compile,
    /// removing `__pycache__`): stale `.pyc` of replaced `.py` files go.
    Bytecode,
    /// `update-ca-certificates`.
    UpdateCaCertificates,
    /// ca-certificates' postinst `configure`: the conf rewrite, then
    /// `update-ca-certificates` ([`crate::ca_certificates::plan`]).
    CaCertificatesConfigure,
    /// `pam-auth-update --package`.
    PamAuthUpdate,
}

impl Effect {
    /// Effects whose result is the same whether or not they run, so an
    /// undecidable condition before them does not matter.
    pub fn either_way(&self) -> bool {
        matches!(self, Effect::Bytecode)
    }

    fn describe(&self) -> String {
        match self {
            Effect::Remove(p) => format!("remove {p}"),
            Effect::Touch(p) => format!("create {p}"),
            Effect::Mkdir(p) => format!("create the directory {p}"),
            Effect::Symlink { target, link } => format!("point {link} at {target}"),
            Effect::Rename { from, to } => format!("rename {from} to {to}"),
            Effect::WriteFile(p, _) => format!("write {p}"),
            Effect::Chmod(p, m) => format!("chmod {m:o} {p}"),
            Effect::Chown(p, o, _) => format!("chown {o} {p}"),
            Effect::Bytecode => "recompile Python bytecode".into(),
            Effect::UpdateCaCertificates => "run update-ca-certificates".into(),
            Effect::CaCertificatesConfigure => {
                "update /etc/ca-certificates.conf and /etc/ssl/certs".into()
            }
            Effect::PamAuthUpdate => "run pam-auth-update".into(),
        }
    }
}

/// What the scripts of an upgrade amount to.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// In dpkg's order.
    pub effects: Vec<Effect>,
    /// What was decided and why (no-ops included), for the report.
    pub notes: Vec<String>,
}

/// Functions whose text was reviewed and whose meaning is written in Rust.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reviewed {
    /// ca-certificates' postinst: on `configure`, the mode of
    /// `/usr/local/share/ca-certificates`, the rewrite of
    /// `/etc/ca-certificates.conf` and `update-ca-certificates`
    /// ([`crate::ca_certificates`]).
    CaCertificatesPostinst,
    /// python3.11's `remove_bytecode PKG`: deletes the `__pycache__` files of
    /// the package's modules (then postinst recompiles them).
    PythonRemoveBytecode,
}

/// sha256 of whole scripts reviewed as a unit: (package, script, sha256).
const REVIEWED_SCRIPTS: &[(&str, &str, &str, Reviewed)] = &[
    // ca-certificates 20230311+deb12u1 .. 20250419~deb12u2 (bookworm): one text.
    (
        "ca-certificates",
        "postinst",
        "bbad2df5d3c5e3d787789275830bc5b597fe6e9218a99516947a079dcae9e262",
        Reviewed::CaCertificatesPostinst,
    ),
];

fn reviewed_script(package: &str, script: &str, text: &str) -> Option<Reviewed> {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    REVIEWED_SCRIPTS
        .iter()
        .find(|(p, s, sum, _)| *p == package && *s == script && *sum == h)
        .map(|(_, _, _, m)| *m)
}

/// sha256 of a function's source (from its name line to its closing brace).
const REVIEWED_FUNCTIONS: &[(&str, &str, Reviewed)] = &[
    // python3.11, libpython3.11-minimal, libpython3.11-stdlib (bookworm).
    (
        "remove_bytecode",
        "94fadd97bacb04be09a2b736a1eb74c1833bfed05913b45509a312adf11bdccc",
        Reviewed::PythonRemoveBytecode,
    ),
    (
        "remove_bytecode",
        "ff7b2e05d5de1427c2d83ddc35692b1fc54e58828b62ab27d66e3b17e0b91f3f",
        Reviewed::PythonRemoveBytecode,
    ),
    (
        "remove_bytecode",
        "c8d181796424f9f7144cc3afdc3cba7630b9387543feb321685b84787777581c",
        Reviewed::PythonRemoveBytecode,
    ),
];

/// The functions a script defines, each with the sha256 of its text: what a
/// reviewer adds to the reviewed list after reading it.
pub fn function_hashes(script: &str) -> Result<Vec<(String, String)>, Error> {
    use sha2::Digest;
    fn walk(n: &shell::Node, out: &mut Vec<(String, String)>) {
        use shell::Node::*;
        match n {
            Function { name, text, body } => {
                out.push((
                    name.clone(),
                    hex::encode(sha2::Sha256::digest(text.as_bytes())),
                ));
                walk(body, out);
            }
            List(v) => v.iter().for_each(|c| walk(c, out)),
            If {
                arms, otherwise, ..
            } => {
                for (c, b) in arms {
                    walk(c, out);
                    walk(b, out);
                }
                if let Some(o) = otherwise {
                    walk(o, out);
                }
            }
            Case { arms, .. } => arms.iter().for_each(|(_, b)| walk(b, out)),
            For { body, .. } | While { body, .. } | Group { body, .. } => walk(body, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&shell::parse(script)?, &mut out);
    Ok(out)
}

pub(crate) fn reviewed_function(name: &str, text: &str) -> Option<Reviewed> {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    REVIEWED_FUNCTIONS
        .iter()
        .find(|(n, sum, _)| *n == name && *sum == h)
        .map(|(_, _, m)| *m)
}

/// `dpkg --compare-versions A OP B`, with dpkg's operators (`lt-nl` & co
/// treat an empty version as later than any).
pub fn compare_versions(a: &str, op: &str, b: &str) -> Result<bool, String> {
    use std::cmp::Ordering::*;
    let parse = |v: &str| -> Result<debversion::Version, String> {
        v.parse()
            .map_err(|e| format!("bad Debian version {v:?} in dpkg --compare-versions: {e:?}"))
    };
    let nl = op.ends_with("-nl");
    let ord = match (a.is_empty(), b.is_empty()) {
        (true, true) => Equal,
        (true, false) => {
            if nl {
                Greater
            } else {
                Less
            }
        }
        (false, true) => {
            if nl {
                Less
            } else {
                Greater
            }
        }
        _ => parse(a)?.cmp(&parse(b)?),
    };
    Ok(match op.trim_end_matches("-nl") {
        "lt" | "<<" => ord == Less,
        "le" | "<=" => ord != Greater,
        "eq" | "=" => ord == Equal,
        "ne" => ord != Equal,
        "ge" | ">=" => ord != Less,
        "gt" | ">>" => ord == Greater,
        o => return Err(format!("unknown dpkg --compare-versions operator {o:?}")),
    })
}

/// Why an upgrade's scripts cannot be reproduced, quoting the lines.
fn refusal(up: &Upgrade, script: &str, version: &str, text: &str, stop: eval::Stop) -> Error {
    let (a, b) = stop.lines;
    let quoted: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| a > 0 && *i + 1 >= a && *i < b.max(a))
        .map(|(i, l)| format!("    {}: {}", i + 1, l.trim_end()))
        .take(12)
        .collect();
    Error(format!(
        "the {script} of {} {version} cannot be reproduced without running it: {}{}\n\
         rootwasm never runs maintainer scripts. Upgrade this package with apt in a rebuild, or \
         write a recipe for what these lines do",
        up.package,
        stop.why,
        if quoted.is_empty() {
            String::new()
        } else {
            format!(", at\n{}", quoted.join("\n"))
        }
    ))
}

/// A file one script creates and a later one removes, which did not exist
/// before, is no change (libc6: preinst touches `/etc/ld.so.nohwcap`,
/// postinst removes it once every architecture is upgraded).
fn coalesce(effects: &mut Vec<Effect>, facts: &mut dyn Facts) {
    let mut i = 0;
    while i < effects.len() {
        if let Effect::Remove(p) = &effects[i]
            && let Some(j) = effects[..i]
                .iter()
                .rposition(|e| matches!(e, Effect::Touch(q) if q == p))
            && facts.kind(p, false).is_none()
        {
            effects.remove(i);
            effects.remove(j);
            i = j;
            continue;
        }
        i += 1;
    }
}

/// Evaluate every script dpkg runs for this upgrade, in dpkg's order.
pub fn evaluate(up: &Upgrade, facts: &mut dyn Facts) -> Result<Plan, Error> {
    let old = Some(up.old_version.clone());
    let new = Some(up.new_version.clone());
    let steps: [(&str, bool, [Option<String>; 2]); 5] = [
        ("prerm", false, [Some("upgrade".into()), new.clone()]),
        ("preinst", true, [Some("upgrade".into()), old.clone()]),
        ("postrm", false, [Some("upgrade".into()), new.clone()]),
        ("config", true, [Some("configure".into()), old.clone()]),
        ("postinst", true, [Some("configure".into()), old.clone()]),
    ];
    let mut plan = Plan::default();
    let mut notes = BTreeSet::new();
    let mut overlay = BTreeMap::new();
    let mut debconf = BTreeMap::new();
    for (script, is_new, args) in steps {
        let map = if is_new {
            &up.new_scripts
        } else {
            &up.old_scripts
        };
        let Some(text) = map.get(script) else {
            continue;
        };
        let version = if is_new {
            &up.new_version
        } else {
            &up.old_version
        };
        let mut it = eval::Interp::new(facts, up, script, args.to_vec());
        it.overlay = std::mem::take(&mut overlay);
        it.debconf = std::mem::take(&mut debconf);
        let flow = match reviewed_script(&up.package, script, text) {
            Some(model) => commands::reviewed(&mut it, model, &args),
            None => it.run_script(text),
        };
        match flow {
            Ok(eval::Flow::Exit(Some(c))) if c != 0 => {
                let lines = it.lines;
                return Err(refusal(
                    up,
                    script,
                    version,
                    text,
                    eval::Stop {
                        lines,
                        why: format!(
                            "it exits with status {c} on this upgrade, so dpkg would stop"
                        ),
                    },
                ));
            }
            Ok(_) => {}
            Err(stop) => return Err(refusal(up, script, version, text, stop)),
        }
        plan.effects.append(&mut it.effects);
        notes.append(&mut it.notes);
        overlay = std::mem::take(&mut it.overlay);
        debconf = std::mem::take(&mut it.debconf);
    }
    plan.notes = notes.into_iter().collect();
    coalesce(&mut plan.effects, facts);
    Ok(plan)
}

#[cfg(test)]
mod tests;
