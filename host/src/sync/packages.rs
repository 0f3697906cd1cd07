//! `Packages` indexes, checked against their Release's SHA256 before they
//! are decompressed, and `.deb` downloads checked against their index's.

use super::SyncError;
use super::fetch::Repo;
use super::release::Release;
use sha2::{Digest, Sha256};
use std::io::Read;

/// The largest index read, compressed or not (Debian's main amd64
/// `Packages` is about 45 MiB unpacked).
const MAX_INDEX: u64 = 512 << 20;

/// The largest `.deb` downloaded.
pub const MAX_DEB: u64 = 1 << 30;

/// One binary package a repository offers.
#[derive(Clone, Debug)]
pub struct Offer {
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Architecture` (`all` included).
    pub arch: String,
    /// Source package name.
    pub source: String,
    /// Source version (the binary's unless `Source: name (version)` says otherwise).
    pub source_version: String,
    /// `Filename`, relative to the repository root.
    pub filename: String,
    /// `SHA256`.
    pub sha256: String,
    /// `Size`.
    pub size: u64,
    /// The suite it came from.
    pub suite: String,
    /// Index into the repositories given.
    pub repo: usize,
}

/// Bytes whose SHA256 and size must be `want`; the error names `place`.
pub fn check_hash(place: &str, bytes: &[u8], sha256: &str, size: u64) -> Result<(), SyncError> {
    let got = hex::encode(Sha256::digest(bytes));
    if got != sha256 || bytes.len() as u64 != size {
        return Err(SyncError::Hash {
            place: place.to_owned(),
            want: format!("sha256 {sha256}, {size} bytes"),
            got: format!("sha256 {got}, {} bytes", bytes.len()),
        });
    }
    Ok(())
}

/// Every package in `release`'s `Packages` indexes for `archs`.
pub fn offers(
    repo: &Repo,
    ri: usize,
    release: &Release,
    archs: &[String],
) -> Result<Vec<Offer>, SyncError> {
    let mut out = Vec::new();
    for comp in &release.components {
        for arch in archs.iter().filter(|a| release.architectures.contains(a)) {
            let stem = format!("{comp}/binary-{arch}/Packages");
            let listed: Vec<(String, (String, u64))> = [".xz", ".gz", ""]
                .iter()
                .map(|ext| format!("{stem}{ext}"))
                .filter_map(|n| release.sha256.get(&n).map(|h| (n, h.clone())))
                .collect();
            if listed.is_empty() {
                continue;
            }
            // The first variant present (a mirror, or apt's lists, may keep only one).
            let mut found = None;
            for (name, hash) in &listed {
                let rel = format!("{}/{name}", release.base);
                if let Some(raw) = repo.get(&rel, MAX_INDEX)? {
                    found = Some((name.clone(), hash.clone(), repo.place(&rel), raw));
                    break;
                }
            }
            let (name, (sha, size), place, raw) = found.ok_or_else(|| SyncError::Fetch {
                place: repo.place(&format!("{}/{stem}", release.base)),
                reason: "listed in Release, but no variant (.xz, .gz, plain) is there".into(),
            })?;
            check_hash(&place, &raw, &sha, size)?;
            let text =
                unpack(&name, &raw).map_err(|e| SyncError::Invalid(format!("{place}: {e}")))?;
            parse(&text, &release.codename, ri, &mut out)
                .map_err(|e| SyncError::Invalid(format!("{place}: {e}")))?;
        }
    }
    Ok(out)
}

fn unpack(name: &str, raw: &[u8]) -> Result<String, String> {
    let mut out = Vec::new();
    if name.ends_with(".xz") {
        lzma_rs::xz_decompress(&mut std::io::BufReader::new(raw), &mut out)
            .map_err(|e| format!("xz: {e}"))?;
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(raw)
            .take(MAX_INDEX + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
    } else {
        out = raw.to_vec();
    }
    if out.len() as u64 > MAX_INDEX {
        return Err(format!("more than {MAX_INDEX} bytes unpacked"));
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 text".into())
}

fn parse(text: &str, suite: &str, repo: usize, out: &mut Vec<Offer>) -> Result<(), String> {
    for s in rootwasm_deb::Stanza::parse_all(text).map_err(|e| e.to_string())? {
        let field = |f: &str| s.get(f).map(|v| v.trim().to_owned());
        let (Some(package), Some(version), Some(arch), Some(filename), Some(sha256), Some(size)) = (
            field("Package"),
            field("Version"),
            field("Architecture"),
            field("Filename"),
            field("SHA256"),
            field("Size").and_then(|v| v.parse().ok()),
        ) else {
            continue;
        };
        let src = field("Source").unwrap_or_else(|| package.clone());
        let mut words = src.split_whitespace();
        let source = words.next().unwrap_or(&package).to_owned();
        let source_version = words
            .next()
            .map(|v| v.trim_matches(|c| c == '(' || c == ')').to_owned())
            .unwrap_or_else(|| version.clone());
        out.push(Offer {
            package,
            version,
            arch,
            source,
            source_version,
            filename,
            sha256: sha256.to_ascii_lowercase(),
            size,
            suite: suite.to_owned(),
            repo,
        });
    }
    Ok(())
}
