//! Installed Python distributions: `*.dist-info/RECORD` and `METADATA`.
//!
//! pip records every installed file in RECORD as `path,sha256=<urlsafe
//! base64, no padding>,size` (PEP 376 / PEP 627); `pip check`-style tools and
//! SBOM scanners compare it with the files. A backport that changes a file
//! must update its row, or the package looks tampered with.

use crate::context::Context;
use crate::types::{Error, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The RECORD hash of `bytes`: `sha256=` and url-safe base64 without padding.
pub fn record_hash(bytes: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
    )
}

/// The `Version:` of a dist-info's METADATA, if present.
pub fn dist_version(cx: &mut Context<'_>, dist_info: &str) -> Result<Option<String>> {
    let text = cx.read_to_string(&format!("{dist_info}/METADATA"))?;
    Ok(text
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_owned()))
}

/// A parsed RECORD file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    path: String,
    site: String,
    rows: Vec<Vec<String>>,
    crlf: bool,
}

impl Record {
    /// Read `<dist_info>/RECORD`. Paths in it are relative to the directory holding `dist_info`.
    pub fn load(cx: &mut Context<'_>, dist_info: &str) -> Result<Self> {
        let dist_info = dist_info.trim_end_matches('/');
        let path = format!("{dist_info}/RECORD");
        let text = cx.read(&path)?;
        let crlf = text.windows(2).any(|w| w == b"\r\n");
        let mut rows = Vec::new();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_slice());
        for r in rdr.records() {
            let r = r.map_err(|e| Error::msg(format!("{path}: {e}")))?;
            rows.push(r.iter().map(str::to_owned).collect());
        }
        let site = dist_info
            .rsplit_once('/')
            .map_or("/", |(s, _)| if s.is_empty() { "/" } else { s })
            .to_owned();
        Ok(Record {
            path,
            site,
            rows,
            crlf,
        })
    }

    /// The rootfs path a RECORD row names.
    pub fn resolve(&self, rel: &str) -> String {
        format!("{}/{rel}", self.site.trim_end_matches('/'))
    }

    fn relative(&self, path: &str) -> Result<String> {
        let prefix = format!("{}/", self.site.trim_end_matches('/'));
        path.strip_prefix(&prefix)
            .map(str::to_owned)
            .ok_or_else(|| Error::msg(format!("{path} is not under {}", self.site)))
    }

    /// Rows as (path, hash, size) strings.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.rows.iter().map(|r| {
            let f = |i: usize| r.get(i).map_or("", String::as_str);
            (f(0), f(1), f(2))
        })
    }

    /// Recompute the hash and size of `path`'s row from its current contents.
    pub fn refresh(&mut self, cx: &mut Context<'_>, path: &str) -> Result<()> {
        let rel = self.relative(path)?;
        let bytes = cx.read(path)?;
        let row = self
            .rows
            .iter_mut()
            .find(|r| r.first() == Some(&rel))
            .ok_or_else(|| Error::msg(format!("{}: no row for {rel}", self.path)))?;
        *row = vec![rel, record_hash(&bytes), bytes.len().to_string()];
        Ok(())
    }

    /// Drop `path`'s row (for a file the recipe removed). Returns whether there was one.
    pub fn remove(&mut self, path: &str) -> Result<bool> {
        let rel = self.relative(path)?;
        let before = self.rows.len();
        self.rows.retain(|r| r.first() != Some(&rel));
        Ok(self.rows.len() != before)
    }

    /// Rows whose hash or size does not match the file.
    pub fn mismatches(&self, cx: &mut Context<'_>) -> Result<Vec<String>> {
        let mut bad = Vec::new();
        for (rel, hash, size) in self.rows() {
            if hash.is_empty() {
                continue;
            }
            let bytes = cx.read(&self.resolve(rel))?;
            if record_hash(&bytes) != hash || bytes.len().to_string() != size {
                bad.push(rel.to_owned());
            }
        }
        Ok(bad)
    }

    /// Write RECORD back, in pip's CSV dialect and line endings, keeping its mode.
    pub fn save(&self, cx: &mut Context<'_>) -> Result<()> {
        let term = if self.crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        };
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .terminator(term)
            .from_writer(Vec::new());
        for r in &self.rows {
            w.write_record(r)
                .map_err(|e| Error::msg(format!("{}: {e}", self.path)))?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| Error::msg(format!("{}: {e}", self.path)))?;
        let mode = cx.stat(&self.path)?.map_or(0o644, |m| m.mode);
        cx.write_file(&self.path, &bytes, mode)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_urlsafe_unpadded() {
        // The RECORD hash of an empty file, as pip writes it.
        assert_eq!(
            record_hash(b""),
            "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }
}
