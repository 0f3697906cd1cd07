//! The image's dpkg packages, with the file list and changelog of each
//! installed version (read from the image, never run).

use super::Have;
use crate::image::error::ImageError;
use crate::image::merge::Merged;
use crate::image::source::Source;
use crate::image::view::{Capture, Docs, ReadOptions, load_docs, platforms, read_layers};
use crate::rootfs::{RootPath, RootView};
use crate::version::Ecosystem;

/// The largest `.list` or changelog read from an image.
const MAX_FILE: usize = 64 << 20;

/// The image's codename (from os-release) and its dpkg packages, over
/// every platform (a package on two platforms counts once per architecture).
pub fn read(source: &Source, read: &ReadOptions<'_>) -> Result<(String, Vec<Have>), ImageError> {
    let store = source.store.as_ref();
    let capture = Capture::new(crate::inventory::FILES.iter().copied().chain([
        "/var/lib/dpkg/info/*.list",
        "/usr/share/doc/*/changelog.Debian.gz",
    ]))
    .expect("valid patterns");
    let mut codename = String::new();
    let mut out: Vec<Have> = Vec::new();
    for (_, desc) in platforms(store, &source.top)? {
        let Docs {
            manifest, diff_ids, ..
        } = load_docs(store, &desc)?;
        let mut merged = Merged::with_limits(read.limits);
        read_layers(
            store,
            &manifest.layers,
            &diff_ids,
            0,
            &capture,
            &mut merged,
            read,
        )?;
        let inv = crate::inventory::inventory(&merged);
        if let Some(os) = &inv.os {
            codename = os.codename.clone();
        }
        for p in inv
            .packages
            .iter()
            .filter(|p| p.ecosystem == Ecosystem::Deb)
        {
            let arch = p.arch.clone().unwrap_or_else(|| "all".into());
            if out.iter().any(|h| h.name == p.name && h.arch == arch) {
                continue;
            }
            let list = file(
                &merged,
                &format!("/var/lib/dpkg/info/{}:{arch}.list", p.name),
            )
            .or_else(|| file(&merged, &format!("/var/lib/dpkg/info/{}.list", p.name)))
            .and_then(|b| String::from_utf8(b).ok())
            .map(|t| {
                t.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
            let changelog = file(
                &merged,
                &format!("/usr/share/doc/{}/changelog.Debian.gz", p.name),
            )
            .and_then(|b| crate::recipe_new::gunzip_text(&b).ok());
            out.push(Have {
                name: p.name.clone(),
                arch,
                version: p.version.clone(),
                list,
                changelog,
            });
        }
    }
    Ok((codename, out))
}

/// A regular file's bytes, if present and not too large.
fn file(view: &Merged, path: &str) -> Option<Vec<u8>> {
    let p = RootPath::lexical(path).ok()?;
    let meta = view.lstat(&p).ok()??;
    if meta.kind != crate::rootfs::Kind::File || meta.size as usize > MAX_FILE {
        return None;
    }
    view.read(&p).ok()
}
