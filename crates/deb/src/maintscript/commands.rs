//! What each command a maintainer script runs means for an image.

use super::eval::{Flow, Interp, R, St, Val, normalize};
use super::{Effect, Kind, Reviewed};

/// Commands that only read or print: no effect, unknown result.
const READERS: &[&str] = &[
    "grep",
    "egrep",
    "fgrep",
    "sed",
    "awk",
    "cut",
    "sort",
    "uniq",
    "tr",
    "head",
    "tail",
    "wc",
    "md5sum",
    "cmp",
    "diff",
    "ls",
    "stat",
    "find",
    "dpkg-query",
    "date",
    "xargs",
    "runlevel",
    "ischroot",
    "readlink",
    "sleep",
    "cat",
    "id",
    "env",
    "tty",
    "test-hook",
];

const SERVICES: &[&str] = &[
    "deb-systemd-helper",
    "deb-systemd-invoke",
    "systemctl",
    "invoke-rc.d",
    "service",
    "systemd-tmpfiles",
    "telinit",
];

fn ok() -> R<Flow> {
    Ok(Flow::Next(Some(true)))
}
fn st(s: St) -> R<Flow> {
    Ok(Flow::Next(s))
}

fn known(it: &Interp, args: &[Val]) -> R<Vec<String>> {
    args.iter()
        .map(|a| match a {
            Some(a) => Ok(a.clone()),
            None => it.stop("its arguments depend on something rootwasm cannot work out"),
        })
        .collect()
}

