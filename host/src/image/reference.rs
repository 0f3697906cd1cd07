//! Image references in skopeo's transport syntax.

use super::error::ImageError;
use std::path::PathBuf;

/// Where an image lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// `oci:<dir>[:<tag>]`: an OCI image layout.
    OciLayout {
        /// The layout directory.
        dir: PathBuf,
        /// The `org.opencontainers.image.ref.name` to pick or write.
        tag: Option<String>,
    },
    /// `docker-archive:<file>[:<name:tag>]`: `docker save` output.
    DockerArchive {
        /// The tar file.
        path: PathBuf,
        /// A repo tag to write (output) or pick (input).
        tag: Option<String>,
    },
    /// `docker://<registry>/<repository>[:<tag>|@<digest>]`: an image in a
    /// registry (OCI distribution API). A name without a registry is Docker
    /// Hub's (`docker://alpine` is `docker.io/library/alpine:latest`).
    Registry(super::registry::RegistryRef),
}

impl Reference {
    /// Parse `oci:...` or `docker-archive:...`.
    pub fn parse(s: &str) -> Result<Self, ImageError> {
        let err = |reason: &str| ImageError::Reference {
            reference: s.into(),
            reason: reason.into(),
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            // The tag is after the last ':' unless that ':' is part of the path (a '/' follows it).
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') && !d.is_empty() => (d, Some(t.to_owned())),
                _ => (rest, None),
            };
            if dir.is_empty() {
                return Err(err("missing directory: use oci:<dir>[:<tag>]"));
            }
            if tag.as_deref() == Some("") {
                return Err(err("empty tag after ':'"));
            }
            Ok(Reference::OciLayout {
                dir: dir.into(),
                tag,
            })
        } else if let Some(rest) = s.strip_prefix("docker-archive:") {
            // docker-archive:<path>[:<name>:<tag>]; a name:tag contains one more ':'.
            let parts: Vec<&str> = rest.splitn(2, ':').collect();
            let (path, tag) = match parts.as_slice() {
                [p] => (*p, None),
                [p, t] => (*p, Some((*t).to_owned())),
                _ => unreachable!(),
            };
            if path.is_empty() {
                return Err(err("missing file: use docker-archive:<file>"));
            }
            Ok(Reference::DockerArchive {
                path: path.into(),
                tag,
            })
        } else if let Some(rest) = s.strip_prefix("docker://") {
            super::registry::RegistryRef::parse(rest)
                .map(Reference::Registry)
                .map_err(|reason| err(&reason))
        } else {
            Err(err(
                "unknown transport: use oci:<dir>[:<tag>], docker-archive:<file> or docker://<registry>/<repo>:<tag> (skopeo's syntax)",
            ))
        }
    }

    /// A short name for annotations and messages.
    pub fn name(&self) -> String {
        match self {
            Reference::OciLayout { dir, tag } => {
                format!(
                    "oci:{}{}",
                    dir.display(),
                    tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default()
                )
            }
            Reference::DockerArchive { path, tag } => {
                format!(
                    "docker-archive:{}{}",
                    path.display(),
                    tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default()
                )
            }
            Reference::Registry(r) => format!("docker://{r}"),
        }
    }

    /// The filesystem path it names (none for a registry).
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Reference::OciLayout { dir, .. } => Some(dir),
            Reference::DockerArchive { path, .. } => Some(path),
            Reference::Registry(_) => None,
        }
    }
}

/// The image's own name, as the image itself states it: an OCI layout
/// entry's `org.opencontainers.image.ref.name` when that is a reference
/// (`registry/repo:tag`, `repo:tag`, `repo@digest`) rather than a bare tag,
/// else a docker archive's first repo tag. Never a local path: this is what
/// goes into output annotations and evidence, which must not depend on where
/// the input was read from.
pub fn own_name(top: &super::model::Descriptor, repo_tags: &[String]) -> Option<String> {
    let is_reference = |n: &str| n.contains([':', '/', '@']);
    top.annotation(super::model::ANNOTATION_REF_NAME)
        .filter(|n| is_reference(n))
        .map(str::to_owned)
        .or_else(|| repo_tags.first().cloned())
}

/// A short name for documents and purls: the last path element of the
/// image's own name, without tag or digest (`registry/acme/app:1.0` gives
/// `app`), or `image` for an image that states no name.
pub fn short_name(own_name: Option<&str>) -> String {
    own_name
        .map(|n| n.split('@').next().unwrap_or(n))
        .map(|n| n.rsplit('/').next().unwrap_or(n))
        .map(|n| n.split(':').next().unwrap_or(n))
        .filter(|n| !n.is_empty())
        .unwrap_or("image")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_name_is_never_a_bare_tag_or_a_path() {
        use crate::image::model::*;
        let mut d = Descriptor::for_bytes(MEDIA_MANIFEST, b"{}");
        assert_eq!(own_name(&d, &[]), None);
        d.annotations = Some([(ANNOTATION_REF_NAME.to_owned(), "v1".to_owned())].into());
        assert_eq!(own_name(&d, &[]), None, "a bare tag is not a name");
        assert_eq!(own_name(&d, &["img:1".into()]).as_deref(), Some("img:1"));
        d.annotations = Some(
            [(
                ANNOTATION_REF_NAME.to_owned(),
                "docker.io/library/alpine:3.19".to_owned(),
            )]
            .into(),
        );
        assert_eq!(
            own_name(&d, &[]).as_deref(),
            Some("docker.io/library/alpine:3.19")
        );
        assert_eq!(short_name(Some("docker.io/library/alpine:3.19")), "alpine");
        assert_eq!(short_name(Some("app@sha256:00")), "app");
        assert_eq!(short_name(None), "image");
    }

    #[test]
    fn parses_skopeo_syntax() {
        assert_eq!(
            Reference::parse("oci:/tmp/x:latest").unwrap(),
            Reference::OciLayout {
                dir: "/tmp/x".into(),
                tag: Some("latest".into())
            }
        );
        assert_eq!(
            Reference::parse("oci:out").unwrap(),
            Reference::OciLayout {
                dir: "out".into(),
                tag: None
            }
        );
        assert_eq!(
            Reference::parse("docker-archive:a.tar:img:1").unwrap(),
            Reference::DockerArchive {
                path: "a.tar".into(),
                tag: Some("img:1".into())
            }
        );
        let Reference::Registry(r) =
            Reference::parse("docker://127.0.0.1:5000/acme/app:1.0").unwrap()
        else {
            panic!("not a registry reference")
        };
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("127.0.0.1:5000", "acme/app", Some("1.0"))
        );
        assert_eq!(
            Reference::parse("docker://alpine").unwrap().name(),
            "docker://docker.io/library/alpine:latest"
        );
        assert!(Reference::parse("docker://").is_err());
        assert!(Reference::parse("docker://127.0.0.1:5000/Acme/app").is_err());
        assert!(Reference::parse("oci:").is_err());
    }
}
