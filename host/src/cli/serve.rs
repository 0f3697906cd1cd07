//! `rootwasm serve --images <DIR> [--image docker://…] --tokens <FILE>`: the
//! evidence of patched images over HTTP, read-only (axum on tokio). See
//! docs/api.md.
//!
//! `{id}` is looked up in a catalog built at start from the layouts in
//! `<DIR>` and the registry images; it never becomes part of a path, so
//! nothing outside the served images can be named. Tokens are stored as their sha256 and compared in
//! constant time. Concurrency and request bodies are bounded; every
//! response carries an ETag equal to the sha256 of its body (for the
//! attached documents, the artifact blob's digest), and If-None-Match gets
//! 304.

use anyhow::{Context, bail};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Args;
use rootwasm::image::attach::*;
use rootwasm::image::model::ANNOTATION_REF_NAME;
use rootwasm::journal::Sha256Hex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use subtle::ConstantTimeEq;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory of OCI layouts (one subdirectory each) to serve.
    #[arg(long, required_unless_present = "image")]
    images: Option<PathBuf>,
    /// A patched image in a registry to serve too, docker://<registry>/<repo>:<tag>. Repeatable.
    #[arg(long = "image")]
    image: Vec<String>,
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
    /// Bearer tokens, one `sha256:<64 hex>` (the token's SHA-256) per line.
    #[arg(long)]
    tokens: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Recipes to scan with for /explorer's open vulnerabilities and SLA statuses.
    #[arg(long)]
    recipes: Option<PathBuf>,
    /// Advisories for /explorer (OSV, Trivy or Grype JSON). Repeatable.
    #[arg(long = "advisories")]
    advisories: Vec<PathBuf>,
    /// Public key /explorer verifies the evidence with (SPKI PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Most requests handled at once; more wait.
    #[arg(long, default_value_t = 64)]
    max_concurrent: usize,
}

/// One served image: a tag of a layout (or an untagged layout's one image).
#[derive(Clone, Debug, serde::Serialize)]
struct Served {
    /// `<layout>` or `<layout>~<tag>`, or `<registry>_<repo>~<tag>` with
    /// `/` and `:` as `_`: URL-safe (see docs/api.md).
    id: String,
    /// The layout's directory name, or `<registry>/<repo>`.
    name: String,
    /// The tag, if any.
    tag: Option<String>,
    /// The manifest (or index) digest the tag points at.
    digest: String,
    #[serde(skip)]
    reference: String,
}

