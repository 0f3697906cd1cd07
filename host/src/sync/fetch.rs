//! Reading a repository: a local mirror directory or an `http(s)://` URL,
//! every read bounded. Nothing read here is trusted until its signature or
//! hash is checked (`release`, `packages`).

use super::SyncError;
use std::io::Read;
use std::path::PathBuf;

/// Where a repository is.
#[derive(Clone, Debug)]
pub enum Repo {
    /// A directory holding `dists/` and `pool/`.
    Dir(PathBuf),
    /// An HTTP(S) base URL (no trailing slash).
    Http(String, ureq::Agent),
}

impl Repo {
    /// `http(s)://…` or a directory.
    pub fn parse(s: &str) -> Result<Repo, SyncError> {
        if s.starts_with("http://") || s.starts_with("https://") {
            let agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(600)))
                .build()
                .new_agent();
            return Ok(Repo::Http(s.trim_end_matches('/').to_owned(), agent));
        }
        let dir = PathBuf::from(s);
        if !dir.is_dir() {
            return Err(SyncError::Invalid(format!(
                "--repo {s}: not a directory or an http(s):// URL"
            )));
        }
        Ok(Repo::Dir(dir))
    }

    /// The place `rel` names, for messages.
    pub fn place(&self, rel: &str) -> String {
        match self {
            Repo::Dir(d) => d.join(rel).display().to_string(),
            Repo::Http(u, _) => format!("{u}/{rel}"),
        }
    }

    /// `rel`'s bytes, at most `max`; `None` when it does not exist.
    pub fn get(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, SyncError> {
        // Index paths come from signed files, but never let one climb out.
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(SyncError::Invalid(format!(
                "{}: a path with an empty or `..` component",
                self.place(rel)
            )));
        }
        let fail = |reason: String| SyncError::Fetch {
            place: self.place(rel),
            reason,
        };
        let mut out = Vec::new();
        match self {
            Repo::Dir(d) => {
                let f = match std::fs::File::open(d.join(rel)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(fail(e.to_string())),
                };
                f.take(max + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| fail(e.to_string()))?;
            }
            Repo::Http(base, agent) => {
                // Pool names may hold `%` (`bsdutils_1%3a2.38.1-…`, an epoch
                // as apt-get download names it): each segment is encoded.
                const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                    .remove(b'-')
                    .remove(b'.')
                    .remove(b'_')
                    .remove(b'~');
                let path: Vec<String> = rel
                    .split('/')
                    .map(|c| percent_encoding::utf8_percent_encode(c, SET).to_string())
                    .collect();
                let mut resp = agent
                    .get(&format!("{base}/{}", path.join("/")))
                    .call()
                    .map_err(|e| fail(e.to_string()))?;
                match resp.status().as_u16() {
                    200 => {}
                    404 | 410 => return Ok(None),
                    s => return Err(fail(format!("HTTP status {s}"))),
                }
                resp.body_mut()
                    .as_reader()
                    .take(max + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        if out.len() as u64 > max {
            return Err(fail(format!("larger than {max} bytes")));
        }
        Ok(Some(out))
    }
}
