//! The paths evaluating a package's scripts may read or write, for the
//! capabilities `rootwasm recipe new` grants: every absolute path the
//! scripts name (written when a command that changes files names it), and
//! what the command models consult.

use super::shell::{Node, parse};

/// What the models read whatever the script: dpkg's and debconf's
/// databases, users and groups, runlevel links, alternatives, and the
/// `PATH` directories `command -v` searches.
const MODEL_READS: &[&str] = &[
    "/var/lib/dpkg/status",
    "/var/lib/dpkg/statoverride",
    "/var/lib/dpkg/alternatives/*",
    "/etc/alternatives/*",
    "/var/cache/debconf/config.dat",
    "/etc/passwd",
    "/etc/group",
    "/etc/rc?.d",
    "/etc/rc?.d/*",
    "/usr/local/sbin/*",
    "/usr/local/bin/*",
    "/usr/sbin/*",
    "/usr/bin/*",
    "/sbin/*",
    "/bin/*",
];

/// update-ca-certificates: the conf, the certificate directories, the store.
const CA_READS: &[&str] = &[
    "/usr/local",
    "/usr/share/ca-certificates/**",
    "/usr/local/share/ca-certificates",
    "/usr/local/share/ca-certificates/**",
    "/etc/ca-certificates/update.d",
    "/etc/ca-certificates/update.d/*",
];
const CA_WRITES: &[&str] = &[
    "/etc/ca-certificates.conf",
    "/etc/ca-certificates.conf.dpkg-old",
    "/etc/ssl/certs",
    "/etc/ssl/certs/*",
];

const WRITERS: &[&str] = &[
    "rm", "touch", "mkdir", "ln", "mv", "chmod", "chown", "chgrp", "rmdir",
];

/// `(read, write)` capability globs for evaluating `scripts` (their texts)
/// of a package whose files are `files`.
pub fn scope(scripts: &[&str], files: &[String]) -> (Vec<String>, Vec<String>) {
    if scripts.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut read: Vec<String> = MODEL_READS.iter().map(|s| (*s).to_owned()).collect();
    let mut write = Vec::new();
    let mut ca = false;
    let mut bytecode = false;
    for text in scripts {
        if text.contains("update-ca-certificates") {
            ca = true;
        }
        if [
            "py3compile",
            "py3clean",
            "pycompile",
            "py_compile",
            "remove_bytecode",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            bytecode = true;
        }
        if let Ok(node) = parse(text) {
            walk(&node, &mut read, &mut write);
        }
    }
    if ca {
        read.extend(CA_READS.iter().map(|s| (*s).to_owned()));
        write.extend(CA_WRITES.iter().map(|s| (*s).to_owned()));
    }
    if bytecode {
        let mut dirs: Vec<&str> = files
            .iter()
            .filter(|f| f.ends_with(".py"))
            .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d))
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            let d = crate::maintscript::scope::escape(d);
            write.push(format!("{d}/__pycache__"));
            write.push(format!("{d}/__pycache__/*"));
        }
    }
    read.extend(write.iter().cloned());
    read.sort();
    read.dedup();
    write.sort();
    write.dedup();
    (read, write)
}

fn walk(n: &Node, read: &mut Vec<String>, write: &mut Vec<String>) {
    match n {
        Node::Simple {
            assigns,
            words,
            redirs,
            ..
        } => {
            let writer = words
                .first()
                .is_some_and(|w| WRITERS.contains(&w.rsplit('/').next().unwrap_or(w)));
            for (_, v) in assigns {
                read.extend(path_glob(v));
            }
            for w in words {
                if let Some(p) = path_glob(w) {
                    if writer {
                        write.push(p.clone());
                    }
                    read.push(p);
                }
            }
            for r in redirs {
                if let Some(p) = path_glob(&r.target) {
                    if r.op.starts_with('>') {
                        write.push(p.clone());
                    }
                    read.push(p);
                }
            }
        }
        Node::Pipeline { cmds, .. } => cmds.iter().for_each(|c| walk(c, read, write)),
        Node::AndOr(a, rest) => {
            walk(a, read, write);
            rest.iter().for_each(|(_, c)| walk(c, read, write));
        }
        Node::List(v) => v.iter().for_each(|c| walk(c, read, write)),
        Node::If {
            arms, otherwise, ..
        } => {
            for (c, b) in arms {
                walk(c, read, write);
                walk(b, read, write);
            }
            if let Some(o) = otherwise {
                walk(o, read, write);
            }
        }
        Node::Case { arms, .. } => arms.iter().for_each(|(_, b)| walk(b, read, write)),
        Node::For { body, .. } | Node::Function { body, .. } => walk(body, read, write),
        Node::While { cond, body, .. } => {
            walk(cond, read, write);
            walk(body, read, write);
        }
        Node::Group { body, .. } => walk(body, read, write),
    }
}

/// The absolute path a word names, as a glob: its literal prefix, and `**`
/// for whatever a variable adds after it. `$DPKG_ROOT` is empty.
fn path_glob(word: &str) -> Option<String> {
    let w = word
        .replace("\"$DPKG_ROOT\"", "")
        .replace("$DPKG_ROOT", "")
        .replace("${DPKG_ROOT}", "");
    let w = w.trim_start_matches(['"', '\'']);
    if !w.starts_with('/') || w.starts_with("//") {
        return None;
    }
    let end = w
        .find(['$', '`', '*', '?', '[', '"', '\'', ' ', '\\', '{', '('])
        .unwrap_or(w.len());
    let lit = &w[..end];
    if lit == "/" || lit.starts_with("/dev/") || lit.starts_with("/proc") || lit.starts_with("/run")
    {
        return None;
    }
    let e = escape(lit.trim_end_matches('/'));
    Some(if end < w.len() {
        if lit.ends_with('/') {
            format!("{e}/**")
        } else {
            format!("{e}*")
        }
    } else {
        e
    })
}

/// A literal path as a glob that matches only it.
pub(crate) fn escape(p: &str) -> String {
    rootwasm_glob::escape(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            path_glob("\"$DPKG_ROOT\"/etc/security/opasswd").as_deref(),
            Some("/etc/security/opasswd")
        );
        assert_eq!(
            path_glob("\"/usr/share/zoneinfo/$TIMEZONE\"").as_deref(),
            Some("/usr/share/zoneinfo/**")
        );
        assert_eq!(path_glob("/dev/null"), None);
        let (r, w) = scope(&["#!/bin/sh\nrm -f /etc/x\n[ -e /etc/y ] || true\n"], &[]);
        assert!(w.contains(&"/etc/x".to_owned()) && !w.contains(&"/etc/y".to_owned()));
        assert!(r.contains(&"/etc/y".to_owned()));
    }
}