struct App {
    images: BTreeMap<String, Served>,
    tokens: Vec<[u8; 32]>,
    recipes: Option<PathBuf>,
    advisories: Vec<PathBuf>,
    key: Option<rootwasm::attest::key::PublicKey>,
    registry: rootwasm::image::registry::RegistryOptions,
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let tokens = load_tokens(&a.tokens)?;
    let registry = a.registry.options();
    let mut images = match &a.images {
        Some(dir) => catalog(dir)?,
        None => Vec::new(),
    };
    for r in &a.image {
        images.push(remote(r, &registry)?);
    }
    let mut ids = std::collections::BTreeSet::new();
    if let Some(s) = images.iter().find(|s| !ids.insert(s.id.clone())) {
        bail!("two served images have the id {}: serve one of them", s.id);
    }
    eprintln!(
        "rootwasm: serving {} image(s) on http://{}",
        images.len(),
        a.listen
    );
    let key = match &a.key {
        Some(k) => Some(rootwasm::attest::key::load_public(k)?),
        None => None,
    };
    let app = Arc::new(App {
        images: images.into_iter().map(|s| (s.id.clone(), s)).collect(),
        tokens,
        recipes: a.recipes.clone(),
        advisories: a.advisories.clone(),
        key,
        registry,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(app, a.listen, a.max_concurrent))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(app: Arc<App>, listen: SocketAddr, max: usize) -> anyhow::Result<()> {
    use axum::routing::get;
    let router = axum::Router::new()
        .route("/v1/images/tags", get(list))
        .route("/v1/images/tags/{id}/{doc}", get(document))
        .with_state(app)
        // GETs carry no body: anything above a few KiB is refused.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(16 * 1024))
        .layer(tower::limit::ConcurrencyLimitLayer::new(max.max(1)));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown())
        .await?;
    eprintln!("rootwasm: stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish the requests in flight.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

/// `sha256:<64 hex>` per line; blank lines and `#` comments ignored.
fn load_tokens(path: &Path) -> anyhow::Result<Vec<[u8; 32]>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the tokens file {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let digest = line
            .strip_prefix("sha256:")
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        match digest {
            Some(d) => out.push(d),
            None => bail!(
                "{} line {}: expected `sha256:<64 hex>`, the SHA-256 of a token (e.g. `printf %s \"$TOKEN\" | sha256sum`)",
                path.display(),
                n + 1
            ),
        }
    }
    if out.is_empty() {
        bail!("{}: no tokens; nobody could read anything", path.display());
    }
    Ok(out)
}

/// Every tag of every layout under `dir` (referrers tags `sha256-…` aside).
fn catalog(dir: &Path) -> anyhow::Result<Vec<Served>> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("reading {}", dir.display()))?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("index.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !safe(&name) || name.starts_with('.') || dir.to_string_lossy().contains(':') {
            eprintln!(
                "rootwasm: warning: not serving {name:?}: a layout's name must be [A-Za-z0-9._-] and its path free of ':'"
            );
            continue;
        }
        let path = dir.join(&name);
        let index: rootwasm::image::model::Index =
            serde_json::from_slice(&std::fs::read(path.join("index.json"))?)
                .with_context(|| format!("{}/index.json", path.display()))?;
        let tagged: Vec<_> = index
            .manifests
            .iter()
            .filter_map(|d| d.annotation(ANNOTATION_REF_NAME).map(|t| (t, d)))
            .filter(|(t, _)| !t.starts_with("sha256-") && safe(t))
            .collect();
        for (tag, d) in &tagged {
            out.push(Served {
                id: format!("{name}~{tag}"),
                name: name.clone(),
                tag: Some(tag.to_string()),
                digest: d.digest.to_string(),
                reference: format!("oci:{}:{tag}", path.display()),
            });
        }
        if let ([], [d]) = (tagged.as_slice(), index.manifests.as_slice()) {
            out.push(Served {
                id: name.clone(),
                name: name.clone(),
                tag: None,
                digest: d.digest.to_string(),
                reference: format!("oci:{}", path.display()),
            });
        }
    }
    Ok(out)
}

/// A `docker://` image, resolved once at start to the digest its tag
/// points at (a manifest, or a multi-platform index: `?platform=` picks).
fn remote(
    reference: &str,
    opts: &rootwasm::image::registry::RegistryOptions,
) -> anyhow::Result<Served> {
    use rootwasm::image::reference::Reference;
    let usage = || format!("--image {reference}: use docker://<registry>/<repo>:<tag>");
    let name = reference.strip_prefix("docker://").with_context(usage)?;
    let (name, tag) = match name.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') && !n.contains('@') => (n, t),
        _ => bail!("{}", usage()),
    };
    let id = format!("{}~{tag}", name.replace(['/', ':'], "_"));
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-~".contains(&b))
    {
        bail!("{}", usage());
    }
    let parsed = Reference::parse(reference).with_context(usage)?;
    let source = rootwasm::image::source::open_full(&parsed, &Default::default(), opts)
        .with_context(|| format!("--image {reference}"))?;
    Ok(Served {
        id,
        name: name.into(),
        tag: Some(tag.into()),
        digest: source.top.descriptor().digest.to_string(),
        reference: reference.into(),
    })
}

