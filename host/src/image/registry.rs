//! Registries (`docker://`) in and out, through the ORAS project's OCI
//! distribution client (`oci-client`, rustls with the system's roots plus
//! `--cert-dir`). Its async API runs on a current-thread tokio runtime
//! owned here, so the rest of `image/` stays synchronous.
//!
//! Reading: [`open`] resolves the reference to its manifest or index; the
//! [`RegistryStore`] then serves documents from memory and spools blobs to a
//! private temporary directory (every reader still verifies digests).
//!
//! Writing: [`push`] sends children before parents — blobs (skipped when the
//! destination has them, mounted across repositories of the same registry),
//! then manifests by digest, then the evidence's tags, and the destination
//! tag **last**: a failure anywhere leaves the tag as it was.

use super::credentials;
use super::error::ImageError;
use super::model::*;
use super::sink::{Blob, OutputImage};
use super::source::{BlobStore, MAX_DOCUMENT};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference as OciRef, RegistryOperation};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Manifest media types rootwasm asks a registry for.
const ACCEPT: &[&str] = &[
    MEDIA_MANIFEST,
    MEDIA_INDEX,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_DOCKER_LIST,
];

/// An image in a registry: `registry/repository` with a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl RegistryRef {
    /// Parse what follows `docker://`, normalised as docker does
    /// (`alpine` is `docker.io/library/alpine:latest`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let hint = "use docker://<registry>/<repository>[:<tag>|@sha256:<hex>]";
        if s.is_empty() {
            return Err(format!("missing image name: {hint}"));
        }
        let r: OciRef = s.parse().map_err(|e| format!("{e}: {hint}"))?;
        let tag = r.tag().map(str::to_owned);
        let digest = r.digest().map(str::to_owned);
        Ok(RegistryRef {
            registry: r.registry().to_owned(),
            repository: r.repository().to_owned(),
            tag: if tag.is_none() && digest.is_none() {
                Some("latest".into())
            } else {
                tag
            },
            digest,
        })
    }

    /// `host[:port]`, e.g. `ghcr.io` or `docker.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository, e.g. `acme/app` or `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference names one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference names one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `registry/repository`: where scanners say the image is published.
    pub fn repository_url(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    fn oci(&self) -> OciRef {
        match (&self.digest, &self.tag) {
            (Some(d), _) => self.at_digest(d),
            (None, t) => self.at_tag(t.as_deref().unwrap_or("latest")),
        }
    }

    fn at_digest(&self, digest: &str) -> OciRef {
        OciRef::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.into(),
        )
    }

    fn at_tag(&self, tag: &str) -> OciRef {
        OciRef::with_tag(self.registry.clone(), self.repository.clone(), tag.into())
    }
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// How to reach registries: skopeo's `--creds`, `--cert-dir` and `--tls-verify`.
#[derive(Clone, Default)]
pub struct RegistryOptions {
    /// `user:password`; else the auth files and credential helpers.
    pub creds: Option<String>,
    /// CA certificates (`*.crt`) to trust besides the system's.
    pub cert_dir: Option<PathBuf>,
    /// Skip TLS certificate and hostname checks (`--tls-verify=false`).
    pub insecure: bool,
}

