//! The evaluator: runs a parsed maintainer script *abstractly* against the
//! image, for one upgrade, without running any program.
//!
//! Values are known strings or unknown. A condition that cannot be decided
//! (a `grep` of a file, the running kernel) is fine when the branch it guards
//! changes nothing; a branch with effects behind an undecidable condition is
//! refused. Commands are given their dpkg-era meaning one by one
//! (`commands`); a command with no model is refused with its line.

use super::shell::{Node, Part, Redir, parse, parts};
use super::{Effect, Facts, Kind, Upgrade};
use std::collections::{BTreeMap, BTreeSet};

pub(super) type Val = Option<String>;
/// Exit status: `Some(true)` success, `Some(false)` failure, `None` unknown.
pub(super) type St = Option<bool>;

pub(super) enum Flow {
    Next(St),
    Exit(Option<i32>),
    Return(St),
    Break,
    Continue,
}

/// Why evaluation stopped: the lines of the script and the reason.
#[derive(Debug)]
pub(super) struct Stop {
    pub lines: (usize, usize),
    pub why: String,
}

pub(super) type R<T> = Result<T, Stop>;

const MAX_STEPS: usize = 200_000;

pub(super) struct Interp<'a> {
    pub facts: &'a mut dyn Facts,
    pub up: &'a Upgrade,
    pub vars: BTreeMap<String, Val>,
    pub args: Vec<Val>,
    pub funcs: BTreeMap<String, (Node, String)>,
    pub effects: Vec<Effect>,
    pub notes: BTreeSet<String>,
    /// Paths whose kind the effects so far changed (`None`: removed).
    pub overlay: BTreeMap<String, Option<Kind>>,
    /// debconf answers set by the config script (`db_set`).
    pub debconf: BTreeMap<String, String>,
    /// Captured standard output of a command substitution (`None`: unknown).
    pub out: Option<Option<String>>,
    /// Standard input from the command before in a pipeline (`None`: not piped).
    pub stdin: Option<Option<String>>,
    pub cwd: Val,
    pub lines: (usize, usize),
    pub steps: usize,
    pub depth: usize,
    /// In a branch whose condition is unknown: effects are refused.
    pub probing: usize,
    /// Phase-specific: the script's name, for notes.
    pub script: String,
}

