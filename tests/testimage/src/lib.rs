//! Building test images from real content: deterministic tar layers packed
//! as OCI layouts and docker archives, the way `docker save` and skopeo
//! lay them out, and Debian roots made from real `.deb`s.
//!
//! Test tooling only: rootwasm itself never builds images from scratch.

pub mod debian;
pub mod distros;

use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A layer: a tar (uncompressed) built from a directory or by hand.
pub struct Layer {
    pub tar: Vec<u8>,
}

impl Layer {
    /// Every file, directory and symlink under `dir`, sorted, owned by root, mtime 1.
    pub fn from_dir(dir: &Path) -> Layer {
        let mut b = tar::Builder::new(Vec::new());
        b.mode(tar::HeaderMode::Deterministic);
        b.follow_symlinks(false);
        let mut paths = Vec::new();
        fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
            let mut v: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            for p in v {
                out.push(p.clone());
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    walk(&p, out);
                }
            }
        }
        walk(dir, &mut paths);
        for p in paths {
            let rel = p.strip_prefix(dir).unwrap();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_mode(m.mode() & 0o7777);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1);
            if m.file_type().is_symlink() {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, rel, std::fs::read_link(&p).unwrap())
                    .unwrap();
            } else if m.is_dir() {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{}/", rel.display()), std::io::empty())
                    .unwrap();
            } else {
                let data = std::fs::read(&p).unwrap();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, rel, data.as_slice()).unwrap();
            }
        }
        Layer {
            tar: b.into_inner().unwrap(),
        }
    }

    /// A layer from raw (name, entry type, data/link) tuples, for crafted images.
    pub fn raw(entries: &[(&str, tar::EntryType, &[u8])]) -> Layer {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_entry_type(*kind);
            h.set_mode(if *kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_mtime(1);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    // Bypass the tar crate's path checks: crafted names are the point.
                    set_raw_name(&mut h, name);
                    set_raw_link(&mut h, std::str::from_utf8(data).unwrap());
                    h.set_cksum();
                    b.append(&h, std::io::empty()).unwrap();
                }
                _ => {
                    h.set_size(data.len() as u64);
                    set_raw_name(&mut h, name);
                    h.set_cksum();
                    b.append(&h, *data).unwrap();
                }
            }
        }
        Layer {
            tar: b.into_inner().unwrap(),
        }
    }

    pub fn diff_id(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.tar)))
    }

    pub fn gzip(&self) -> Vec<u8> {
        let mut e = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(&self.tar).unwrap();
        e.finish().unwrap()
    }
}

fn set_raw_name(h: &mut tar::Header, name: &str) {
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name = [0; 100];
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
}

fn set_raw_link(h: &mut tar::Header, link: &str) {
    let gnu = h.as_gnu_mut().unwrap();
    gnu.linkname = [0; 100];
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
}

/// Blob name -> bytes, plus the top-level documents, of an image being built.
pub struct Image {
    pub blobs: Vec<(String, Vec<u8>)>,
    pub manifest_digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

pub fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// A single-platform image: gzip layers, a config with entrypoint, env and labels.
pub fn image(layers: &[Layer], arch: &str) -> Image {
    image_with(layers, arch, Packing::Gzip)
}

/// How layers are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// tar+gzip
    Gzip,
    /// tar+zstd
    Zstd,
    /// plain tar
    Plain,
}

/// An image from ready-made gzip layer blobs and their diff_ids.
pub fn image_from_blobs(layers: &[(Vec<u8>, String)], arch: &str) -> Image {
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    let mut layer_digests = Vec::new();
    for (blob, _) in layers {
        let d = digest(blob);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": blob.len()}));
        layer_digests.push(d.clone());
        blobs.push((d, blob.clone()));
    }
    finish(
        blobs,
        descs,
        layer_digests,
        layers.iter().map(|(_, id)| id.clone()).collect(),
        arch,
    )
}

/// Like [`image`], with the layers compressed as `packing` says.
pub fn image_with(layers: &[Layer], arch: &str, packing: Packing) -> Image {
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    let mut layer_digests = Vec::new();
    for l in layers {
        let (media, blob) = match packing {
            Packing::Gzip => ("application/vnd.oci.image.layer.v1.tar+gzip", l.gzip()),
            Packing::Zstd => (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                zstd::encode_all(l.tar.as_slice(), 3).unwrap(),
            ),
            Packing::Plain => ("application/vnd.oci.image.layer.v1.tar", l.tar.clone()),
        };
        let d = digest(&blob);
        descs.push(serde_json::json!({"mediaType": media, "digest": d, "size": blob.len()}));
        layer_digests.push(d.clone());
        blobs.push((d, blob));
    }
    finish(
        blobs,
        descs,
        layer_digests,
        layers.iter().map(|l| l.diff_id()).collect(),
        arch,
    )
}

fn finish(
    mut blobs: Vec<(String, Vec<u8>)>,
    descs: Vec<serde_json::Value>,
    layer_digests: Vec<String>,
    diff_ids: Vec<String>,
    arch: &str,
) -> Image {
    let config = serde_json::json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": arch,
        "os": "linux",
        "config": {
            "Entrypoint": ["/usr/local/bin/python3", "-m", "app"],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Labels": {"org.example.team": "platform"},
            "WorkingDir": "/app",
            "Healthcheck": {"Test": ["CMD", "true"]}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| serde_json::json!({"created": "2024-01-02T03:04:05Z", "created_by": "test layer"})).collect::<Vec<_>>()
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = digest(&config);
    blobs.push((config_digest.clone(), config.clone()));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descs,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = digest(&manifest);
    blobs.push((manifest_digest.clone(), manifest.clone()));
    Image {
        blobs,
        manifest_digest,
        manifest,
        config_digest,
        layer_digests,
    }
}

/// Write an OCI layout with `images` (each: (image, platform arch)) under `tag`:
/// one image gives a plain manifest, several give an index.
pub fn write_layout(dir: &Path, images: &[(&Image, &str)], tag: &str) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    for (img, _) in images {
        for (d, b) in &img.blobs {
            std::fs::write(dir.join("blobs/sha256").join(&d[7..]), b).unwrap();
        }
    }
    let top = if images.len() == 1 {
        let img = images[0].0;
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": img.manifest_digest, "size": img.manifest.len(), "annotations": {"org.opencontainers.image.ref.name": tag}})
    } else {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": images.iter().map(|(img, arch)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": img.manifest_digest, "size": img.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"}
            })).collect::<Vec<_>>()
        });
        let bytes = serde_json::to_vec(&index).unwrap();
        let d = digest(&bytes);
        std::fs::write(dir.join("blobs/sha256").join(&d[7..]), &bytes).unwrap();
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": bytes.len(), "annotations": {"org.opencontainers.image.ref.name": tag}})
    };
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Write a legacy `docker save` archive (manifest.json, <hex>.json config, <hex>/layer.tar).
pub fn write_legacy_archive(path: &Path, img: &Image, layers: &[Layer], repo_tag: &str) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1);
        b.append_data(&mut h, name, data).unwrap();
    };
    let config = &img
        .blobs
        .iter()
        .find(|(d, _)| *d == img.config_digest)
        .unwrap()
        .1;
    let cfg_name = format!("{}.json", &img.config_digest[7..]);
    add(&cfg_name, config);
    let mut names = Vec::new();
    for l in layers {
        let n = format!("{}/layer.tar", &l.diff_id()[7..]);
        add(&n, &l.tar);
        names.push(n);
    }
    let manifest =
        serde_json::json!([{"Config": cfg_name, "RepoTags": [repo_tag], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap();
}