/// A client for one set of options, with its runtime.
pub struct Registry {
    rt: tokio::runtime::Runtime,
    client: Client,
    opts: RegistryOptions,
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// A registry failure as an [`ImageError`] that says what to do next.
fn failed(r: &RegistryRef, what: &str, e: &OciDistributionError) -> ImageError {
    use OciDistributionError as E;
    let detail = chain(e);
    let status = match e {
        E::ServerError { code, .. } => Some(*code),
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => Some(401),
        E::ImageManifestNotFoundError(_) => Some(404),
        _ => None,
    };
    let codes = match e {
        E::RegistryError { envelope, .. } => format!("{envelope:?}"),
        _ => String::new(),
    };
    let hint = if status == Some(401) || codes.contains("Unauthorized") || codes.contains("Denied")
    {
        format!(
            "authentication failed: check --creds, or the credentials for {} in {}",
            r.registry,
            credentials::auth_files()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else if status == Some(404) || codes.contains("Unknown") {
        format!(
            "not found: check that {} exists and has that tag or digest",
            r.repository_url()
        )
    } else if matches!(e, E::RequestError(_)) {
        format!(
            "cannot talk to {}: is it running and reachable? (for a private CA, give --cert-dir)",
            r.registry
        )
    } else {
        "the registry refused the request".into()
    };
    ImageError::Registry {
        reference: format!("docker://{r}"),
        reason: format!("{what}: {hint} ({detail})"),
    }
}

fn local(r: &RegistryRef, reason: String) -> ImageError {
    ImageError::Registry {
        reference: format!("docker://{r}"),
        reason,
    }
}

/// `--cert-dir`: every `*.crt` is a CA. Client certificates (`*.cert`,
/// `*.key`) are refused: the client cannot present one.
fn certificates(dir: &std::path::Path) -> Result<Vec<Certificate>, String> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("--cert-dir {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        match p.extension().and_then(|x| x.to_str()) {
            Some("crt") => out.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?,
            }),
            Some("cert" | "key") => {
                return Err(format!(
                    "--cert-dir {}: {} is a client certificate or key; rootwasm's registry client cannot present one (use a registry that does not require it)",
                    dir.display(),
                    p.display()
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Registry {
    /// A client with `opts`.
    pub fn new(opts: &RegistryOptions, r: &RegistryRef) -> Result<Self, ImageError> {
        let extra_root_certificates = match &opts.cert_dir {
            Some(d) => certificates(d).map_err(|e| local(r, e))?,
            None => Vec::new(),
        };
        let config = ClientConfig {
            accept_invalid_certificates: opts.insecure,
            extra_root_certificates,
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..Default::default()
        };
        let client = Client::try_from(config)
            .map_err(|e| local(r, format!("cannot set up the TLS client: {}", chain(&e))))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| local(r, format!("cannot start the I/O runtime: {e}")))?;
        Ok(Registry {
            rt,
            client,
            opts: opts.clone(),
        })
    }

    fn auth(&self, r: &RegistryRef) -> Result<RegistryAuth, ImageError> {
        if let Some(c) = &self.opts.creds {
            let (u, p) = c
                .split_once(':')
                .ok_or_else(|| local(r, "--creds must be user:password".into()))?;
            return Ok(RegistryAuth::Basic(u.into(), p.into()));
        }
        Ok(
            match credentials::lookup(&r.registry).map_err(|e| local(r, e))? {
                Some(c) => RegistryAuth::Basic(c.username, c.password),
                None => RegistryAuth::Anonymous,
            },
        )
    }

    /// Authenticate for `op` on `r`'s repository (a bearer token where the
    /// registry asks for one, else basic auth on each request).
    fn login(&self, r: &RegistryRef, op: RegistryOperation) -> Result<(), ImageError> {
        let auth = self.auth(r)?;
        self.rt
            .block_on(self.client.auth(&r.oci(), &auth, op))
            .map_err(|e| failed(r, "authenticating", &e))?;
        Ok(())
    }

    fn manifest(&self, r: &RegistryRef, at: &OciRef) -> Result<Vec<u8>, OciDistributionError> {
        let auth = self.auth(r).unwrap_or(RegistryAuth::Anonymous);
        let (bytes, _) = self
            .rt
            .block_on(self.client.pull_manifest_raw(at, &auth, ACCEPT))?;
        Ok(bytes.to_vec())
    }

    /// The blob `digest` of `r`'s repository into `path`; `Ok(false)` if
    /// the registry has no such blob.
    fn download(
        &self,
        r: &RegistryRef,
        digest: &Digest,
        path: &std::path::Path,
    ) -> Result<bool, ImageError> {
        use futures_util::StreamExt as _;
        let oci = r.oci();
        let io = |e: std::io::Error| ImageError::io(path)(e);
        self.rt.block_on(async {
            let mut s = match self.client.pull_blob_stream(&oci, digest.as_str()).await {
                Ok(s) => s,
                Err(OciDistributionError::ServerError { code: 404, .. }) => return Ok(false),
                Err(OciDistributionError::RegistryError { envelope, .. })
                    if format!("{envelope:?}").contains("BlobUnknown") =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(failed(r, &format!("reading blob {digest}"), &e)),
            };
            let mut f = std::fs::File::create(path).map_err(io)?;
            while let Some(chunk) = s.stream.next().await {
                let chunk = chunk.map_err(|e| local(r, format!("reading blob {digest}: {e}")))?;
                f.write_all(&chunk).map_err(io)?;
            }
            Ok(true)
        })
    }
}

/// The blobs and documents of one image in a registry.
pub struct RegistryStore {
    registry: Arc<Registry>,
    at: RegistryRef,
    spool: tempfile::TempDir,
    docs: Mutex<BTreeMap<Digest, Vec<u8>>>,
}

impl RegistryStore {
    /// Where the image lives.
    pub fn reference(&self) -> &RegistryRef {
        &self.at
    }

    /// The referrers index of `subject` (OCI 1.1 referrers API, else the
    /// `sha256-<hex>` tag), empty if nothing refers to it.
    pub fn referrers(&self, subject: &Digest) -> Result<Index, ImageError> {
        let at = self.at.at_digest(subject.as_str());
        let idx = self
            .registry
            .rt
            .block_on(self.registry.client.pull_referrers(&at, None))
            .map_err(|e| failed(&self.at, &format!("listing referrers of {subject}"), &e))?;
        let v = serde_json::to_vec(&idx).map_err(|e| ImageError::malformed("referrers", e))?;
        serde_json::from_slice(&v).map_err(|e| ImageError::malformed("referrers", e))
    }

    fn document(&self, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let bytes = self
            .registry
            .manifest(&self.at, &self.at.at_digest(digest.as_str()))
            .map_err(|e| failed(&self.at, &format!("reading {digest}"), &e))?;
        if Digest::of(&bytes) != *digest {
            return Err(ImageError::DigestMismatch {
                what: format!("docker://{} manifest", self.at),
                expected: digest.to_string(),
                actual: Digest::of(&bytes).to_string(),
            });
        }
        Ok(bytes)
    }
}

impl BlobStore for RegistryStore {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        if let Some(b) = self.docs.lock().expect("docs lock").get(digest) {
            return Ok(Box::new(std::io::Cursor::new(b.clone())));
        }
        let path = self.spool.path().join(digest.hex());
        if !path.is_file() {
            let tmp = self.spool.path().join(format!("{}.part", digest.hex()));
            if !self.registry.download(&self.at, digest, &tmp)? {
                // Not a blob: a manifest or index is fetched by digest.
                let bytes = self.document(digest)?;
                self.docs
                    .lock()
                    .expect("docs lock")
                    .insert(digest.clone(), bytes.clone());
                return Ok(Box::new(std::io::Cursor::new(bytes)));
            }
            std::fs::rename(&tmp, &path).map_err(ImageError::io(&path))?;
        }
        Ok(Box::new(
            std::fs::File::open(&path).map_err(ImageError::io(&path))?,
        ))
    }

    fn registry(&self) -> Option<&RegistryStore> {
        Some(self)
    }
}

/// The media type a manifest or index states, else what its fields say it is.
fn media_type_of(bytes: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    match v.get("mediaType").and_then(|m| m.as_str()) {
        Some(m) => m.to_owned(),
        None if v.get("manifests").is_some() => MEDIA_INDEX.to_owned(),
        None => MEDIA_MANIFEST.to_owned(),
    }
}

/// Open `r` for reading: its store and the descriptor of what it names.
pub fn open(
    r: &RegistryRef,
    opts: &RegistryOptions,
) -> Result<(RegistryStore, Descriptor), ImageError> {
    let registry = Registry::new(opts, r)?;
    registry.login(r, RegistryOperation::Pull)?;
    let bytes = registry
        .manifest(r, &r.oci())
        .map_err(|e| failed(r, "reading the image", &e))?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(local(
            r,
            format!("the manifest is larger than the {MAX_DOCUMENT}-byte limit for documents"),
        ));
    }
    let desc = Descriptor::for_bytes(&media_type_of(&bytes), &bytes);
    if let Some(d) = r.digest()
        && d != desc.digest.as_str()
    {
        return Err(ImageError::DigestMismatch {
            what: format!("docker://{r}"),
            expected: d.into(),
            actual: desc.digest.to_string(),
        });
    }
    let spool = tempfile::Builder::new()
        .prefix("rootwasm-registry-")
        .tempdir()
        .map_err(ImageError::io(std::env::temp_dir()))?;
    let store = RegistryStore {
        registry: Arc::new(registry),
        at: r.clone(),
        spool,
        docs: Mutex::new(BTreeMap::from([(desc.digest.clone(), bytes)])),
    };
    Ok((store, desc))
}

/// What a push sent and what it did not have to.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PushReport {
    /// Bytes sent: blobs uploaded plus every manifest and index.
    pub bytes_uploaded: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Blobs mounted from the source repository (same registry): not sent.
    pub blobs_mounted: usize,
    /// Blobs the destination already had: not sent.
    pub blobs_present: usize,
    /// Manifests and indexes put (tags included).
    pub manifests: usize,
}

struct Pusher<'a, 'i> {
    reg: Registry,
    dest: &'a RegistryRef,
    image: &'a OutputImage<'i>,
    /// The source repository, when it is on the destination's registry.
    mount_from: Option<RegistryRef>,
    report: PushReport,
}

/// Push `image` to `dest`: blobs, manifests, evidence, and the tag last.
pub fn push(
    dest: &RegistryRef,
    image: &OutputImage<'_>,
    opts: &RegistryOptions,
) -> Result<PushReport, ImageError> {
    let tag = dest.tag().ok_or_else(|| {
        local(
            dest,
            "an output needs a tag: docker://<registry>/<repository>:<tag>".into(),
        )
    })?;
    let reg = Registry::new(opts, dest)?;
    reg.login(dest, RegistryOperation::Push)?;
    let mount_from = image
        .input
        .registry()
        .map(|s| s.reference().clone())
        .filter(|s| s.registry == dest.registry && s.repository != dest.repository);
    let mut p = Pusher {
        reg,
        dest,
        image,
        mount_from,
        report: PushReport::default(),
    };
    p.tree(&image.top)?;
    for t in &image.tags {
        p.tree(t)?;
    }
    for t in &image.tags {
        if let Some(name) = t.annotation(ANNOTATION_REF_NAME) {
            p.tag(t, name)?;
        }
    }
    let top = p.doc(&image.top)?;
    p.put(&image.top.media_type, top, &dest.at_tag(tag))?;
    Ok(p.report)
}

impl Pusher<'_, '_> {
    fn doc(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        match self.image.blobs.get(&d.digest) {
            Some((_, Blob::New(b))) => Ok(b.clone()),
            _ => self.image.input.read(d, &format!("manifest {}", d.digest)),
        }
    }

