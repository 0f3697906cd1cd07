//! The input's layers copied into a new OCI layout's staging directory on a
//! background thread while the recipes run, so that writing the layout at
//! the end only adds what is new. Copying an 83 MB base layer (re-hashed on
//! the way, as [`super::sink`] does) was a tenth of a warm apply.
//!
//! Only a saving: a blob the thread did not finish, or could not copy, is
//! copied by [`super::sink`] as before, and one the output does not use is
//! removed before the layout is renamed into place. Dropped unused (a
//! failed apply), it stops the thread (between two 64 KiB reads) and
//! removes the staging directory. A process killed meanwhile leaves it, a
//! `.rootwasm-out-*` directory beside the destination, as a kill during the
//! final write always could.

use super::model::{Descriptor, Digest, Index, Manifest, is_manifest};
use super::reference::Reference;
use super::source::{BlobStore, Top};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{Scope, ScopedJoinHandle};

/// A staging directory being filled with the input's layers.
pub struct Prestage<'scope> {
    dest: PathBuf,
    staging: Option<tempfile::TempDir>,
    stop: Arc<AtomicBool>,
    worker: Option<ScopedJoinHandle<'scope, BTreeSet<Digest>>>,
}

/// A staging directory with the blobs copied into it, for the sink.
pub(crate) struct Staged {
    pub dest: PathBuf,
    pub staging: tempfile::TempDir,
    /// Blobs copied and checked against their digest and size.
    pub done: BTreeSet<Digest>,
}

impl<'scope> Prestage<'scope> {
    /// Start copying the layers of `top` from `input`, if `output` is a new
    /// OCI layout (`sink::check_destination` has passed) and `input` is a
    /// layout or an archive. `None` otherwise, or if the staging directory
    /// cannot be made (the sink then says why).
    pub fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        output: &Reference,
        input: &'env dyn BlobStore,
        top: &Top,
    ) -> Option<Self> {
        let Reference::OciLayout { dir, .. } = output else {
            return None;
        };
        // A registry's blobs are spooled on first open: two threads opening
        // one blob would download it twice into one file.
        if input.registry().is_some() {
            return None;
        }
        if super::sink::existing_index(dir).ok()?.is_some() {
            return None;
        }
        // Into an existing directory only: a failed apply must not leave
        // new parent directories behind (the sink makes them at the end).
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return None;
        }
        let staging = super::sink::staging_dir(parent).ok()?;
        let blobs = staging.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).ok()?;
        let layers = layers(input, top);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let worker = scope.spawn(move || {
            let mut done = BTreeSet::new();
            for (digest, size) in layers {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let path = blobs.join(digest.hex());
                let copied = super::sink::copy_blob(input, &digest, size, &blobs, &path, &|| {
                    stopped.load(Ordering::Relaxed)
                });
                if copied.is_ok() {
                    done.insert(digest);
                }
            }
            done
        });
        Some(Prestage {
            dest: dir.clone(),
            staging: Some(staging),
            stop,
            worker: Some(worker),
        })
    }

    /// Wait for the thread; the staging directory and what it copied.
    pub(crate) fn finish(mut self) -> Staged {
        let done = (self.worker.take())
            .and_then(|w| w.join().ok())
            .unwrap_or_default();
        Staged {
            dest: self.dest.clone(),
            staging: self.staging.take().expect("taken only here"),
            done,
        }
    }
}

impl Drop for Prestage<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The layers of every platform manifest under `top`, each once, in order.
/// Best effort: what cannot be read here is left to the apply, which
/// reports it.
fn layers(input: &dyn BlobStore, top: &Top) -> Vec<(Digest, u64)> {
    let manifest = |d: &Descriptor| -> Option<Manifest> {
        serde_json::from_slice(&input.read(d, "manifest").ok()?).ok()
    };
    let manifests: Vec<Manifest> = match top {
        Top::Manifest(d) => manifest(d).into_iter().collect(),
        Top::Index(d) => input
            .read(d, "image index")
            .ok()
            .and_then(|b| serde_json::from_slice::<Index>(&b).ok())
            .map(|i| {
                (i.manifests.iter())
                    .filter(|c| is_manifest(&c.media_type))
                    .filter_map(manifest)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut seen = BTreeSet::new();
    manifests
        .iter()
        .flat_map(|m| &m.layers)
        .filter(|l| seen.insert(l.digest.clone()))
        .map(|l| (l.digest.clone(), l.size))
        .collect()
}