/// Is the request's bearer token one of ours? Every stored digest is
/// compared, each in constant time.
fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let digest = Sha256Hex::of(token.trim().as_bytes());
    let Ok(d) = hex::decode(digest.as_str()) else {
        return false;
    };
    let mut ok = subtle::Choice::from(0u8);
    for t in &app.tokens {
        ok |= t.as_slice().ct_eq(&d);
    }
    ok.into()
}

fn error(status: StatusCode, msg: &str) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"error": msg}).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// 200 with the body, its content type and `ETag: "sha256:<hex>"`, or 304
/// when If-None-Match names that ETag.
fn respond(headers: &HeaderMap, body: Vec<u8>, content_type: &str) -> Response {
    let etag = format!("\"sha256:{}\"", Sha256Hex::of(&body));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag_value = HeaderValue::from_str(&etag).expect("ascii");
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, ct), (header::ETAG, etag_value)],
        body,
    )
        .into_response()
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
    }
    let all: Vec<&Served> = app.images.values().collect();
    respond(
        &headers,
        serde_json::to_vec_pretty(&all).unwrap_or_default(),
        "application/json",
    )
}

#[derive(serde::Deserialize)]
struct DocQuery {
    format: Option<String>,
    platform: Option<String>,
}

async fn document(
    State(app): State<Arc<App>>,
    UrlPath((id, doc)): UrlPath<(String, String)>,
    Query(q): Query<DocQuery>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&app, &headers) {
        return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
    }
    let Some(served) = app.images.get(&id).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "no such image id; GET /v1/images/tags lists them",
        );
    };
    let app2 = app.clone();
    let made = tokio::task::spawn_blocking(move || produce(&app2, &served, &doc, &q)).await;
    match made {
        Ok(Ok((body, ct))) => respond(&headers, body, ct),
        Ok(Err((status, msg))) => error(status, &msg),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"),
    }
}

type Made = Result<(Vec<u8>, &'static str), (StatusCode, String)>;

/// The bytes of one document of one served image (blocking: reads the layout).
fn produce(app: &App, s: &Served, doc: &str, q: &DocQuery) -> Made {
    let not_found = |e: String| (StatusCode::NOT_FOUND, e);
    let p = rootwasm::review::open(&s.reference, q.platform.as_deref(), &app.registry)
        .map_err(|e| not_found(format!("{}: {e}", s.id)))?;
    let file = |t: &str| p.file(t).map_err(|e| not_found(e.to_string()));
    match doc {
        "sbom" => match q.format.as_deref().unwrap_or("cyclonedx") {
            "cyclonedx" => Ok((file(ARTIFACT_CYCLONEDX)?, "application/vnd.cyclonedx+json")),
            "spdx" => Ok((file(ARTIFACT_SPDX)?, "application/spdx+json")),
            f => Err((
                StatusCode::BAD_REQUEST,
                format!("format {f:?}: use cyclonedx or spdx"),
            )),
        },
        "vex" => Ok((file(ARTIFACT_OPENVEX)?, "application/openvex+json")),
        "provenance" => Ok((
            file(ARTIFACT_INTOTO)?,
            "application/vnd.dsse.envelope.v1+json",
        )),
        "journal" => Ok((file(ARTIFACT_JOURNAL)?, "application/json")),
        "patches" => {
            let recs = rootwasm::record::records(p.docs.manifest.annotations.as_ref());
            Ok((
                serde_json::to_vec_pretty(&recs).unwrap_or_default(),
                "application/json",
            ))
        }
        "explorer" => {
            let inputs = super::explore::Inputs {
                image: &s.reference,
                shown: &s.id,
                recipes: app.recipes.as_deref(),
                advisories: &app.advisories,
                clock: rootwasm::sla::Clock {
                    policy: Default::default(),
                    today: time::OffsetDateTime::now_utc().date(),
                },
                key: app.key.as_ref(),
            };
            let html = inputs
                .html(&p)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
            Ok((html.into_bytes(), "text/html; charset=utf-8"))
        }
        _ => Err(not_found(format!(
            "{doc:?}: use sbom, vex, provenance, journal, patches or explorer"
        ))),
    }
}
