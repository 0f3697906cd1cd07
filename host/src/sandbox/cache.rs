//! On-disk cache of compiled components.
//!
//! Loading precompiled machine code is `unsafe`: whoever wrote the file runs
//! native code in this process. So a precompiled file is loaded only from a
//! directory that passes [`private_dir`] (ours, mode 0700, reached through
//! directories only we or root can change), and only if its header binds it
//! to the wasm's sha256, this engine's compatibility hash and the sha256 of
//! the machine code that follows. Anything else is compiled afresh.
//!
//! Without `$ROOTWASM_CACHE_DIR`, `$XDG_CACHE_HOME` or `$HOME` there is no
//! cache: a shared temporary directory is never used, since anyone could
//! plant files there before us.

use crate::image::cache::{CacheDirError, private_dir, warn_once};
use crate::journal::Sha256Hex;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live.
#[derive(Clone, Debug)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// How a component was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// Compiled now (and stored).
    Compiled,
    /// Loaded from the cache.
    Hit,
}

/// First line of every cached file; the format version is in it.
const MAGIC: &str = "rootwasm-cwasm/2";

impl ComponentCache {
    /// A cache in `dir` (created on first use, mode 0700).
    pub fn new(dir: PathBuf) -> Self {
        ComponentCache { dir: Some(dir) }
    }

    /// No cache: every component is compiled.
    pub fn none() -> Self {
        ComponentCache { dir: None }
    }

    /// `$ROOTWASM_CACHE_DIR`, else `$XDG_CACHE_HOME/rootwasm`, else
    /// `~/.cache/rootwasm`; `None` without any of them.
    pub fn default_location() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("ROOTWASM_CACHE_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| Path::new(&h).join(".cache"))
            })?;
        Some(base.join("rootwasm"))
    }

    /// The cache for `dir`, or the default location; `None` means no cache.
    pub fn at(dir: Option<PathBuf>) -> Self {
        match dir.or_else(Self::default_location) {
            Some(d) => ComponentCache::new(d),
            None => ComponentCache::none(),
        }
    }

    /// The directory, if there is one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn engine_hash(engine: &Engine) -> String {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// The directory of compiled files, if it is safe to use.
    fn usable(&self) -> Option<PathBuf> {
        let Some(dir) = &self.dir else {
            warn_once(&CacheDirError::no_location());
            return None;
        };
        let components = dir.join("components");
        match private_dir(dir).and_then(|()| private_dir(&components)) {
            Ok(()) => Some(components),
            Err(e) => {
                warn_once(&e);
                None
            }
        }
    }

    /// The compiled component for `wasm` (whose sha256 the caller verified).
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
    ) -> wasmtime::Result<(Component, CacheUse)> {
        let actual = Sha256Hex::of(wasm);
        if actual.as_str() != wasm_sha256.to_ascii_lowercase() {
            wasmtime::bail!("component sha256 is {actual}, expected {wasm_sha256}");
        }
        let engine_hash = Self::engine_hash(engine);
        let path = self
            .usable()
            .map(|d| d.join(format!("{}-{engine_hash}.cwasm", actual.as_str())));
        if let Some(path) = &path
            && let Ok(bytes) = std::fs::read(path)
            && let Some(code) = verified_code(&bytes, actual.as_str(), &engine_hash)
        {
            // SAFETY: the file is in a directory only we can write (checked
            // by `usable`), and its header binds these exact bytes (by
            // sha256) to this wasm and this engine's configuration.
            if let Ok(c) = unsafe { Component::deserialize(engine, code) } {
                return Ok((c, CacheUse::Hit));
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Some(path) = &path {
            // A cache that cannot be written only costs time.
            let code = component.serialize()?;
            let _ = store(path, &header(actual.as_str(), &engine_hash, &code), &code);
        }
        Ok((component, CacheUse::Compiled))
    }
}

fn header(wasm_sha256: &str, engine_hash: &str, code: &[u8]) -> String {
    format!(
        "{MAGIC}\nwasm-sha256 {wasm_sha256}\nengine {engine_hash}\ncode-sha256 {}\n\n",
        Sha256Hex::of(code)
    )
}

/// The machine code in `bytes`, if its header names this wasm and engine and its hash matches.
fn verified_code<'a>(bytes: &'a [u8], wasm_sha256: &str, engine_hash: &str) -> Option<&'a [u8]> {
    let end = bytes.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(&bytes[..end + 2]).ok()?;
    let code = &bytes[end + 2..];
    (head == header(wasm_sha256, engine_hash, code)).then_some(code)
}

fn store(path: &Path, header: &str, code: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache path has a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, header.as_bytes())?;
    std::io::Write::write_all(&mut tmp, code)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_binds_wasm_engine_and_code() {
        let code = b"\x7fELF machine code";
        let mut file = header("aa", "e1", code).into_bytes();
        file.extend_from_slice(code);
        assert_eq!(verified_code(&file, "aa", "e1"), Some(&code[..]));
        assert_eq!(verified_code(&file, "bb", "e1"), None, "another wasm");
        assert_eq!(verified_code(&file, "aa", "e2"), None, "another engine");
        let mut swapped = file.clone();
        *swapped.last_mut().unwrap() ^= 1;
        assert_eq!(verified_code(&swapped, "aa", "e1"), None, "other code");
        assert_eq!(verified_code(code, "aa", "e1"), None, "no header");
    }
}
