//! A parser for the POSIX shell that Debian maintainer scripts are written
//! in: lists, pipelines, `&&`/`||`, `if`, `case`, `for`, `while`, functions,
//! subshells, redirections and here-documents. Words keep their source text;
//! [`parts`] splits one into literals, quotes, parameters and command
//! substitutions for the evaluator.
//!
//! Hand-written: the evaluator needs the source line of every command (a
//! refusal quotes it) and the raw text of functions and substitutions, and
//! no maintained pure-Rust crate gives both without an async runtime.

use crate::{Error, err};

/// A parsed command.
#[derive(Clone, Debug)]
pub enum Node {
    /// `A=b cmd args <redirs>`.
    Simple {
        assigns: Vec<(String, String)>,
        words: Vec<String>,
        redirs: Vec<Redir>,
        lines: (usize, usize),
    },
    /// `a | b | c`, maybe negated with `!`.
    Pipeline { neg: bool, cmds: Vec<Node> },
    /// `a && b || c`: `true` is `&&`.
    AndOr(Box<Node>, Vec<(bool, Node)>),
    /// Commands in sequence.
    List(Vec<Node>),
    /// `if c; then a; elif c2; then b; else d; fi`.
    If {
        arms: Vec<(Node, Node)>,
        otherwise: Option<Box<Node>>,
        lines: (usize, usize),
    },
    /// `case w in p|q) a;; esac`.
    Case {
        word: String,
        arms: Vec<(Vec<String>, Node)>,
        lines: (usize, usize),
    },
    /// `for v in words; do body; done` (`None`: `"$@"`).
    For {
        var: String,
        items: Option<Vec<String>>,
        body: Box<Node>,
        lines: (usize, usize),
    },
    /// `while c; do body; done` (or `until`), with the loop's redirections.
    While {
        until: bool,
        cond: Box<Node>,
        body: Box<Node>,
        redirs: Vec<Redir>,
        lines: (usize, usize),
    },
    /// `{ list; }` or `( list )` with redirections.
    Group {
        body: Box<Node>,
        subshell: bool,
        redirs: Vec<Redir>,
    },
    /// `name() body`: `text` is the body's source, for review hashes.
    Function {
        name: String,
        body: Box<Node>,
        text: String,
    },
}

/// A redirection: `op` is `>`, `>>`, `<`, `<<`, `>&`, `<&` or `<>`; `fd` the
/// descriptor it names, if any.
#[derive(Clone, Debug)]
pub struct Redir {
    pub fd: Option<u32>,
    pub op: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Op(&'static str),
    Newline,
    /// A redirection operator with its descriptor, e.g. `2>`.
    Redir(Option<u32>, &'static str),
    /// A here-document body (after `<<`).
    Heredoc(String),
}

const OPS: &[&str] = &[
    ";;", "&&", "||", "<<-", "<<", ">>", ">&", "<&", "<>", ";", "&", "|", "(", ")", "<", ">",
];

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    toks: Vec<(Tok, usize, usize)>,
    pending_heredocs: Vec<(String, bool)>,
}

fn is_meta(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')'
    )
}

impl<'a> Lexer<'a> {
    fn peek(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn run(mut self) -> Result<Vec<(Tok, usize, usize)>, Error> {
        while let Some(c) = self.peek(0) {
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\\' if self.peek(1) == Some(b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                b'#' => {
                    while self.peek(0).is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                b'\n' => {
                    self.pos += 1;
                    self.toks.push((Tok::Newline, self.line, self.line));
                    self.line += 1;
                    self.read_heredocs()?;
                }
                _ if is_meta(c) => self.op()?,
                _ => {
                    let start = self.line;
                    let w = self.word()?;
                    // `2>` is a redirection of fd 2.
                    if w.bytes().all(|b| b.is_ascii_digit())
                        && matches!(self.peek(0), Some(b'<' | b'>'))
                    {
                        let fd = w.parse().ok();
                        let op = self.op_str()?;
                        self.toks.push((Tok::Redir(fd, op), start, self.line));
                        self.after_redir(op);
                    } else {
                        self.toks.push((Tok::Word(w), start, self.line));
                    }
                }
            }
        }
        Ok(self.toks)
    }

