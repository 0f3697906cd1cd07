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
}

impl Reference {
    /// A short name for documents and purls: the layout directory's name
    /// and tag, or the archive's first repo tag (else its file stem).
    pub fn short_name(&self, repo_tags: &[String]) -> String {
        let stem = |p: &std::path::Path| {
            p.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into())
        };
        match self {
            Reference::OciLayout { dir, tag } => {
                let base = stem(dir);
                tag.as_ref().map_or(base.clone(), |t| format!("{base}:{t}"))
            }
            Reference::DockerArchive { path, .. } => {
                repo_tags.first().cloned().unwrap_or_else(|| {
                    path.file_stem()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "image".into())
                })
            }
        }
    }

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
        } else {
            Err(err(
                "unknown transport: use oci:<dir>[:<tag>] or docker-archive:<file> (skopeo's syntax)",
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
        }
    }

    /// The filesystem path it names.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Reference::OciLayout { dir, .. } => dir,
            Reference::DockerArchive { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(Reference::parse("docker://x").is_err());
        assert!(Reference::parse("oci:").is_err());
    }
}
