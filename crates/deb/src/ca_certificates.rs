//! `update-ca-certificates` and ca-certificates' postinst, in pure Rust.
//!
//! The distrust of a root *is* the fix of a ca-certificates upgrade, so it
//! is reproduced exactly rather than skipped: the postinst's rewrite of
//! `/etc/ca-certificates.conf` (new certificates trusted, removed ones
//! marked `!`), then `/usr/sbin/update-ca-certificates` (the `.pem` links in
//! `/etc/ssl/certs`, the bundle `ca-certificates.crt`, orphan links removed)
//! and `openssl rehash` (the `<subject hash>.<n>` links). Each step follows
//! the shell or C it replaces, named in its comment (ca-certificates
//! 20250419~deb12u2, OpenSSL 3.0 `apps/rehash.c`, `crypto/x509/x_name.c`).
//!
//! Pure: [`plan`] takes a snapshot of the files involved and returns the
//! operations to apply, so the same code runs in the recipe and in tests.

use crate::maintscript::{Facts, Kind};
use crate::{Error, err};
use der::{Decode, Encode, Tagged};
use std::collections::{BTreeMap, BTreeSet};

/// An entry of `/etc/ssl/certs` (or of the certificate directories).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File(Vec<u8>),
    Symlink(String),
    Other,
}

/// What the postinst and `update-ca-certificates` read.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// `/etc/ca-certificates.conf`, if it exists.
    pub conf: Option<String>,
    /// `*.crt` under `/usr/share/ca-certificates` (after unpacking), relative
    /// path → contents.
    pub shared: BTreeMap<String, Vec<u8>>,
    /// Every file under `/usr/share/ca-certificates`, relative (for `-f` tests).
    pub shared_files: BTreeSet<String>,
    /// `*.crt` under `/usr/local/share/ca-certificates`, relative → contents.
    pub local: BTreeMap<String, Vec<u8>>,
    /// `/etc/ssl/certs`: name → entry (one level; subdirectories are `Other`).
    pub etc_certs: BTreeMap<String, Node>,
    /// The contents of files that `/etc/ssl/certs` links point at, by the
    /// absolute link target (for rehash and for `test -e`).
    pub targets: BTreeMap<String, Vec<u8>>,
    /// debconf's `ca-certificates/trust_new_crts` (`yes`, `no` or `ask`).
    pub trust_new: String,
    /// The new config script's `CERTS_LIST` (certificates the package ships).
    pub certs_list: Vec<String>,
}

/// One change, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Write a file (mode 0644, root).
    Write(String, Vec<u8>),
    /// Rename a file.
    Rename(String, String),
    /// Remove a file or link.
    Remove(String),
    /// Create or replace a symlink: (link, target).
    Symlink(String, String),
}

const CONF: &str = "/etc/ca-certificates.conf";
const SHARE: &str = "/usr/share/ca-certificates";
const LOCAL: &str = "/usr/local/share/ca-certificates";
const ETC: &str = "/etc/ssl/certs";

impl Snapshot {
    /// Read what the scripts read, from the image as it is after unpacking.
    pub fn read(facts: &mut dyn Facts, config: &str) -> Result<Snapshot, Error> {
        let mut s = Snapshot {
            conf: facts
                .read(CONF)
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            trust_new: facts
                .debconf("ca-certificates/trust_new_crts")
                .unwrap_or_else(|| "yes".into()),
            certs_list: certs_list(config),
            ..Default::default()
        };
        for (rel, data) in walk(facts, SHARE)? {
            if rel.ends_with(".crt") {
                s.shared.insert(rel.clone(), data);
            }
            s.shared_files.insert(rel);
        }
        for (rel, data) in walk(facts, LOCAL)? {
            if rel.ends_with(".crt") {
                s.local.insert(rel, data);
            }
        }
        let mut names = facts.read_dir(ETC);
        names.sort();
        for name in names {
            let path = format!("{ETC}/{name}");
            let node = match facts.kind(&path, false) {
                Some(Kind::File) => Node::File(facts.read(&path).unwrap_or_default()),
                Some(Kind::Symlink) => {
                    let t = facts.readlink(&path).unwrap_or_default();
                    if t.starts_with('/')
                        && !t.starts_with(&format!("{ETC}/"))
                        && let Some(d) = facts.read(&t)
                    {
                        s.targets.insert(t.clone(), d);
                    }
                    Node::Symlink(t)
                }
                _ => Node::Other,
            };
            s.etc_certs.insert(name, node);
        }
        Ok(s)
    }
}