    fn op_str(&mut self) -> Result<&'static str, Error> {
        let rest = &self.src[self.pos..];
        for op in OPS {
            if rest.starts_with(op.as_bytes()) {
                self.pos += op.len();
                return Ok(op);
            }
        }
        Err(err(format!("line {}: unexpected character", self.line)))
    }

    fn op(&mut self) -> Result<(), Error> {
        let op = self.op_str()?;
        let l = self.line;
        if matches!(op, "<" | ">" | ">>" | "<<" | "<<-" | ">&" | "<&" | "<>") {
            self.toks.push((Tok::Redir(None, op), l, l));
            self.after_redir(op);
        } else {
            self.toks.push((Tok::Op(op), l, l));
        }
        Ok(())
    }

    fn after_redir(&mut self, op: &str) {
        if op.starts_with("<<") {
            while matches!(self.peek(0), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
            if let Ok(w) = self.word() {
                let delim = w.replace(['\'', '"', '\\'], "");
                self.toks.push((Tok::Word(w), self.line, self.line));
                self.pending_heredocs.push((delim, op == "<<-"));
            }
        }
    }

    fn read_heredocs(&mut self) -> Result<(), Error> {
        for (delim, strip) in std::mem::take(&mut self.pending_heredocs) {
            let mut body = String::new();
            loop {
                if self.pos >= self.src.len() {
                    return Err(err(format!("here-document {delim:?} is not closed")));
                }
                let end = self.src[self.pos..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(self.src.len(), |i| self.pos + i);
                let line = String::from_utf8_lossy(&self.src[self.pos..end]).into_owned();
                self.pos = (end + 1).min(self.src.len());
                self.line += 1;
                let cmp = if strip {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if cmp == delim {
                    break;
                }
                body.push_str(cmp);
                body.push('\n');
            }
            self.toks.push((Tok::Heredoc(body), self.line, self.line));
        }
        Ok(())
    }

    /// One word, quotes and substitutions kept verbatim.
    fn word(&mut self) -> Result<String, Error> {
        let start = self.pos;
        while let Some(c) = self.peek(0) {
            match c {
                _ if is_meta(c) => break,
                b'\\' => {
                    if self.peek(1) == Some(b'\n') {
                        self.line += 1;
                    }
                    self.pos += 2;
                }
                b'\'' => self.skip_until(b'\'')?,
                b'"' => self.skip_dquote()?,
                b'`' => self.skip_until(b'`')?,
                b'$' if self.peek(1) == Some(b'(') => self.skip_parens()?,
                b'$' if self.peek(1) == Some(b'{') => self.skip_braces()?,
                _ => self.pos += 1,
            }
        }
        let end = self.pos.min(self.src.len());
        Ok(String::from_utf8_lossy(&self.src[start..end]).into_owned())
    }

    fn skip_until(&mut self, q: u8) -> Result<(), Error> {
        let l = self.line;
        self.pos += 1;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            if c == b'\n' {
                self.line += 1;
            }
            if c == b'\\' && q == b'`' {
                self.pos += 1;
            } else if c == q {
                return Ok(());
            }
        }
        Err(err(format!("line {l}: unterminated {}", q as char)))
    }

    fn skip_dquote(&mut self) -> Result<(), Error> {
        let l = self.line;
        self.pos += 1;
        while let Some(c) = self.peek(0) {
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => self.pos += 2,
                b'`' => self.skip_until(b'`')?,
                b'$' if self.peek(1) == Some(b'(') => self.skip_parens()?,
                b'$' if self.peek(1) == Some(b'{') => self.skip_braces()?,
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
        Err(err(format!("line {l}: unterminated \"")))
    }

    /// `$( ... )` or `$(( ... ))`, nested, quotes respected.
    fn skip_parens(&mut self) -> Result<(), Error> {
        let l = self.line;
        self.pos += 2;
        let mut depth = 1;
        while let Some(c) = self.peek(0) {
            match c {
                b'(' => {
                    depth += 1;
                    self.pos += 1;
                }
                b')' => {
                    depth -= 1;
                    self.pos += 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                b'\'' => self.skip_until(b'\'')?,
                b'"' => self.skip_dquote()?,
                b'`' => self.skip_until(b'`')?,
                b'\\' => self.pos += 2,
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
        Err(err(format!("line {l}: unterminated $(")))
    }

    fn skip_braces(&mut self) -> Result<(), Error> {
        let l = self.line;
        self.pos += 2;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                b'}' => return Ok(()),
                b'\'' => {
                    self.pos -= 1;
                    self.skip_until(b'\'')?
                }
                b'"' => {
                    self.pos -= 1;
                    self.skip_dquote()?
                }
                _ => {}
            }
        }
        Err(err(format!("line {l}: unterminated ${{")))
    }
}

struct Parser<'a> {
    toks: Vec<(Tok, usize, usize)>,
    i: usize,
    src: &'a str,
}

const RESERVED: &[&str] = &[
    "then", "elif", "else", "fi", "do", "done", "esac", "}", "in",
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }
    fn line(&self) -> usize {
        self.toks
            .get(self.i)
            .map_or_else(|| self.toks.last().map_or(1, |t| t.2), |t| t.1)
    }
    fn prev_line(&self) -> usize {
        self.toks.get(self.i.wrapping_sub(1)).map_or(1, |t| t.2)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Some(Tok::Newline)) {
            self.i += 1;
        }
    }
    fn expect_word(&mut self, w: &str) -> Result<(), Error> {
        self.skip_newlines();
        if self.is_word(w) {
            self.i += 1;
            Ok(())
        } else {
            Err(err(format!("line {}: expected `{w}`", self.line())))
        }
    }

    /// Commands until one of `stops` (a reserved word or `)`/`;;`).
    fn list(&mut self, stops: &[&str]) -> Result<Node, Error> {
        let mut out = Vec::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                None => break,
                Some(Tok::Word(w)) if stops.contains(&w.as_str()) => break,
                Some(Tok::Op(op)) if stops.contains(op) => break,
                Some(Tok::Op(";")) | Some(Tok::Op("&")) => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            out.push(self.and_or()?);
            match self.peek() {
                Some(Tok::Op(";" | "&")) | Some(Tok::Newline) => self.i += 1,
                _ => {}
            }
        }
        Ok(Node::List(out))
    }

    fn and_or(&mut self) -> Result<Node, Error> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let and = match self.peek() {
                Some(Tok::Op("&&")) => true,
                Some(Tok::Op("||")) => false,
                _ => break,
            };
            self.i += 1;
            self.skip_newlines();
            rest.push((and, self.pipeline()?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Node::AndOr(Box::new(first), rest)
        })
    }

    fn pipeline(&mut self) -> Result<Node, Error> {
        let neg = self.is_word("!");
        if neg {
            self.i += 1;
        }
        let mut cmds = vec![self.command()?];
        while matches!(self.peek(), Some(Tok::Op("|"))) {
            self.i += 1;
            self.skip_newlines();
            cmds.push(self.command()?);
        }
        Ok(if cmds.len() == 1 && !neg {
            cmds.pop().unwrap_or(Node::List(Vec::new()))
        } else {
            Node::Pipeline { neg, cmds }
        })
    }

    fn redirs(&mut self) -> Result<Vec<Redir>, Error> {
        let mut out = Vec::new();
        while let Some(Tok::Redir(fd, op)) = self.peek().cloned() {
            self.i += 1;
            let target = match self.peek().cloned() {
                Some(Tok::Word(w)) => {
                    self.i += 1;
                    w
                }
                _ => {
                    return Err(err(format!(
                        "line {}: redirection without a target",
                        self.line()
                    )));
                }
            };
            let target = if op.starts_with("<<") {
                // The body follows at the next line break.
                let mut j = self.i;
                while j < self.toks.len() && !matches!(self.toks[j].0, Tok::Heredoc(_)) {
                    j += 1;
                }
                match self.toks.get(j).map(|t| t.0.clone()) {
                    Some(Tok::Heredoc(b)) => {
                        self.toks.remove(j);
                        b
                    }
                    _ => target,
                }
            } else {
                target
            };
            out.push(Redir {
                fd,
                op: op.to_owned(),
                target,
            });
        }
        Ok(out)
    }

    fn command(&mut self) -> Result<Node, Error> {
        let start = self.line();
        let tok = self.peek().cloned();
        match tok {
            Some(Tok::Word(w)) => match w.as_str() {
                "if" => return self.if_(start),
                "case" => return self.case(start),
                "for" => return self.for_(start),
                "while" | "until" => return self.while_(start, w == "until"),
                "{" => {
                    self.i += 1;
                    let body = self.list(&["}"])?;
                    self.expect_word("}")?;
                    let redirs = self.redirs()?;
                    return Ok(Node::Group {
                        body: Box::new(body),
                        subshell: false,
                        redirs,
                    });
                }
                _ => {}
            },
            Some(Tok::Op("(")) => {
                self.i += 1;
                let body = self.list(&[")"])?;
                self.skip_newlines();
                if !matches!(self.peek(), Some(Tok::Op(")"))) {
                    return Err(err(format!("line {start}: `(` is not closed")));
                }
                self.i += 1;
                let redirs = self.redirs()?;
                return Ok(Node::Group {
                    body: Box::new(body),
                    subshell: true,
                    redirs,
                });
            }
            _ => {}
        }
        // A function definition: `name ( )`.
        if let (Some(Tok::Word(name)), Some(Tok::Op("(")), Some(Tok::Op(")"))) = (
            self.toks.get(self.i).map(|t| &t.0),
            self.toks.get(self.i + 1).map(|t| &t.0),
            self.toks.get(self.i + 2).map(|t| &t.0),
        ) {
            let name = name.clone();
            self.i += 3;
            self.skip_newlines();
            let from = self.toks.get(self.i).map_or(start, |t| t.1);
            let body = self.command()?;
            let to = self.prev_line();
            let text = self
                .src
                .lines()
                .skip(from.saturating_sub(1))
                .take(to + 1 - from)
                .collect::<Vec<_>>()
                .join("\n");
            return Ok(Node::Function {
                name,
                body: Box::new(body),
                text,
            });
        }
        self.simple(start)
    }

    fn simple(&mut self, start: usize) -> Result<Node, Error> {
        let mut assigns = Vec::new();
        let mut words = Vec::new();
        let mut redirs = Vec::new();
        loop {
            match self.peek().cloned() {
                Some(Tok::Word(w)) => {
                    if words.is_empty() && RESERVED.contains(&w.as_str()) {
                        break;
                    }
                    self.i += 1;
                    match assignment(&w) {
                        Some((k, v)) if words.is_empty() => assigns.push((k, v)),
                        _ => words.push(w),
                    }
                }
                Some(Tok::Redir(..)) => redirs.extend(self.redirs()?),
                _ => break,
            }
        }
        if words.is_empty() && assigns.is_empty() && redirs.is_empty() {
            return Err(err(format!("line {start}: expected a command")));
        }
        Ok(Node::Simple {
            assigns,
            words,
            redirs,
            lines: (start, self.prev_line()),
        })
    }

    fn if_(&mut self, start: usize) -> Result<Node, Error> {
        self.i += 1;
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.list(&["then"])?;
            self.expect_word("then")?;
            let body = self.list(&["elif", "else", "fi"])?;
            arms.push((cond, body));
            self.skip_newlines();
            if self.is_word("elif") {
                self.i += 1;
                continue;
            }
            if self.is_word("else") {
                self.i += 1;
                otherwise = Some(Box::new(self.list(&["fi"])?));
            }
            self.expect_word("fi")?;
            break;
        }
        let _ = self.redirs()?;
        Ok(Node::If {
            arms,
            otherwise,
            lines: (start, self.prev_line()),
        })
    }

    fn case(&mut self, start: usize) -> Result<Node, Error> {
        self.i += 1;
        let word = match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.i += 1;
                w
            }
            _ => return Err(err(format!("line {start}: `case` without a word"))),
        };
        self.expect_word("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines();
            if self.is_word("esac") {
                self.i += 1;
                break;
            }
            if matches!(self.peek(), Some(Tok::Op("("))) {
                self.i += 1;
            }
            let mut pats = Vec::new();
            loop {
                match self.peek().cloned() {
                    Some(Tok::Word(w)) => {
                        self.i += 1;
                        pats.push(w);
                    }
                    _ => return Err(err(format!("line {}: bad case pattern", self.line()))),
                }
                match self.peek() {
                    Some(Tok::Op("|")) => self.i += 1,
                    Some(Tok::Op(")")) => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(err(format!("line {}: bad case pattern", self.line()))),
                }
            }
            let body = self.list(&[";;", "esac"])?;
            arms.push((pats, body));
            if matches!(self.peek(), Some(Tok::Op(";;"))) {
                self.i += 1;
            }
        }
        let _ = self.redirs()?;
        Ok(Node::Case {
            word,
            arms,
            lines: (start, self.prev_line()),
        })
    }

    fn for_(&mut self, start: usize) -> Result<Node, Error> {
        self.i += 1;
        let var = match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.i += 1;
                w
            }
            _ => return Err(err(format!("line {start}: `for` without a name"))),
        };
        let mut items = None;
        self.skip_newlines();
        if self.is_word("in") {
            self.i += 1;
            let mut v = Vec::new();
            while let Some(Tok::Word(w)) = self.peek().cloned() {
                self.i += 1;
                v.push(w);
            }
            items = Some(v);
        }
        if matches!(self.peek(), Some(Tok::Op(";"))) {
            self.i += 1;
        }
        self.expect_word("do")?;
        let body = self.list(&["done"])?;
        self.expect_word("done")?;
        let _ = self.redirs()?;
        Ok(Node::For {
            var,
            items,
            body: Box::new(body),
            lines: (start, self.prev_line()),
        })
    }

    fn while_(&mut self, start: usize, until: bool) -> Result<Node, Error> {
        self.i += 1;
        let cond = self.list(&["do"])?;
        self.expect_word("do")?;
        let body = self.list(&["done"])?;
        self.expect_word("done")?;
        let redirs = self.redirs()?;
        Ok(Node::While {
            until,
            cond: Box::new(cond),
            body: Box::new(body),
            redirs,
            lines: (start, self.prev_line()),
        })
    }
}