// Long: one arm per command, each a line or two; splitting it would only
// scatter the table of what each command means.
pub(super) fn run(it: &mut Interp, name: &str, args: &[Val], stdin: Option<&str>) -> R<Flow> {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base {
        ":" | "true" | "set" if !(base == "set" && args.first() == Some(&Some("--".into()))) => {
            ok()
        }
        "set" => {
            it.args = args[1..].to_vec();
            ok()
        }
        "false" => st(Some(false)),
        "exit" => {
            let code = match args.first() {
                None => Some(0),
                Some(Some(c)) => c.parse().ok(),
                Some(None) => None,
            };
            Ok(Flow::Exit(code))
        }
        "return" => Ok(Flow::Return(match args.first() {
            None => Some(true),
            Some(Some(c)) => Some(c == "0"),
            Some(None) => None,
        })),
        "break" => Ok(Flow::Break),
        "continue" => Ok(Flow::Continue),
        "shift" => {
            if !it.args.is_empty() {
                it.args.remove(0);
            }
            ok()
        }
        "local" | "export" | "readonly" => {
            for a in args.iter().flatten() {
                if let Some((k, v)) = a.split_once('=') {
                    it.vars.insert(k.to_owned(), Some(v.to_owned()));
                } else if base == "local" {
                    it.vars.insert(a.clone(), Some(String::new()));
                }
            }
            ok()
        }
        "unset" => {
            for a in args.iter().flatten() {
                it.vars.remove(a);
            }
            ok()
        }
        "umask" | "trap" | "wait" => ok(),
        "cd" => {
            it.cwd = match args.first() {
                Some(Some(d)) if d.starts_with('/') => Some(normalize(d)),
                _ => None,
            };
            st(None)
        }
        "echo" | "printf" => {
            let a = known(it, args).ok();
            let text = a.map(|a| {
                if base == "printf" {
                    a.first().cloned().unwrap_or_default().replace("\\n", "\n")
                } else {
                    let (nl, a) = match a.first().map(String::as_str) {
                        Some("-n") => (false, &a[1..]),
                        _ => (true, &a[..]),
                    };
                    format!("{}{}", a.join(" "), if nl { "\n" } else { "" })
                }
            });
            it.print(text);
            ok()
        }
        "." | "source" => match args.first() {
            Some(Some(p)) if p == "/usr/share/debconf/confmodule" => {
                it.notes.insert(debconf_note(it));
                ok()
            }
            _ => it.stop("it sources another shell file"),
        },
        "[" | "test" => {
            let mut a = args.to_vec();
            if base == "[" {
                if a.last() != Some(&Some("]".into())) {
                    return it.stop("it has a `[` without `]`");
                }
                a.pop();
            }
            let r = test(it, &a)?;
            st(r)
        }
        "dpkg" => dpkg(it, args),
        "dpkg-maintscript-helper" => maintscript_helper(it, args),
        "dpkg-trigger" => {
            let a = known(it, args)?;
            match a.iter().rfind(|x| !x.starts_with('-')).map(String::as_str) {
                Some("update-ca-certificates") => {
                    it.effect(Effect::UpdateCaCertificates)?;
                    ok()
                }
                Some("ldconfig") => ok(),
                Some(t) => it.stop(format!("it activates the trigger {t}")),
                None => it.stop("it activates a trigger"),
            }
        }
        "ldconfig" => {
            it.notes.insert(
                "ldconfig: the linker cache is rebuilt by dpkg's ldconfig trigger; the libraries keep \
                 their sonames, so the cache's entries stay right"
                    .into(),
            );
            ok()
        }
        b if SERVICES.contains(&b) => {
            it.notes.insert(format!(
                "{b}: services are not started, stopped or enabled in an image (no init system runs \
                 while it is patched); the unit's enablement links are unchanged by this upgrade"
            ));
            st(None)
        }
        "update-rc.d" => update_rc_d(it, args),
        "update-alternatives" => alternatives(it, args),
        "getent" => {
            let a = known(it, args)?;
            let (Some(db), Some(key)) = (a.first(), a.get(1)) else {
                return st(None);
            };
            let file = match db.as_str() {
                "passwd" => "/etc/passwd",
                "group" => "/etc/group",
                _ => return st(None),
            };
            let text = it.facts.read(file).unwrap_or_default();
            let line = String::from_utf8_lossy(&text)
                .lines()
                .find(|l| l.split(':').next() == Some(key.as_str()))
                .map(str::to_owned);
            let found = line.is_some();
            it.print(line.map(|l| l + "\n"));
            st(Some(found))
        }
        "command" | "which" | "type" => {
            let a = known(it, args)?;
            let Some(prog) = a.iter().find(|x| !x.starts_with('-')) else {
                return st(None);
            };
            let found = which(it, prog);
            let f = found.is_some();
            it.print(found.map(|p| p + "\n"));
            st(Some(f))
        }
        "uname" => {
            let a = known(it, args)?;
            if a.first().map(String::as_str) == Some("-s") {
                it.print(Some("Linux\n".into()));
                ok()
            } else {
                it.print(None);
                st(None)
            }
        }
        "pidof" | "who" => {
            it.notes.insert(format!(
                "{base}: no program runs and nobody is logged in while an image is patched"
            ));
            st(Some(base == "who"))
        }
        "basename" | "dirname" => {
            let a = known(it, args)?;
            let p = a.first().cloned().unwrap_or_default();
            let r = if base == "basename" {
                let b = p.rsplit('/').next().unwrap_or("").to_owned();
                match a.get(1) {
                    Some(s) => b.strip_suffix(s.as_str()).map_or(b.clone(), str::to_owned),
                    None => b,
                }
            } else {
                p.rsplit_once('/').map_or(".".into(), |(d, _)| {
                    if d.is_empty() {
                        "/".into()
                    } else {
                        d.to_owned()
                    }
                })
            };
            it.print(Some(r + "\n"));
            ok()
        }
        "realpath" => {
            let a = known(it, args)?;
            let p = a
                .iter()
                .rfind(|x| !x.starts_with('-'))
                .cloned()
                .unwrap_or_default();
            let lexical = a.iter().any(|x| x == "-s") && a.iter().any(|x| x == "-m");
            let full = if p.starts_with('/') {
                Some(p)
            } else {
                it.cwd.clone().map(|c| format!("{c}/{p}"))
            };
            it.print(full.filter(|_| lexical).map(|f| normalize(&f) + "\n"));
            ok()
        }
        "readlink" if args.len() == 1 => {
            let a = known(it, args)?;
            let t = it.facts.readlink(&normalize(&a[0]));
            let f = t.is_some();
            it.print(t.map(|t| t + "\n"));
            st(Some(f))
        }
        "cat" if args.is_empty() => {
            it.print(stdin.map(str::to_owned));
            ok()
        }
        "perl"
            if args.len() == 2
                && args[0].as_deref() == Some("-e")
                && args[1].as_deref() == Some("") =>
        {
            st(None)
        }
        "read" => {
            for a in args.iter().flatten().filter(|a| !a.starts_with('-')) {
                it.vars.insert(a.clone(), None);
            }
            st(None)
        }
        b if b.starts_with("db_") => debconf(it, b, args),
        "rm" => rm(it, args),
        "rmdir" => {
            let a = known(it, args)?;
            for p in a.iter().filter(|p| !p.starts_with('-')) {
                if it.kind(p, false).is_some() {
                    return it.stop(format!("it removes the directory {p}"));
                }
            }
            st(None)
        }
        "touch" => {
            for p in known(it, args)? {
                if it.kind(&p, true).is_none() {
                    it.effect(Effect::Touch(normalize(&p)))?;
                }
            }
            ok()
        }
        "mkdir" => {
            let a = known(it, args)?;
            let mut skip = false;
            for p in &a {
                if skip {
                    skip = false;
                    continue;
                }
                if p == "-m" {
                    skip = true;
                    continue;
                }
                if p.starts_with('-') {
                    continue;
                }
                if it.kind(p, true).is_none() {
                    it.effect(Effect::Mkdir(normalize(p)))?;
                }
            }
            ok()
        }
        "ln" => {
            let a = known(it, args)?;
            let ops: Vec<&String> = a.iter().filter(|x| !x.starts_with('-')).collect();
            let (Some(target), Some(link)) = (ops.first(), ops.get(1)) else {
                return it.stop("it runs ln with arguments rootwasm does not handle");
            };
            if !a.iter().any(|x| x.starts_with('-') && x.contains('s')) {
                return it.stop("it makes a hard link");
            }
            let link = normalize(link);
            if it.facts.readlink(&link).as_deref() == Some(target.as_str()) {
                return ok();
            }
            it.effect(Effect::Symlink {
                target: (*target).clone(),
                link,
            })?;
            ok()
        }
        "mv" => {
            let a = known(it, args)?;
            let ops: Vec<&String> = a.iter().filter(|x| !x.starts_with('-')).collect();
            let [from, to] = ops.as_slice() else {
                return it.stop("it runs mv with arguments rootwasm does not handle");
            };
            it.effect(Effect::Rename {
                from: normalize(from),
                to: normalize(to),
            })?;
            ok()
        }
        "chmod" | "chown" | "chgrp" => {
            let a = known(it, args)?;
            let (Some(spec), Some(path)) = (a.first(), a.get(1)) else {
                return it.stop(format!(
                    "it runs {base} with arguments rootwasm does not handle"
                ));
            };
            if a.len() != 2 {
                return it.stop(format!(
                    "it runs {base} with arguments rootwasm does not handle"
                ));
            }
            let e = match base {
                "chmod" => match u32::from_str_radix(spec, 8) {
                    Ok(m) => Effect::Chmod(normalize(path), m),
                    Err(_) => return it.stop(format!("it runs chmod {spec}")),
                },
                _ => Effect::Chown(normalize(path), spec.clone(), base == "chgrp"),
            };
            // A file the package ships is unpacked with the archive's mode
            // first, so the script's chmod/chown is applied after it.
            let meta = if it.up.new_files.contains_key(&normalize(path)) {
                None
            } else {
                it.facts.meta(path)
            };
            let already = match (&e, meta) {
                (Effect::Chmod(_, m), Some((have, _, _))) => *m == have,
                (Effect::Chown(_, spec, false), Some((_, 0, 0))) => {
                    spec == "root:root" || spec == "root"
                }
                (Effect::Chown(_, spec, true), Some((_, _, 0))) => spec == "root",
                _ => false,
            };
            if already {
                return ok();
            }
            it.effect(e)?;
            ok()
        }
        "py3compile" | "py3clean" | "pycompile" | "pyclean" => {
            it.effect(Effect::Bytecode)?;
            ok()
        }
        b if b.starts_with("python3")
            && args.iter().flatten().any(|a| a.ends_with("/py_compile.py")) =>
        {
            it.effect(Effect::Bytecode)?;
            ok()
        }
        "update-ca-certificates" => {
            it.effect(Effect::UpdateCaCertificates)?;
            ok()
        }
        "pam-auth-update" => {
            let a = known(it, args)?;
            if !a.iter().any(|x| x == "--package") {
                return it.stop("it runs pam-auth-update");
            }
            it.effect(Effect::PamAuthUpdate)?;
            ok()
        }
        "dpkg-query" => {
            // `dpkg-query -l/-W/-s PKG` of packages that are not installed prints nothing.
            let a = known(it, args)?;
            let mut skip = false;
            let mut names = Vec::new();
            for x in &a {
                if skip {
                    skip = false;
                } else if x == "-f" || x == "--showformat" {
                    skip = true;
                } else if !x.starts_with('-') {
                    names.push(x.clone());
                }
            }
            let any = names.iter().any(|n| installed(it, n) != Some(false));
            if !names.is_empty() && !any {
                it.print(Some(String::new()));
                return st(Some(false));
            }
            it.print(None);
            st(None)
        }
        "dpkg-statoverride" => {
            let a = known(it, args)?;
            match a.as_slice() {
                [l, p] if l == "--list" => {
                    let text = it
                        .facts
                        .read("/var/lib/dpkg/statoverride")
                        .unwrap_or_default();
                    let hit = String::from_utf8_lossy(&text)
                        .lines()
                        .any(|l| l.split_whitespace().nth(3) == Some(p.as_str()));
                    st(Some(hit))
                }
                _ => it.stop("it changes a dpkg-statoverride"),
            }
        }
        b if READERS.contains(&b) => {
            if args.iter().flatten().any(|a| {
                (b == "sed" && a.starts_with("-i"))
                    || (b == "find" && (a == "-delete" || a.starts_with("-exec")))
                    || (b == "xargs"
                        && !matches!(a.as_str(), "echo" | "-r" | "--show-limits")
                        && !a.starts_with('-'))
            }) {
                return it.stop(format!("it runs {b}, which changes files"));
            }
            // A filter fed nothing prints nothing (awk unless it has BEGIN/END).
            let empty_in = it.stdin == Some(Some(String::new()));
            let filter = matches!(
                b,
                "sed"
                    | "grep"
                    | "egrep"
                    | "fgrep"
                    | "cut"
                    | "tr"
                    | "sort"
                    | "uniq"
                    | "head"
                    | "tail"
            ) || (b == "awk"
                && !args
                    .iter()
                    .flatten()
                    .any(|a| a.contains("BEGIN") || a.contains("END")));
            if empty_in && filter {
                it.print(Some(String::new()));
                return st(Some(b != "grep" && b != "egrep" && b != "fgrep"));
            }
            it.print(None);
            st(None)
        }
        "adduser" | "useradd" | "addgroup" | "groupadd" => {
            it.stop(format!("it creates users or groups ({base})"))
        }
        "dpkg-divert" => it.stop("it manages diversions (dpkg-divert)"),
        _ => it.stop(format!("it runs `{base}`, which rootwasm does not model")),
    }
}

