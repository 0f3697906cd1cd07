//! On-disk cache of compiled components.
//!
//! Loading precompiled machine code is `unsafe`: whoever wrote the file runs
//! native code in this process. So the only precompiled files ever loaded are
//! the ones this module wrote, in a directory it created with mode 0700, named
//! by the wasm's sha256 and the engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live.
#[derive(Clone, Debug)]
pub struct ComponentCache {
    dir: PathBuf,
}

/// How a component was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// Compiled now (and stored).
    Compiled,
    /// Loaded from the cache.
    Hit,
}

impl ComponentCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: PathBuf) -> Self {
        ComponentCache { dir }
    }

    /// `$ROOTWASM_CACHE_DIR`, else `$XDG_CACHE_HOME/rootwasm`, else `~/.cache/rootwasm`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("ROOTWASM_CACHE_DIR") {
            return PathBuf::from(d);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("rootwasm")
    }

    fn path_for(&self, engine: &Engine, wasm_sha256: &str) -> PathBuf {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir
            .join("components")
            .join(format!("{wasm_sha256}-{:016x}.cwasm", h.finish()))
    }

    /// The compiled component for `wasm` (whose sha256 the caller verified).
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
    ) -> wasmtime::Result<(Component, CacheUse)> {
        let path = self.path_for(engine, wasm_sha256);
        if path.is_file() {
            // SAFETY: the file is in our own cache directory, written by
            // `store` below from a component this engine compiled; the name
            // binds it to the wasm's hash and this engine's configuration.
            if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((c, CacheUse::Hit));
            }
        }
        let component = Component::new(engine, wasm)?;
        // A cache that cannot be written only costs time.
        let _ = self.store(&path, &component.serialize()?);
        Ok((component, CacheUse::Compiled))
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = path.parent().expect("cache path has a parent");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}