/// Regular files under `dir` (symlinks followed, as `find -L`), relative paths.
fn walk(facts: &mut dyn Facts, dir: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    let mut todo = vec![String::new()];
    let mut seen = 0;
    while let Some(rel) = todo.pop() {
        let abs = if rel.is_empty() {
            dir.to_owned()
        } else {
            format!("{dir}/{rel}")
        };
        let mut names = facts.read_dir(&abs);
        names.sort();
        for n in names {
            seen += 1;
            if seen > 100_000 {
                return Err(err(format!("{dir} has too many entries")));
            }
            let r = if rel.is_empty() {
                n.clone()
            } else {
                format!("{rel}/{n}")
            };
            let p = format!("{dir}/{r}");
            match facts.kind(&p, true) {
                Some(Kind::Dir) => todo.push(r),
                Some(Kind::File) => out.push((r, facts.read(&p).unwrap_or_default())),
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The config script's `CERTS_LIST="..."`.
pub fn certs_list(config: &str) -> Vec<String> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("CERTS_LIST=\""))
        .map(|l| {
            l.trim_end_matches('"')
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The conf file the postinst writes on `configure` (ca-certificates'
/// config script, then postinst, with debconf asking nothing). `None`: unchanged.
pub fn new_conf(s: &Snapshot) -> Result<Option<String>, Error> {
    let Some(conf) = &s.conf else {
        return Err(err(format!(
            "{CONF} is missing; the postinst would write a new one from debconf's answers"
        )));
    };
    let lines: Vec<&str> = conf.lines().collect();
    if lines.iter().any(|l| l.trim().is_empty() || *l != l.trim()) {
        return Err(err(format!(
            "{CONF} has blank lines or spaces around names, which the postinst's `read` reshapes"
        )));
    }
    let disabled: BTreeSet<&str> = lines.iter().filter_map(|l| l.strip_prefix('!')).collect();
    let trusted: BTreeSet<&str> = lines
        .iter()
        .filter(|l| !l.starts_with('#') && !l.starts_with('!'))
        .copied()
        .collect();
    // config: every *.crt shipped or listed, `sort | uniq` in the C locale.
    let crts: BTreeSet<String> = s
        .shared
        .keys()
        .cloned()
        .chain(s.certs_list.iter().cloned())
        .collect();
    let available: Vec<String> = crts.iter().cloned().collect();
    let mut enabled = Vec::new();
    for crt in &available {
        if disabled.contains(crt.as_str()) {
            continue;
        }
        if trusted.contains(crt.as_str()) {
            enabled.push(crt.clone());
            continue;
        }
        match s.trust_new.as_str() {
            "yes" => enabled.push(crt.clone()),
            "no" => {}
            other => {
                return Err(err(format!(
                    "debconf's ca-certificates/trust_new_crts is {other:?}: new certificates would be asked about"
                )));
            }
        }
    }
    let enabled_set: BTreeSet<&str> = enabled.iter().map(String::as_str).collect();
    let available_set: BTreeSet<&str> = available.iter().map(String::as_str).collect();
    // postinst: rewrite each line, then append what is missing.
    let mut out: Vec<String> = Vec::new();
    for line in &lines {
        if line.starts_with('#') {
            out.push((*line).to_owned());
            continue;
        }
        let ca = line.strip_prefix('!').unwrap_or(line);
        let keep = if enabled_set.contains(ca) {
            true
        } else if available_set.contains(ca) || line.starts_with('!') {
            false
        } else {
            s.shared_files.contains(ca) || s.local.contains_key(ca)
        };
        out.push(if keep {
            ca.to_owned()
        } else {
            format!("!{ca}")
        });
    }
    // `grep -q "^$ca"`: a prefix match, as the script does.
    for ca in &enabled {
        if !out.iter().any(|l| l.starts_with(ca.as_str())) {
            out.push(ca.clone());
        }
    }
    for ca in &available {
        if enabled_set.contains(ca.as_str()) {
            continue;
        }
        let bang = format!("!{ca}");
        if !out.iter().any(|l| l.starts_with(&bang)) {
            out.push(bang);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok((text != *conf).then_some(text))
}

/// Everything the postinst's `configure` does to the trust store, in order.
pub fn plan(s: &Snapshot) -> Result<Vec<Op>, Error> {
    let mut ops = Vec::new();
    let conf = match new_conf(s)? {
        Some(text) => {
            ops.push(Op::Rename(CONF.into(), format!("{CONF}.dpkg-old")));
            ops.push(Op::Write(CONF.into(), text.clone().into_bytes()));
            text
        }
        None => s.conf.clone().unwrap_or_default(),
    };
    ops.extend(update(s, &conf)?);
    Ok(ops)
}

/// `update-ca-certificates` alone, from the conf as it is.
pub fn update_only(s: &Snapshot) -> Result<Vec<Op>, Error> {
    update(s, s.conf.as_deref().unwrap_or_default())
}

/// `update-ca-certificates` (no `--fresh`), then `openssl rehash .`.
fn update(s: &Snapshot, conf: &str) -> Result<Vec<Op>, Error> {
    let mut ops = Vec::new();
    let mut etc = s.etc_certs.clone();
    let (mut added, mut removed) = (0, 0);
    // remove(): `!` lines lose their .pem link (the name is not sanitised here).
    for l in conf.lines().filter(|l| !l.is_empty()) {
        if let Some(crt) = l.strip_prefix('!') {
            let pem = format!("{}.pem", base(crt));
            if matches!(etc.get(&pem), Some(Node::Symlink(_))) {
                etc.remove(&pem);
                ops.push(Op::Remove(format!("{ETC}/{pem}")));
                removed += 1;
            }
        }
    }
    let mut bundle = Vec::new();
    let mut add =
        |cert: String, data: &[u8], etc: &mut BTreeMap<String, Node>, ops: &mut Vec<Op>| {
            let pem = format!(
                "{}.pem",
                base(&cert)
                    .replace(' ', "_")
                    .replace(['(', ')'], "=")
                    .replace(',', "_")
            );
            let ok = matches!(etc.get(&pem), Some(Node::Symlink(t)) if *t == cert)
                && exists(s, etc, &pem);
            if !ok {
                etc.insert(pem.clone(), Node::Symlink(cert.clone()));
                ops.push(Op::Symlink(format!("{ETC}/{pem}"), cert));
                added += 1;
            }
            // `sed -e '$a\'`: a final newline if missing.
            bundle.extend_from_slice(data);
            if !data.is_empty() && !data.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        };
    for crt in conf
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
    {
        if let Some(data) = s.shared.get(crt) {
            add(format!("{SHARE}/{crt}"), data, &mut etc, &mut ops);
        }
    }
    // `find -L ... | sort` (C locale: bytes).
    for (crt, data) in &s.local {
        add(format!("{LOCAL}/{crt}"), data, &mut etc, &mut ops);
    }
    if added > 0 || removed > 0 {
        // Orphans: links whose target does not exist.
        let orphans: Vec<String> = etc
            .keys()
            .filter(|n| matches!(etc.get(*n), Some(Node::Symlink(_))) && !exists(s, &etc, n))
            .cloned()
            .collect();
        for o in orphans {
            etc.remove(&o);
            ops.push(Op::Remove(format!("{ETC}/{o}")));
        }
        ops.extend(rehash(s, &mut etc)?);
    }
    ops.push(Op::Write(format!("{ETC}/ca-certificates.crt"), bundle));
    Ok(ops)
}

fn base(crt: &str) -> &str {
    let b = crt.rsplit('/').next().unwrap_or(crt);
    b.strip_suffix(".crt").unwrap_or(b)
}

/// Where `/etc/ssl/certs/<name>` leads, following links (at most 10).
fn resolve<'a>(s: &'a Snapshot, etc: &'a BTreeMap<String, Node>, name: &str) -> Option<&'a [u8]> {
    let mut cur = name.to_owned();
    for _ in 0..10 {
        match etc.get(&cur)? {
            Node::File(d) => return Some(d),
            Node::Other => return None,
            Node::Symlink(t) => {
                if let Some(rest) = t.strip_prefix(&format!("{ETC}/")) {
                    cur = rest.to_owned();
                } else if t.starts_with('/') {
                    return s.targets.get(t).map(Vec::as_slice);
                } else if !t.contains('/') {
                    cur = t.clone();
                } else {
                    return None;
                }
            }
        }
    }
    None
}

fn exists(s: &Snapshot, etc: &BTreeMap<String, Node>, name: &str) -> bool {
    resolve(s, etc, name).is_some() || matches!(etc.get(name), Some(Node::Other))
}

/// `openssl rehash .` (OpenSSL 3.0 `apps/rehash.c`, `do_dir`): existing
/// correct hash links keep their number, new ones take the lowest free one,
/// stale ones go; duplicates (same SHA-1 fingerprint) get no link.
fn rehash(s: &Snapshot, etc: &mut BTreeMap<String, Node>) -> Result<Vec<Op>, Error> {
    #[derive(Default)]
    struct Entry {
        filename: String,
        old_id: u32,
        need: bool,
        digest: Option<[u8; 20]>,
    }
    // Buckets by (type, hash), in first-seen order of files sorted by name.
    let mut buckets: Vec<((u8, u32), Vec<Entry>)> = Vec::new();
    fn bucket(b: &mut Vec<((u8, u32), Vec<Entry>)>, key: (u8, u32)) -> &mut Vec<Entry> {
        let i = match b.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                b.push((key, Vec::new()));
                b.len() - 1
            }
        };
        &mut b[i].1
    }
    let names: Vec<String> = etc.keys().cloned().collect();
    for name in &names {
        if let Some(Node::Symlink(target)) = etc.get(name)
            && let Some((hash, crl, id)) = hash_link_name(name)
        {
            let b = bucket(&mut buckets, (crl as u8, hash));
            match b.iter_mut().find(|e| e.filename == *target) {
                Some(e) => e.old_id = e.old_id.min(id),
                None => b.push(Entry {
                    filename: target.clone(),
                    old_id: id,
                    ..Default::default()
                }),
            }
            continue;
        }
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        if !matches!(ext.as_deref(), Some("pem" | "crt" | "cer" | "crl")) {
            continue;
        }
        let Some(data) = resolve(s, etc, name) else {
            continue;
        };
        let certs = pem_objects(data);
        let [(label, der)] = certs.as_slice() else {
            continue;
        };
        if label == "X509 CRL" {
            return Err(err(format!(
                "{ETC}/{name} is a CRL, which rootwasm does not rehash"
            )));
        }
        let hash = subject_hash(der).map_err(|e| err(format!("{ETC}/{name}: {e}")))?;
        let digest = sha1(der);
        let b = bucket(&mut buckets, (0, hash));
        if b.iter().any(|e| e.digest == Some(digest)) {
            continue; // "skipping duplicate certificate"
        }
        match b.iter_mut().find(|e| e.filename == *name) {
            Some(e) if !e.need => {
                e.need = true;
                e.digest = Some(digest);
            }
            Some(_) => {}
            None => b.push(Entry {
                filename: name.clone(),
                old_id: u32::MAX,
                need: true,
                digest: Some(digest),
            }),
        }
    }
    let mut ops = Vec::new();
    for ((crl, hash), entries) in buckets {
        let suffix = if crl == 1 { "r" } else { "" };
        let needed = entries.iter().filter(|e| e.need).count() as u32;
        let mut used: BTreeSet<u32> = entries
            .iter()
            .filter(|e| e.old_id < needed)
            .map(|e| e.old_id)
            .collect();
        for e in &entries {
            if e.old_id < needed {
                continue; // the link exists and is used as it is
            }
            if e.need {
                let id = (0..).find(|i| !used.contains(i)).unwrap_or(0);
                used.insert(id);
                let link = format!("{hash:08x}.{suffix}{id}");
                etc.insert(link.clone(), Node::Symlink(e.filename.clone()));
                ops.push(Op::Symlink(format!("{ETC}/{link}"), e.filename.clone()));
            } else {
                let link = format!("{hash:08x}.{suffix}{}", e.old_id);
                if etc.remove(&link).is_some() {
                    ops.push(Op::Remove(format!("{ETC}/{link}")));
                }
            }
        }
    }
    Ok(ops)
}

/// `xxxxxxxx.N` or `xxxxxxxx.rN` (hex hash, decimal id), as `handle_symlink` reads it.
fn hash_link_name(name: &str) -> Option<(u32, bool, u32)> {
    let (h, rest) = name.split_at_checked(8)?;
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.strip_prefix('.')?;
    let (crl, num) = match rest.strip_prefix(['r', 'R']) {
        Some(n) => (true, n),
        None => (false, rest),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((u32::from_str_radix(h, 16).ok()?, crl, num.parse().ok()?))
}

/// The certificates and CRLs in a PEM file, as `PEM_X509_INFO_read_bio`
/// counts them: (label, DER).
pub fn pem_objects(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let Some(label_end) = block[11..].find("-----") else {
            break;
        };
        let label = block[11..11 + label_end].to_owned();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = block.find(&end_marker) else {
            break;
        };
        let pem = &block[..end + end_marker.len()];
        rest = &block[end + end_marker.len()..];
        if !matches!(
            label.as_str(),
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CRL"
        ) {
            continue;
        }
        if let Ok((_, der)) = pem_rfc7468::decode_vec(pem.as_bytes()) {
            out.push((label, der));
        }
    }
    out
}

fn sha1(der: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(der).into()
}

/// OpenSSL's `X509_NAME_hash_ex` of a certificate's subject: SHA-1 of the
/// canonical encoding (each RDN's SET, strings as lower-cased UTF8String
/// with whitespace folded, no outer SEQUENCE), first 4 bytes little-endian.
pub fn subject_hash(cert_der: &[u8]) -> Result<u32, String> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| format!("not a certificate: {e}"))?;
    let mut canon = Vec::new();
    for rdn in cert.tbs_certificate.subject.0.iter() {
        let mut atvs = Vec::new();
        for atv in rdn.0.iter() {
            let value = match canon_string(atv.value.tag(), atv.value.value()) {
                Some(utf8) => {
                    der::Any::new(der::Tag::Utf8String, utf8).map_err(|e| e.to_string())?
                }
                None => atv.value.clone(),
            };
            atvs.push(x509_cert::attr::AttributeTypeAndValue {
                oid: atv.oid,
                value,
            });
        }
        let set = der::asn1::SetOfVec::try_from(atvs).map_err(|e| e.to_string())?;
        set.encode_to_vec(&mut canon).map_err(|e| e.to_string())?;
    }
    let d = sha1(&canon);
    Ok(u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
}

/// `asn1_string_canon` (crypto/x509/x_name.c): `None` for types it copies as they are.
fn canon_string(tag: der::Tag, v: &[u8]) -> Option<Vec<u8>> {
    use der::Tag::*;
    let utf8: Vec<u8> = match tag {
        Utf8String | PrintableString | Ia5String | VisibleString => v.to_vec(),
        // T61String: OpenSSL reads each byte as Latin-1.
        TeletexString => v
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .into_bytes(),
        BmpString => {
            let units: Vec<u16> = v
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units).into_bytes()
        }
        Application { .. } | ContextSpecific { .. } | Private { .. } => return None,
        _ if u8::from(tag) == 0x1c => {
            // UniversalString: UCS-4 big-endian.
            v.chunks(4)
                .filter_map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<String>()
                .into_bytes()
        }
        _ => return None,
    };
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut from = &utf8[..];
    while let [b, rest @ ..] = from
        && space(*b)
    {
        from = rest;
    }
    while let [rest @ .., b] = from
        && space(*b)
    {
        from = rest;
    }
    let mut out = Vec::with_capacity(from.len());
    let mut i = 0;
    while i < from.len() {
        let b = from[i];
        if b >= 0x80 {
            out.push(b);
            i += 1;
        } else if space(b) {
            out.push(b' ');
            while i < from.len() && space(from[i]) {
                i += 1;
            }
        } else {
            out.push(b.to_ascii_lowercase());
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_link_names() {
        assert_eq!(hash_link_name("5ad8a5d6.0"), Some((0x5ad8a5d6, false, 0)));
        assert_eq!(hash_link_name("5ad8a5d6.r1"), Some((0x5ad8a5d6, true, 1)));
        assert_eq!(hash_link_name("ISRG_Root_X1.pem"), None);
    }

    #[test]
    fn canonical_strings() {
        assert_eq!(
            canon_string(der::Tag::PrintableString, b"  Foo   Bar "),
            Some(b"foo bar".to_vec())
        );
        assert_eq!(canon_string(der::Tag::OctetString, b"X"), None);
    }
}