    /// `d` and everything below it, children first, by digest.
    fn tree(&mut self, d: &Descriptor) -> Result<(), ImageError> {
        let bytes = self.doc(d)?;
        let what = format!("manifest {}", d.digest);
        if is_index(&d.media_type) {
            let idx: Index =
                serde_json::from_slice(&bytes).map_err(|e| ImageError::malformed(&what, e))?;
            for c in &idx.manifests {
                self.tree(c)?;
            }
        } else {
            let m: Manifest =
                serde_json::from_slice(&bytes).map_err(|e| ImageError::malformed(&what, e))?;
            self.blob(&m.config)?;
            for l in &m.layers {
                self.blob(l)?;
            }
        }
        let at = self.dest.at_digest(d.digest.as_str());
        self.put(&d.media_type, bytes, &at)
    }

    fn put(&mut self, media_type: &str, bytes: Vec<u8>, at: &OciRef) -> Result<(), ImageError> {
        let ct = http::HeaderValue::from_str(media_type)
            .map_err(|_| ImageError::malformed("manifest", "media type is not a header value"))?;
        let n = bytes.len() as u64;
        self.reg
            .rt
            .block_on(self.reg.client.push_manifest_raw(at, bytes, ct))
            .map_err(|e| failed(self.dest, &format!("putting manifest {}", at), &e))?;
        self.report.bytes_uploaded += n;
        self.report.manifests += 1;
        Ok(())
    }