fn assignment(w: &str) -> Option<(String, String)> {
    let (k, v) = w.split_once('=')?;
    let ok = !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| (k.to_owned(), v.to_owned()))
}

/// Parse a whole script.
pub fn parse(src: &str) -> Result<Node, Error> {
    let toks = Lexer {
        src: src.as_bytes(),
        pos: 0,
        line: 1,
        toks: Vec::new(),
        pending_heredocs: Vec::new(),
    }
    .run()?;
    let mut p = Parser { toks, i: 0, src };
    let node = p.list(&[])?;
    if p.i < p.toks.len() {
        return Err(err(format!(
            "line {}: unexpected `{:?}`",
            p.line(),
            p.toks[p.i].0
        )));
    }
    Ok(node)
}

/// One piece of a word.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Literal text (quotes removed); `true` if it was quoted (no globbing).
    Lit(String, bool),
    /// `$name`, `${name}` or `${name<op>arg}`: (name, op, arg, quoted).
    Param(String, String, String, bool),
    /// `$(...)` or backquotes: the inner source; quoted or not.
    Command(String, bool),
    /// `$((...))`.
    Arith(String),
}

/// Split a word's source into parts.
pub fn parts(w: &str) -> Vec<Part> {
    let b = w.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut lit = String::new();
    let mut quoted_lit = String::new();
    let flush = |out: &mut Vec<Part>, lit: &mut String, q: bool| {
        if !lit.is_empty() {
            out.push(Part::Lit(std::mem::take(lit), q));
        }
    };
    let mut in_dq = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' if !in_dq => {
                flush(&mut out, &mut lit, false);
                let end = w[i + 1..].find('\'').map_or(b.len(), |e| i + 1 + e);
                quoted_lit.push_str(&w[i + 1..end]);
                out.push(Part::Lit(std::mem::take(&mut quoted_lit), true));
                i = end + 1;
            }
            b'"' => {
                let q = in_dq;
                flush(&mut out, &mut lit, q);
                in_dq = !in_dq;
                if !in_dq && out.last().is_none() {
                    out.push(Part::Lit(String::new(), true));
                } else if in_dq {
                    // An empty "" still makes a (quoted, empty) field.
                    if b.get(i + 1) == Some(&b'"') && out.is_empty() && i + 2 >= b.len() {
                        out.push(Part::Lit(String::new(), true));
                    }
                }
                i += 1;
            }
            b'\\' => {
                if let Some(&n) = b.get(i + 1) {
                    if !in_dq || matches!(n, b'$' | b'`' | b'"' | b'\\' | b'\n') {
                        if n != b'\n' {
                            lit.push(n as char);
                        }
                    } else {
                        lit.push('\\');
                        lit.push(n as char);
                    }
                }
                i += 2;
            }
            b'`' => {
                flush(&mut out, &mut lit, in_dq);
                let end = w[i + 1..].find('`').map_or(b.len(), |e| i + 1 + e);
                out.push(Part::Command(w[i + 1..end].replace("\\`", "`"), in_dq));
                i = end + 1;
            }
            b'$' if b.get(i + 1) == Some(&b'(') && b.get(i + 2) == Some(&b'(') => {
                flush(&mut out, &mut lit, in_dq);
                let end = matching(b, i + 1);
                out.push(Part::Arith(w[i + 3..end.saturating_sub(1)].to_owned()));
                i = end + 1;
            }
            b'$' if b.get(i + 1) == Some(&b'(') => {
                flush(&mut out, &mut lit, in_dq);
                let end = matching(b, i + 1);
                out.push(Part::Command(w[i + 2..end].to_owned(), in_dq));
                i = end + 1;
            }
            b'$' if b.get(i + 1) == Some(&b'{') => {
                flush(&mut out, &mut lit, in_dq);
                let end = w[i..].find('}').map_or(b.len(), |e| i + e);
                let inner = &w[i + 2..end];
                let name_len = match inner
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(inner.len())
                {
                    0 if inner.starts_with(['@', '*', '?']) => 1,
                    n => n,
                };
                let (name, rest) = inner.split_at(name_len);
                let op_len = ["##", "%%", ":-", ":+", ":=", "#", "%", "-", "+", "="]
                    .iter()
                    .find(|op| rest.starts_with(**op))
                    .map_or(0, |op| op.len());
                out.push(Part::Param(
                    name.to_owned(),
                    rest[..op_len].to_owned(),
                    rest[op_len..].to_owned(),
                    in_dq,
                ));
                i = end + 1;
            }
            b'$' if b.get(i + 1).is_some_and(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'#' | b'?' | b'*')
            }) =>
            {
                flush(&mut out, &mut lit, in_dq);
                let first = b[i + 1];
                let len = if first.is_ascii_digit() || matches!(first, b'@' | b'#' | b'?' | b'*') {
                    1
                } else {
                    w[i + 1..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(b.len() - i - 1)
                };
                out.push(Part::Param(
                    w[i + 1..i + 1 + len].to_owned(),
                    String::new(),
                    String::new(),
                    in_dq,
                ));
                i += 1 + len;
            }
            _ => {
                let ch = w[i..].chars().next().unwrap_or('?');
                lit.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    flush(&mut out, &mut lit, in_dq);
    out
}

/// Index of the `)` closing the `(` at `open`.
fn matching(b: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    let mut q: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match q {
            Some(x) if c == x => q = None,
            Some(b'"') if c == b'\\' => i += 1,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' => q = Some(c),
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debhelper_shapes() {
        let s = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ] && [ -n \"$2\" ]; then\n  rm -f /x \\\n   /y\nfi\ncase \"$1\" in\n  upgrade|install) : ;;\n  *) exit 1 ;;\nesac\nf() {\n  echo \"$(a | b 'c)')\"\n}\ncat <<EOF\nhello\nEOF\n";
        let Node::List(cmds) = parse(s).unwrap() else {
            panic!()
        };
        assert_eq!(cmds.len(), 5);
        assert!(matches!(&cmds[1], Node::If { lines: (3, 6), .. }));
        assert!(matches!(&cmds[3], Node::Function { name, .. } if name == "f"));
        assert!(matches!(&cmds[4], Node::Simple { redirs, .. } if redirs[0].target == "hello\n"));
    }

    #[test]
    fn word_parts() {
        assert_eq!(
            parts("\"$DPKG_ROOT\"/etc/x"),
            vec![
                Part::Param("DPKG_ROOT".into(), "".into(), "".into(), true),
                Part::Lit("/etc/x".into(), false)
            ]
        );
        assert_eq!(parts("1.2.4\\~"), vec![Part::Lit("1.2.4~".into(), false)]);
        assert_eq!(
            parts("${x#/usr/}"),
            vec![Part::Param("x".into(), "#".into(), "/usr/".into(), false)]
        );
    }
}