fn debconf_note(it: &Interp) -> String {
    format!(
        "{}: debconf asks nothing (non-interactive, as apt runs in an image build); its answers \
         cache (/var/cache/debconf/) is not rewritten",
        it.up.package
    )
}

fn debconf(it: &mut Interp, cmd: &str, args: &[Val]) -> R<Flow> {
    it.notes.insert(debconf_note(it));
    let a: Vec<Val> = args.to_vec();
    match cmd {
        "db_get" => {
            let v = match a.first() {
                Some(Some(q)) => it.debconf.get(q).cloned().or_else(|| it.facts.debconf(q)),
                _ => None,
            };
            it.vars.insert("RET".into(), v);
            st(None).map(|_| Flow::Next(Some(true)))
        }
        "db_set" => {
            if let (Some(Some(q)), Some(v)) = (a.first(), a.get(1)) {
                match v {
                    Some(v) => it.debconf.insert(q.clone(), v.clone()),
                    None => it.debconf.remove(q),
                };
            }
            ok()
        }
        "db_fget" | "db_metaget" => {
            it.vars.insert("RET".into(), None);
            st(None)
        }
        // db_go returns 30 (back) only with a backup-capable interactive frontend.
        _ => ok(),
    }
}

/// Whether `pkg` (`name[:arch]`) is installed, from dpkg's status file.
fn installed(it: &mut Interp, pkg: &str) -> Option<bool> {
    let name = pkg.split(':').next().unwrap_or(pkg);
    if name.contains(['*', '?', '[']) {
        return None;
    }
    let text = it.facts.read("/var/lib/dpkg/status")?;
    let text = String::from_utf8_lossy(&text);
    Some(text.split("\n\n").any(|s| {
        s.lines().any(|l| l == format!("Package: {name}"))
            && s.lines()
                .any(|l| l.starts_with("Status: ") && l.ends_with(" installed"))
    }))
}