    /// Tag a referrers index (merged with what the tag already lists:
    /// other tools' referrers stay) or a cosign `.att` manifest.
    fn tag(&mut self, d: &Descriptor, name: &str) -> Result<(), ImageError> {
        let mut bytes = self.doc(d)?;
        let at = self.dest.at_tag(name);
        if is_index(&d.media_type)
            && let Ok(old) = self.reg.manifest(self.dest, &at)
            && let Ok(old) = serde_json::from_slice::<Index>(&old)
        {
            let mut ours: Index = serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::malformed("referrers index", e))?;
            let mine: Vec<Digest> = ours.manifests.iter().map(|m| m.digest.clone()).collect();
            let kept = old
                .manifests
                .into_iter()
                .filter(|m| !mine.contains(&m.digest));
            ours.manifests.splice(0..0, kept);
            bytes = to_canonical_json(&ours);
        }
        self.put(&d.media_type, bytes, &at)
    }

    fn blob(&mut self, d: &Descriptor) -> Result<(), ImageError> {
        let oci = self.dest.oci();
        let digest = d.digest.as_str();
        let what = format!("blob {digest}");
        let exists = |p: &Self| {
            p.reg
                .rt
                .block_on(p.reg.client.blob_exists(&oci, digest))
                .map_err(|e| failed(p.dest, &format!("checking {what}"), &e))
        };
        if exists(self)? {
            self.report.blobs_present += 1;
            return Ok(());
        }
        let new = matches!(self.image.blobs.get(&d.digest), Some((_, Blob::New(_))));
        if let Some(from) = self.mount_from.as_ref().filter(|_| !new) {
            let mounted =
                self.reg
                    .rt
                    .block_on(self.reg.client.mount_blob(&oci, &from.oci(), digest));
            if mounted.is_ok() && exists(self)? {
                self.report.blobs_mounted += 1;
                return Ok(());
            }
        }
        match self.image.blobs.get(&d.digest) {
            Some((_, Blob::New(b))) => {
                self.reg
                    .rt
                    .block_on(self.reg.client.push_blob(&oci, b.clone(), digest))
                    .map_err(|e| failed(self.dest, &format!("uploading {what}"), &e))?;
            }
            _ => self.stream(d)?,
        }
        self.report.blobs_uploaded += 1;
        self.report.bytes_uploaded += d.size;
        Ok(())
    }