impl<'a> Interp<'a> {
    pub fn new(facts: &'a mut dyn Facts, up: &'a Upgrade, script: &str, args: Vec<Val>) -> Self {
        let mut vars = BTreeMap::new();
        // dpkg's environment for maintainer scripts (apt in a non-interactive build).
        for (k, v) in [
            ("DPKG_ROOT", ""),
            ("DPKG_MAINTSCRIPT_PACKAGE", up.package.as_str()),
            ("DPKG_MAINTSCRIPT_ARCH", up.arch.as_str()),
            ("DPKG_MAINTSCRIPT_NAME", script),
            ("DEBIAN_FRONTEND", "noninteractive"),
            (
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
        ] {
            vars.insert(k.to_owned(), Some(v.to_owned()));
        }
        Interp {
            facts,
            up,
            vars,
            args,
            funcs: BTreeMap::new(),
            effects: Vec::new(),
            notes: BTreeSet::new(),
            overlay: BTreeMap::new(),
            debconf: BTreeMap::new(),
            out: None,
            stdin: None,
            cwd: Some("/".into()),
            lines: (0, 0),
            steps: 0,
            depth: 0,
            probing: 0,
            script: script.to_owned(),
        }
    }

    pub fn stop<T>(&self, why: impl Into<String>) -> R<T> {
        Err(Stop {
            lines: self.lines,
            why: why.into(),
        })
    }

    pub fn run_script(&mut self, text: &str) -> R<Flow> {
        let node = parse(text).map_err(|e| Stop {
            lines: (0, 0),
            why: format!("it is not shell rootwasm can read ({e})"),
        })?;
        self.exec(&node)
    }

    pub fn exec(&mut self, n: &Node) -> R<Flow> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.stop("it runs too long to evaluate");
        }
        match n {
            Node::List(v) => {
                let mut st = Some(true);
                for c in v {
                    match self.exec(c)? {
                        Flow::Next(s) => st = s,
                        other => return Ok(other),
                    }
                }
                Ok(Flow::Next(st))
            }
            Node::Simple {
                assigns,
                words,
                redirs,
                lines,
            } => {
                self.lines = *lines;
                self.simple(assigns, words, redirs)
            }
            Node::Pipeline { neg, cmds } => {
                let saved = self.out.take();
                let saved_in = self.stdin.take();
                let mut st = Some(true);
                let mut flow = None;
                for (i, c) in cmds.iter().enumerate() {
                    let last = i + 1 == cmds.len();
                    // Each command reads the one before; only the last one's output is the pipeline's.
                    self.out = if last {
                        saved.clone()
                    } else {
                        Some(Some(String::new()))
                    };
                    let f = self.exec(c);
                    let produced = self.out.take();
                    self.stdin = produced.clone();
                    if last {
                        self.out = match (&saved, produced) {
                            (Some(_), Some(p)) => Some(p),
                            _ => saved.clone(),
                        };
                    }
                    match f? {
                        Flow::Next(s) => st = s,
                        Flow::Exit(_) if !last => st = None,
                        other => {
                            flow = Some(other);
                            break;
                        }
                    }
                }
                self.stdin = saved_in;
                if let Some(f) = flow {
                    return Ok(f);
                }
                Ok(Flow::Next(if *neg { st.map(|s| !s) } else { st }))
            }
            Node::AndOr(first, rest) => {
                let mut st = match self.exec(first)? {
                    Flow::Next(s) => s,
                    other => return Ok(other),
                };
                for (and, c) in rest {
                    match (st, and) {
                        (Some(true), false) | (Some(false), true) => continue,
                        (Some(_), _) => match self.exec(c)? {
                            Flow::Next(s) => st = s,
                            other => return Ok(other),
                        },
                        (None, _) => {
                            // Maybe run: only harmless if it changes nothing.
                            match self.probe(c)? {
                                Flow::Next(s) => st = if s == Some(!*and) { s } else { None },
                                Flow::Exit(Some(code)) if code != 0 => {
                                    self.failure_path(c);
                                    st = Some(!*and);
                                }
                                _ => st = None,
                            }
                        }
                    }
                }
                Ok(Flow::Next(st))
            }
            Node::If {
                arms,
                otherwise,
                lines,
            } => {
                for (cond, body) in arms {
                    let st = match self.exec(cond)? {
                        Flow::Next(s) => s,
                        other => return Ok(other),
                    };
                    match st {
                        Some(true) => return self.exec(body),
                        Some(false) => continue,
                        None => {
                            self.lines = *lines;
                            match self.probe(body)? {
                                Flow::Exit(Some(c)) if c != 0 => self.failure_path(body),
                                Flow::Next(_) => {}
                                _ => {}
                            }
                        }
                    }
                }
                match otherwise {
                    Some(b) => self.exec(b),
                    None => Ok(Flow::Next(Some(true))),
                }
            }
            Node::Case { word, arms, lines } => {
                self.lines = *lines;
                let w = self.word_one(word)?;
                for (pats, body) in arms {
                    let mut hit = Some(false);
                    for p in pats {
                        let pv = self.word_one(p)?;
                        let m = match (&w, &pv) {
                            (Some(w), Some(p)) => Some(glob_match(p, w)),
                            (_, Some(p)) if p == "*" => Some(true),
                            _ => None,
                        };
                        match m {
                            Some(true) => {
                                hit = Some(true);
                                break;
                            }
                            None => hit = None,
                            _ => {}
                        }
                    }
                    match hit {
                        Some(true) => return self.exec(body),
                        Some(false) => {}
                        None => {
                            if let Flow::Exit(Some(c)) = self.probe(body)?
                                && c != 0
                            {
                                self.failure_path(body);
                            }
                        }
                    }
                }
                Ok(Flow::Next(Some(true)))
            }
            Node::For {
                var,
                items,
                body,
                lines,
            } => {
                self.lines = *lines;
                let vals = match items {
                    Some(ws) => self.words(ws)?,
                    None => self.args.clone(),
                };
                if vals.iter().any(Option::is_none) {
                    self.vars.insert(var.clone(), None);
                    self.probe(body)?;
                    return Ok(Flow::Next(None));
                }
                for v in vals {
                    self.vars.insert(var.clone(), v);
                    match self.exec(body)? {
                        Flow::Break => break,
                        Flow::Next(_) | Flow::Continue => {}
                        other => return Ok(other),
                    }
                }
                Ok(Flow::Next(Some(true)))
            }
            Node::While {
                until,
                cond,
                body,
                redirs,
                lines,
            } => {
                self.lines = *lines;
                self.check_redirs(redirs, false)?;
                for _ in 0..1000 {
                    let st = match self.exec(cond)? {
                        Flow::Next(s) => s.map(|s| s != *until),
                        other => return Ok(other),
                    };
                    match st {
                        Some(false) => return Ok(Flow::Next(Some(true))),
                        Some(true) => match self.exec(body)? {
                            Flow::Break => return Ok(Flow::Next(Some(true))),
                            Flow::Next(_) | Flow::Continue => {}
                            other => return Ok(other),
                        },
                        None => {
                            self.probe(body)?;
                            return Ok(Flow::Next(None));
                        }
                    }
                }
                self.lines = *lines;
                self.stop("its loop does not end within 1000 rounds")
            }
            Node::Group {
                body,
                subshell,
                redirs,
            } => {
                self.check_redirs(redirs, false)?;
                if *subshell {
                    let vars = self.vars.clone();
                    let cwd = self.cwd.clone();
                    let f = self.exec(body)?;
                    self.vars = vars;
                    self.cwd = cwd;
                    return Ok(match f {
                        Flow::Exit(c) => Flow::Next(c.map(|c| c == 0)),
                        other => other,
                    });
                }
                self.exec(body)
            }
            Node::Function { name, body, text } => {
                self.funcs
                    .insert(name.clone(), ((**body).clone(), text.clone()));
                Ok(Flow::Next(Some(true)))
            }
        }
    }

    /// Run `n` where it may or may not run: it must change nothing (effects
    /// that hold either way, like recompiling bytecode, are allowed).
    pub fn probe(&mut self, n: &Node) -> R<Flow> {
        let vars = self.vars.clone();
        let before = self.effects.len();
        self.probing += 1;
        let f = self.exec(n);
        self.probing -= 1;
        let f = f?;
        let changed: Vec<String> = self
            .vars
            .iter()
            .filter(|(k, v)| vars.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        let added: Vec<Effect> = self.effects.drain(before..).collect();
        self.vars = vars;
        for k in changed {
            self.vars.insert(k, None);
        }
        for e in added {
            if e.either_way() {
                self.effects.push(e);
            }
        }
        Ok(f)
    }

    fn failure_path(&mut self, _n: &Node) {
        self.notes.insert(format!(
            "{} {}: a check that would stop dpkg (an `exit` with an error) was assumed to pass, \
             as it does for an upgrade that succeeds",
            self.up.package, self.script
        ));
    }

    /// Record an effect, refusing it where the condition guarding it is unknown.
    pub fn effect(&mut self, e: Effect) -> R<()> {
        if self.probing > 0 && !e.either_way() {
            return self.stop(format!(
                "it would {} under a condition rootwasm cannot decide",
                e.describe()
            ));
        }
        match &e {
            Effect::Remove(p) => {
                self.overlay.insert(p.clone(), None);
            }
            Effect::Touch(p) | Effect::WriteFile(p, _) => {
                self.overlay.insert(p.clone(), Some(Kind::File));
            }
            Effect::Mkdir(p) => {
                self.overlay.insert(p.clone(), Some(Kind::Dir));
            }
            Effect::Symlink { link, .. } => {
                self.overlay.insert(link.clone(), Some(Kind::Symlink));
            }
            Effect::Rename { from, to } => {
                let k = self.kind(from, false);
                self.overlay.insert(from.clone(), None);
                self.overlay.insert(to.clone(), k);
            }
            _ => {}
        }
        self.effects.push(e);
        Ok(())
    }

    /// The kind of `path` after the effects so far (`follow`: through a final symlink).
    pub fn kind(&mut self, path: &str, follow: bool) -> Option<Kind> {
        let path = normalize(path);
        if let Some(k) = self.overlay.get(&path) {
            if follow && *k == Some(Kind::Symlink) {
                return self.facts.kind(&path, true);
            }
            return *k;
        }
        // The new package's files are unpacked before postinst runs.
        if let Some(k) = self.up.new_files.get(&path)
            && !(follow && *k == Kind::Symlink)
        {
            return Some(*k);
        }
        self.facts.kind(&path, follow)
    }

    fn simple(
        &mut self,
        assigns: &[(String, String)],
        words: &[String],
        redirs: &[Redir],
    ) -> R<Flow> {
        let mut vals = Vec::new();
        for (k, v) in assigns {
            let v = self.word_one(v)?;
            vals.push((k.clone(), v));
        }
        let argv = self.words(words)?;
        if argv.is_empty() {
            for (k, v) in vals {
                self.vars.insert(k, v);
            }
            self.check_redirs(redirs, false)?;
            return Ok(Flow::Next(Some(true)));
        }
        let Some(name) = argv[0].clone() else {
            return self.stop("it runs a command whose name rootwasm cannot work out");
        };
        let heredoc = redirs
            .iter()
            .find(|r| r.op.starts_with("<<"))
            .map(|r| r.target.clone());
        let out_file = self.check_redirs(redirs, true)?;
        // Prefix assignments apply to the command only.
        let saved: Vec<(String, Option<Val>)> = vals
            .iter()
            .map(|(k, _)| (k.clone(), self.vars.get(k).cloned()))
            .collect();
        for (k, v) in vals {
            self.vars.insert(k, v);
        }
        let capture = out_file.is_some();
        let prev_out = if capture {
            Some(self.out.replace(Some(String::new())))
        } else {
            None
        };
        let res = if let Some((body, text)) = self.funcs.get(&name).cloned() {
            self.call(&name, &body, &text, &argv[1..])
        } else {
            super::commands::run(self, &name, &argv[1..], heredoc.as_deref())
        };
        for (k, v) in saved {
            match v {
                Some(v) => self.vars.insert(k, v),
                None => self.vars.remove(&k),
            };
        }
        if let Some(prev) = prev_out {
            let produced = std::mem::replace(&mut self.out, prev);
            if let Some((path, append)) = out_file {
                match (produced, append) {
                    (Some(Some(text)), false) => {
                        self.effect(Effect::WriteFile(path, text.into_bytes()))?
                    }
                    _ => {
                        return self.stop(format!(
                            "it writes output rootwasm cannot work out to {path}"
                        ));
                    }
                }
            }
        }
        res
    }

    fn call(&mut self, name: &str, body: &Node, text: &str, args: &[Val]) -> R<Flow> {
        if let Some(model) = super::reviewed_function(name, text) {
            return super::commands::reviewed(self, model, args);
        }
        if self.depth > 50 {
            return self.stop(format!("function {name} recurses too deep"));
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.args, args.to_vec());
        let f = self.exec(body);
        self.args = saved;
        self.depth -= 1;
        Ok(match f? {
            Flow::Return(s) => Flow::Next(s),
            other => other,
        })
    }

    /// Check redirections; returns the output file of `>`/`>>` if a real one.
    fn check_redirs(&mut self, redirs: &[Redir], allow_out: bool) -> R<Option<(String, bool)>> {
        let mut out = None;
        for r in redirs {
            if r.op.starts_with("<<") || r.op == "<" || r.op.ends_with('&') {
                continue;
            }
            let t = self.word_one(&r.target)?;
            match t.as_deref() {
                Some("/dev/null") => {}
                Some(p) if r.fd == Some(2) => {
                    return self.stop(format!("it writes errors to {p}"));
                }
                Some(p) if allow_out => out = Some((normalize(p), r.op == ">>")),
                Some(p) => return self.stop(format!("it writes to {p}")),
                None => return self.stop("it writes to a file rootwasm cannot work out"),
            }
        }
        Ok(out)
    }

    /// Print (to the captured output, if any).
    pub fn print(&mut self, text: Val) {
        if let Some(buf) = &mut self.out {
            match (buf.as_mut(), text) {
                (Some(b), Some(t)) => b.push_str(&t),
                _ => *buf = None,
            }
        }
    }

    /// Expand words into fields.
    pub fn words(&mut self, ws: &[String]) -> R<Vec<Val>> {
        let mut out = Vec::new();
        for w in ws {
            out.extend(self.fields(w)?);
        }
        Ok(out)
    }

    /// One word as one string (no field splitting), as in assignments.
    pub fn word_one(&mut self, w: &str) -> R<Val> {
        let mut s = String::new();
        for p in parts(w) {
            match self.part(&p)? {
                PartVal::One(Some(v)) => s.push_str(&v),
                PartVal::Many(v) if v.iter().all(Option::is_some) => {
                    s.push_str(&v.into_iter().flatten().collect::<Vec<_>>().join(" "))
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(s))
    }

    fn fields(&mut self, w: &str) -> R<Vec<Val>> {
        let ps = parts(w);
        // "$@": one field per argument.
        if let [Part::Param(n, op, _, true)] = ps.as_slice()
            && n == "@"
            && op.is_empty()
        {
            return Ok(self.args.clone());
        }
        let mut fields: Vec<Val> = Vec::new();
        let mut cur: Val = Some(String::new());
        let mut any_quoted = false;
        let mut glob = false;
        for p in &ps {
            let (v, split) = match p {
                Part::Lit(s, q) => {
                    any_quoted |= *q;
                    glob |= !q && s.contains(['*', '?', '[']);
                    (PartVal::One(Some(s.clone())), false)
                }
                Part::Param(_, _, _, q) | Part::Command(_, q) => {
                    any_quoted |= *q;
                    (self.part(p)?, !q)
                }
                Part::Arith(_) => (self.part(p)?, false),
            };
            let v = match v {
                PartVal::One(v) => v,
                PartVal::Many(v) => {
                    if v.iter().any(Option::is_none) {
                        None
                    } else {
                        Some(v.into_iter().flatten().collect::<Vec<_>>().join(" "))
                    }
                }
            };
            match (v, split) {
                (None, _) => cur = None,
                (Some(v), false) => {
                    if let Some(c) = &mut cur {
                        c.push_str(&v);
                    }
                }
                (Some(v), true) => {
                    let mut pieces = v.split([' ', '\t', '\n']).peekable();
                    let starts_ws = v.starts_with([' ', '\t', '\n']);
                    if starts_ws && cur.as_ref().is_some_and(|c| !c.is_empty()) {
                        fields.push(cur.take());
                        cur = Some(String::new());
                    }
                    while let Some(piece) = pieces.next() {
                        if let Some(c) = &mut cur {
                            c.push_str(piece);
                        }
                        if pieces.peek().is_some() && !piece.is_empty() {
                            fields.push(cur.take());
                            cur = Some(String::new());
                        }
                    }
                }
            }
        }
        match cur {
            Some(c) if c.is_empty() && !any_quoted => {}
            Some(c) if glob => fields.extend(self.glob(&c)),
            other => fields.push(other),
        }
        fields.retain(|f| f.as_ref().is_none_or(|f| !f.is_empty() || any_quoted));
        Ok(fields)
    }

    /// Expand a pattern in its last component (`/dir/*.ext`); no match keeps it.
    fn glob(&mut self, pat: &str) -> Vec<Val> {
        let (dir, last) = pat.rsplit_once('/').unwrap_or(("", pat));
        if dir.contains(['*', '?', '[']) {
            return vec![None];
        }
        let mut hits: Vec<Val> = self
            .facts
            .read_dir(if dir.is_empty() { "/" } else { dir })
            .into_iter()
            .filter(|n| glob_match(last, n) && !n.starts_with('.'))
            .map(|n| Some(format!("{dir}/{n}")))
            .collect();
        hits.sort();
        if hits.is_empty() {
            vec![Some(pat.to_owned())]
        } else {
            hits
        }
    }

    fn part(&mut self, p: &Part) -> R<PartVal> {
        Ok(match p {
            Part::Lit(s, _) => PartVal::One(Some(s.clone())),
            Part::Param(name, op, arg, _) => PartVal::One(self.param(name, op, arg)?),
            Part::Command(src, _) => PartVal::One(self.substitute(src)?),
            Part::Arith(e) => PartVal::One(self.arith(e)?),
        })
    }

    fn param(&mut self, name: &str, op: &str, arg: &str) -> R<Val> {
        let v: Option<Val> = match name {
            "@" | "*" => {
                let a = &self.args;
                Some(if a.iter().all(Option::is_some) {
                    Some(a.iter().flatten().cloned().collect::<Vec<_>>().join(" "))
                } else {
                    None
                })
            }
            "#" => Some(Some(self.args.len().to_string())),
            "?" | "$" | "!" => Some(None),
            "0" => Some(Some(self.script.clone())),
            n if n.chars().all(|c| c.is_ascii_digit()) => {
                let i: usize = n.parse().unwrap_or(0);
                self.args.get(i.wrapping_sub(1)).cloned()
            }
            n => self.vars.get(n).cloned(),
        };
        let set = v.is_some();
        let v = v.unwrap_or(Some(String::new()));
        Ok(match op {
            "" => v,
            ":-" | "-" => {
                let use_default = if op == ":-" {
                    v.as_deref().map(str::is_empty)
                } else {
                    Some(!set)
                };
                match use_default {
                    Some(true) => self.word_one(arg)?,
                    Some(false) => v,
                    None => None,
                }
            }
            ":+" | "+" => {
                let alt = if op == ":+" {
                    v.as_deref().map(|s| !s.is_empty())
                } else {
                    Some(set)
                };
                match alt {
                    Some(true) => self.word_one(arg)?,
                    Some(false) => Some(String::new()),
                    None => None,
                }
            }
            "#" | "##" | "%" | "%%" => {
                let pat = self.word_one(arg)?;
                match (v, pat) {
                    (Some(v), Some(p)) => Some(strip(&v, &p, op)),
                    _ => None,
                }
            }
            _ => return self.stop(format!("it uses the expansion ${{{name}{op}...}}")),
        })
    }

    /// `$(...)`: run it with its output captured; it must change nothing.
    fn substitute(&mut self, src: &str) -> R<Val> {
        let node = match parse(src) {
            Ok(n) => n,
            Err(e) => {
                return self.stop(format!("it runs `{src}`, which rootwasm cannot read ({e})"));
            }
        };
        let lines = self.lines;
        let saved_out = self.out.replace(Some(String::new()));
        let vars = self.vars.clone();
        let cwd = self.cwd.clone();
        let args = self.args.clone();
        self.probing += 1;
        let f = self.exec(&node);
        self.probing -= 1;
        self.vars = vars;
        self.cwd = cwd;
        self.args = args;
        self.lines = lines;
        let out = std::mem::replace(&mut self.out, saved_out);
        f?;
        Ok(out.flatten().map(|s| s.trim_end_matches('\n').to_owned()))
    }

    fn arith(&mut self, e: &str) -> R<Val> {
        let toks: Vec<&str> = e.split_whitespace().collect();
        let num = |this: &mut Self, t: &str| -> Option<i64> {
            let t = t.trim_start_matches('$');
            t.parse().ok().or_else(|| {
                this.vars
                    .get(t)
                    .cloned()
                    .flatten()
                    .and_then(|v| v.trim().parse().ok())
            })
        };
        Ok(match toks.as_slice() {
            [a] => num(self, a).map(|n| n.to_string()),
            [a, op, b] => match (num(self, a), num(self, b)) {
                (Some(x), Some(y)) => match *op {
                    "+" => Some((x + y).to_string()),
                    "-" => Some((x - y).to_string()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
    }
}

pub(super) enum PartVal {
    One(Val),
    #[allow(dead_code)]
    Many(Vec<Val>),
}

/// `${v#p}` and friends, with shell patterns.
fn strip(v: &str, p: &str, op: &str) -> String {
    let idx: Vec<usize> = (0..=v.len()).filter(|i| v.is_char_boundary(*i)).collect();
    match op {
        "#" => idx
            .iter()
            .find(|&&i| glob_match(p, &v[..i]))
            .map_or(v.to_owned(), |&i| v[i..].to_owned()),
        "##" => idx
            .iter()
            .rev()
            .find(|&&i| glob_match(p, &v[..i]))
            .map_or(v.to_owned(), |&i| v[i..].to_owned()),
        "%" => idx
            .iter()
            .rev()
            .find(|&&i| glob_match(p, &v[i..]))
            .map_or(v.to_owned(), |&i| v[..i].to_owned()),
        _ => idx
            .iter()
            .find(|&&i| glob_match(p, &v[i..]))
            .map_or(v.to_owned(), |&i| v[..i].to_owned()),
    }
}

/// Shell pattern matching: `*`, `?`, `[...]`, backslash escapes.
pub(super) fn glob_match(p: &str, s: &str) -> bool {
    let p: Vec<char> = p.chars().collect();
    let s: Vec<char> = s.chars().collect();
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|c| *c == ']').map(|e| e + 1) else {
                    return s.first() == Some(&'[') && go(&p[1..], &s[1..]);
                };
                let Some(c) = s.first() else { return false };
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('!' | '^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &s[1..])
            }
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&p[2..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(&p, &s)
}

/// `/a/./b/../c` → `/a/c` (lexically; no symlinks followed).
pub(super) fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(glob_match("configure", "configure"));
        assert!(glob_match("abort-*", "abort-upgrade"));
        assert!(glob_match("[0-9]*", "3x"));
        assert_eq!(
            strip("/usr/share/zoneinfo/Etc/UTC", "/usr/share/zoneinfo/", "#"),
            "Etc/UTC"
        );
        assert_eq!(strip("Etc/UTC", "/*", "%%"), "Etc");
        assert_eq!(strip("Etc/UTC", "*/", "#"), "UTC");
        assert_eq!(normalize("/etc/../usr/./share/"), "/usr/share");
    }
}