fn which(it: &mut Interp, prog: &str) -> Option<String> {
    if prog.starts_with('/') {
        return it.kind(prog, true).map(|_| prog.to_owned());
    }
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let p = format!("{d}/{prog}");
        if it.kind(&p, true) == Some(Kind::File) {
            return Some(p);
        }
    }
    None
}

fn test(it: &mut Interp, a: &[Val]) -> R<St> {
    if let Some(Some(first)) = a.first()
        && first == "!"
    {
        return Ok(test(it, &a[1..])?.map(|b| !b));
    }
    // `-a` / `-o` joining two tests.
    if let Some(i) = a
        .iter()
        .position(|x| matches!(x.as_deref(), Some("-a" | "-o")))
        && i > 0
    {
        let l = test(it, &a[..i])?;
        let r = test(it, &a[i + 1..])?;
        let and = a[i].as_deref() == Some("-a");
        return Ok(match (l, r) {
            (Some(x), Some(y)) => Some(if and { x && y } else { x || y }),
            (Some(false), _) | (_, Some(false)) if and => Some(false),
            (Some(true), _) | (_, Some(true)) if !and => Some(true),
            _ => None,
        });
    }
    Ok(match a {
        [] => Some(false),
        [x] => x.as_ref().map(|s| !s.is_empty()),
        [op, x] => {
            let (Some(op), Some(x)) = (op, x) else {
                return Ok(None);
            };
            match op.as_str() {
                "-n" => Some(!x.is_empty()),
                "-z" => Some(x.is_empty()),
                _ => file_test(it, op, x),
            }
        }
        [l, op, r] => {
            let (Some(l), Some(op), Some(r)) = (l, op, r) else {
                return Ok(None);
            };
            match op.as_str() {
                "=" | "==" => Some(l == r),
                "!=" => Some(l != r),
                "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge" => {
                    match (l.trim().parse::<i64>(), r.trim().parse::<i64>()) {
                        (Ok(x), Ok(y)) => Some(match op.as_str() {
                            "-eq" => x == y,
                            "-ne" => x != y,
                            "-lt" => x < y,
                            "-le" => x <= y,
                            "-gt" => x > y,
                            _ => x >= y,
                        }),
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        _ => None,
    })
}

fn file_test(it: &mut Interp, op: &str, path: &str) -> St {
    let path = if path.starts_with('/') {
        normalize(path)
    } else {
        return None;
    };
    if path == "/run/systemd/system" {
        // No init system runs while an image is patched (as in a chroot).
        return Some(false);
    }
    if path.starts_with("/proc") || path.starts_with("/run") || path.starts_with("/sys") {
        return None;
    }
    match op {
        "-e" => Some(it.kind(&path, true).is_some()),
        "-f" => Some(it.kind(&path, true) == Some(Kind::File)),
        "-d" => Some(it.kind(&path, true) == Some(Kind::Dir)),
        "-L" | "-h" => Some(it.kind(&path, false) == Some(Kind::Symlink)),
        "-x" => match it.kind(&path, true) {
            None => Some(false),
            Some(Kind::Dir) => Some(true),
            Some(_) => it.facts.meta(&path).map(|m| m.0 & 0o111 != 0),
        },
        "-r" => Some(it.kind(&path, true).is_some()),
        "-s" => match it.kind(&path, true) {
            None => Some(false),
            Some(Kind::File) => it.facts.read(&path).map(|d| !d.is_empty()),
            Some(_) => Some(true),
        },
        _ => None,
    }
}

fn dpkg(it: &mut Interp, args: &[Val]) -> R<Flow> {
    let mut a: Vec<Val> = args.to_vec();
    match a.first().cloned().flatten().as_deref() {
        Some("--compare-versions") => {
            a.remove(0);
            if a.first() == Some(&Some("--".into())) {
                a.remove(0);
            }
            let [l, op, r] = a.as_slice() else {
                return it.stop("it runs dpkg --compare-versions with other arguments");
            };
            let (Some(l), Some(op), Some(r)) = (l, op, r) else {
                return st(None);
            };
            match super::compare_versions(l, op, r) {
                Ok(b) => st(Some(b)),
                Err(e) => it.stop(e),
            }
        }
        Some("-s" | "-L" | "--listfiles" | "--status" | "-l" | "--print-architecture") => {
            it.print(None);
            st(None)
        }
        _ => it.stop("it runs dpkg"),
    }
}

/// `dpkg-maintscript-helper CMD ARGS... [PRIOR-VERSION [PACKAGE]] -- "$@"`:
/// each command acts only while the version dpkg passes is at most
/// PRIOR-VERSION (`le-nl`); the installed version is newer here, so the
/// conffile or directory was moved by an earlier upgrade already.
fn maintscript_helper(it: &mut Interp, args: &[Val]) -> R<Flow> {
    let a = known(it, args)?;
    let Some(cmd) = a.first() else {
        return it.stop("it runs dpkg-maintscript-helper without a command");
    };
    if cmd == "supports" {
        return ok();
    }
    let own: Vec<&String> = a[1..].iter().take_while(|x| *x != "--").collect();
    let fixed = match cmd.as_str() {
        "rm_conffile" => 1,
        "mv_conffile" | "symlink_to_dir" | "dir_to_symlink" => 2,
        _ => return it.stop(format!("it runs dpkg-maintscript-helper {cmd}")),
    };
    let Some(prior) = own.get(fixed) else {
        return it.stop(format!(
            "dpkg-maintscript-helper {cmd} has no prior version, so it acts on every upgrade"
        ));
    };
    let old = it.up.old_version.clone();
    match super::compare_versions(&old, "le-nl", prior) {
        Ok(false) => {
            it.notes.insert(format!(
                "dpkg-maintscript-helper {cmd} {}: acts only when upgrading from {prior} or older; \
                 {old} is installed, so nothing to do",
                own[0]
            ));
            ok()
        }
        Ok(true) => it.stop(format!(
            "dpkg-maintscript-helper {cmd} acts on this upgrade (from {old}, at most {prior}), \
             which rootwasm does not reproduce"
        )),
        Err(e) => it.stop(e),
    }
}

fn update_rc_d(it: &mut Interp, args: &[Val]) -> R<Flow> {
    let a = known(it, args)?;
    let ops: Vec<&String> = a.iter().filter(|x| !x.starts_with('-')).collect();
    match ops.as_slice() {
        [name, action] if action.as_str() == "defaults" => {
            let linked = (0..=6)
                .map(|l| format!("/etc/rc{l}.d"))
                .chain(["/etc/rcS.d".to_owned()])
                .any(|d| {
                    it.facts
                        .read_dir(&d)
                        .iter()
                        .any(|n| n.len() > 3 && &n[3..] == name.as_str())
                });
            if linked {
                it.notes.insert(format!(
                    "update-rc.d {name} defaults: its runlevel links exist, so it changes nothing"
                ));
                ok()
            } else {
                it.stop(format!(
                    "update-rc.d {name} defaults would create runlevel links"
                ))
            }
        }
        _ => it.stop("it runs update-rc.d"),
    }
}

/// `update-alternatives --install LINK NAME PATH PRIO [--slave LINK NAME PATH]...`
/// is a no-op when dpkg's alternatives database already has that exact
/// alternative and the links exist (an upgrade re-registers it).
fn alternatives(it: &mut Interp, args: &[Val]) -> R<Flow> {
    let a = known(it, args)?;
    let Some(i) = a.iter().position(|x| x == "--install") else {
        return it.stop("it runs update-alternatives");
    };
    let (Some(link), Some(name), Some(path), Some(prio)) =
        (a.get(i + 1), a.get(i + 2), a.get(i + 3), a.get(i + 4))
    else {
        return it.stop("it runs update-alternatives --install with too few arguments");
    };
    let mut slaves = Vec::new();
    let mut j = i + 5;
    while a.get(j).map(String::as_str) == Some("--slave") {
        match (a.get(j + 1), a.get(j + 2), a.get(j + 3)) {
            (Some(l), Some(n), Some(p)) => slaves.push((l.clone(), n.clone(), p.clone())),
            _ => return it.stop("it runs update-alternatives with a bad --slave"),
        }
        j += 4;
    }
    let db = format!("/var/lib/dpkg/alternatives/{name}");
    let text = String::from_utf8_lossy(&it.facts.read(&db).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    // mode, master link, (slave name, slave link)*, "", then (path, prio, slave paths*)*.
    let registered = lines.get(1) == Some(&link.as_str()) && {
        let n = slaves.len();
        let header_ok = (0..n).all(|k| {
            lines.get(2 + 2 * k) == Some(&slaves[k].1.as_str())
                && lines.get(3 + 2 * k) == Some(&slaves[k].0.as_str())
        }) && lines.get(2 + 2 * n) == Some(&"");
        let body = &lines[(3 + 2 * n).min(lines.len())..];
        header_ok
            && body.chunks(2 + n).any(|c| {
                c.first() == Some(&path.as_str())
                    && c.get(1) == Some(&prio.as_str())
                    && (0..n).all(|k| c.get(2 + k) == Some(&slaves[k].2.as_str()))
            })
    };
    let links = it.kind(link, false).is_some()
        && it
            .kind(&format!("/etc/alternatives/{name}"), false)
            .is_some();
    if registered && links {
        it.notes.insert(format!(
            "update-alternatives --install {link} {name} {path} {prio}: already registered with \
             these links and priority in /var/lib/dpkg/alternatives/{name}; nothing changes"
        ));
        ok()
    } else {
        it.stop(format!(
            "update-alternatives would register {path} for {name}, which {db} does not already hold"
        ))
    }
}

fn rm(it: &mut Interp, args: &[Val]) -> R<Flow> {
    let a = known(it, args)?;
    let recursive = a
        .iter()
        .any(|x| x.starts_with('-') && (x.contains('r') || x.contains('R')));
    for p in a.iter().filter(|x| !x.starts_with('-')) {
        if !p.starts_with('/') {
            return it.stop(format!("it removes the relative path {p}"));
        }
        if p.contains(['*', '?', '[']) {
            return it.stop(format!("it removes files matching {p}"));
        }
        match it.kind(p, false) {
            None => {}
            Some(Kind::Dir) if !recursive => {}
            Some(Kind::Dir) => return it.stop(format!("it removes the directory tree {p}")),
            Some(_) => it.effect(Effect::Remove(normalize(p)))?,
        }
    }
    ok()
}

/// Functions reviewed by hash: what they do is written here.
pub(super) fn reviewed(it: &mut Interp, model: Reviewed, args: &[Val]) -> R<Flow> {
    match model {
        Reviewed::CaCertificatesPostinst => {
            if args.first().cloned().flatten().as_deref() != Some("configure") {
                return ok();
            }
            let dir = "/usr/local/share/ca-certificates";
            match it.kind(dir, true) {
                None => return it.stop(format!("the postinst would create {dir}")),
                Some(_) => {
                    // `chmod`/`chown` it to /usr/local's unless a statoverride says otherwise.
                    let text = it
                        .facts
                        .read("/var/lib/dpkg/statoverride")
                        .unwrap_or_default();
                    let overridden = String::from_utf8_lossy(&text)
                        .lines()
                        .any(|l| l.split_whitespace().nth(3) == Some(dir));
                    let same = it.facts.meta(dir).is_some()
                        && it.facts.meta(dir) == it.facts.meta("/usr/local");
                    if !overridden && !same {
                        return it.stop(format!(
                            "the postinst would give {dir} the mode and owner of /usr/local, which differ"
                        ));
                    }
                }
            }
            it.notes.insert(
                "ca-certificates postinst: /etc/ca-certificates.conf rewritten and \
                 update-ca-certificates run as the reviewed script does (rootwasm_deb::ca_certificates)"
                    .into(),
            );
            it.effect(Effect::CaCertificatesConfigure)?;
            ok()
        }
        Reviewed::PythonRemoveBytecode => {
            it.effect(Effect::Bytecode)?;
            ok()
        }
    }
}