    /// Upload an input blob without holding it in memory: a reader thread
    /// hashes and sends chunks; a wrong digest or size fails the upload.
    fn stream(&self, d: &Descriptor) -> Result<(), ImageError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, OciDistributionError>>(4);
        let input = self.image.input;
        let read = |tx: tokio::sync::mpsc::Sender<_>| -> Result<(), ImageError> {
            let mut r = input.open(&d.digest)?;
            let mut h = <sha2::Sha256 as sha2::Digest>::new();
            let (mut n, mut buf) = (0u64, vec![0u8; 1 << 20]);
            loop {
                let k = r.read(&mut buf).map_err(|e| ImageError::Layer {
                    layer: d.digest.to_string(),
                    reason: e.to_string(),
                })?;
                if k == 0 {
                    break;
                }
                sha2::Digest::update(&mut h, &buf[..k]);
                n += k as u64;
                if tx
                    .blocking_send(Ok(bytes::Bytes::copy_from_slice(&buf[..k])))
                    .is_err()
                {
                    return Ok(()); // the upload stopped; its error is reported
                }
            }
            let actual = Digest::from_hasher(h);
            if actual != d.digest || n != d.size {
                let e = ImageError::DigestMismatch {
                    what: format!("blob {} copied from the input", d.digest),
                    expected: format!("{} ({} bytes)", d.digest, d.size),
                    actual: format!("{actual} ({n} bytes)"),
                };
                let _ =
                    tx.blocking_send(Err(OciDistributionError::GenericError(Some(e.to_string()))));
                return Err(e);
            }
            Ok(())
        };
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
            );
        let oci = self.dest.oci();
        std::thread::scope(|s| {
            let reader = s.spawn(move || read(tx));
            let up = self.reg.rt.block_on(self.reg.client.push_blob_stream(
                &oci,
                stream,
                d.digest.as_str(),
                Some(d.size),
            ));
            let read = reader.join().expect("reader thread");
            read?;
            up.map(|_| ())
                .map_err(|e| failed(self.dest, &format!("uploading blob {}", d.digest), &e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_certificate_in_cert_dir_is_refused_not_ignored() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ca.crt"), b"-----BEGIN CERTIFICATE-----\n").unwrap();
        assert_eq!(certificates(d.path()).unwrap().len(), 1);
        std::fs::write(d.path().join("client.cert"), b"x").unwrap();
        let e = certificates(d.path()).err().unwrap();
        assert!(e.contains("client certificate"), "{e}");
    }
}
