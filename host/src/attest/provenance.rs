//! SLSA Provenance v1 in an in-toto Statement v1: how a patched image was
//! made by `rootwasm apply`.
//!
//! The subject is the patched manifest (and index, see [`ImageSubject`]).
//! `externalParameters` are what the operator chose: the input image and
//! the recipe ids. `resolvedDependencies` are everything that went in, by
//! sha256: the input manifest, and each recipe's `recipe.toml`, component
//! and artifacts. `runDetails` names the builder and version, the times the
//! caller measured, and as byproducts the digests of the journal, SBOM and
//! VEX plus each recipe's result on each platform. The caller fills
//! [`ProvenanceInput`] from what apply actually did; nothing here is
//! inferred.

use super::{Epoch, ImageSubject, intoto};
use crate::image::model::Digest;
use crate::journal::Sha256Hex;
use crate::recipe::Recipe;
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// The in-toto predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// The build type of `rootwasm apply`. The host is a placeholder (as in
/// the SPDX namespace) until the project has a documentation URL; the
/// format is described in `docs/attestations.md`.
pub const BUILD_TYPE: &str = "https://rootwasm.invalid/build-types/apply/v1";
/// The DSSE payload type.
pub const PAYLOAD_TYPE: &str = intoto::PAYLOAD_TYPE;

/// The image that was patched.
#[derive(Clone, Debug)]
pub struct InputImage<'a> {
    /// The image's own name (`registry/repo:tag`), if it states one. Never
    /// a local path: evidence must not depend on where the input was read.
    pub reference: Option<&'a str>,
    /// Its manifest digest (the platform manifest, or the index for a
    /// multi-platform input).
    pub digest: &'a Digest,
}

/// One file of a recipe, by hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeFile {
    /// Path in the recipe directory, e.g. `recipe.wasm`.
    pub path: String,
    /// sha256, lowercase hex.
    pub sha256: String,
    /// Where it came from, if the recipe says (artifacts' `source`).
    pub source: Option<String>,
}

/// A recipe that was used, by hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeDependency {
    /// Recipe id.
    pub id: String,
    /// sha256 of its `recipe.toml` bytes.
    pub manifest_sha256: String,
    /// Its component.
    pub component: RecipeFile,
    /// Its artifacts.
    pub artifacts: Vec<RecipeFile>,
}

impl RecipeDependency {
    /// From a loaded recipe (whose component and artifact hashes were
    /// verified at load) and the sha256 of its `recipe.toml` bytes.
    pub fn from_recipe(recipe: &Recipe) -> Self {
        let m = &recipe.manifest;
        RecipeDependency {
            id: m.id.clone(),
            manifest_sha256: recipe.toml_sha256.to_string(),
            component: RecipeFile {
                path: m.component.path.clone(),
                sha256: m.component.sha256.clone(),
                source: None,
            },
            artifacts: m
                .artifacts
                .iter()
                .map(|a| RecipeFile {
                    path: a.path.clone(),
                    sha256: a.sha256.clone(),
                    source: a.source.clone(),
                })
                .collect(),
        }
    }
}

/// Who ran the build.
#[derive(Clone, Debug)]
pub struct Builder<'a> {
    /// A URI naming the builder (the CI job, the host), e.g.
    /// `https://github.com/acme/app/.github/workflows/patch.yml`.
    pub id: &'a str,
    /// rootwasm's version.
    pub version: &'a str,
}

/// A file the run produced besides the image.
#[derive(Clone, Debug)]
pub struct Byproduct<'a> {
    /// Its name, e.g. `journal.json`, `sbom.cdx.json`, `vex.openvex.json`.
    pub name: &'a str,
    /// Its media type.
    pub media_type: &'a str,
    /// Its sha256, lowercase hex.
    pub sha256: &'a str,
}

/// One recipe's outcome on one platform, as apply reported it.
#[derive(Clone, Debug)]
pub struct RecipeRun<'a> {
    /// Recipe id.
    pub recipe: &'a str,
    /// `linux/amd64`, or `default` for a single-manifest image.
    pub platform: &'a str,
    /// `applied`, `already-fixed`, `not-applicable`, `not-affected` or
    /// `failed` (apply's `RecipeResult::result`). `applied` means the
    /// recipe's own check reported the fix present on the patched tree.
    pub result: &'a str,
    /// The vulnerabilities it fixes.
    pub fixes: &'a [String],
    /// Why it failed, if it did.
    pub error: Option<&'a str>,
    /// Its test results (`{name, result, detail}`; see `crate::patch_checks`), if it applied.
    pub tests: &'a [Value],
}

/// Everything the provenance says.
#[derive(Clone, Debug)]
pub struct ProvenanceInput<'a> {
    /// The patched image.
    pub subject: &'a ImageSubject<'a>,
    /// The input image.
    pub input: InputImage<'a>,
    /// The recipes, in the order they ran.
    pub recipes: &'a [RecipeDependency],
    /// Who ran it.
    pub builder: Builder<'a>,
    /// An id for this run (a CI run id), if there is one.
    pub invocation_id: Option<&'a str>,
    /// The clock the recipes and the layer saw (SOURCE_DATE_EPOCH).
    pub source_date_epoch: Option<Epoch>,
    /// When the run started.
    pub started_on: Epoch,
    /// When it finished.
    pub finished_on: Epoch,
    /// Journal, SBOM, VEX.
    pub byproducts: &'a [Byproduct<'a>],
    /// Per recipe and platform.
    pub results: &'a [RecipeRun<'a>],
}

fn file(recipe: &str, f: &RecipeFile) -> Value {
    let mut v = json!({
        "name": format!("recipes/{recipe}/{}", f.path),
        "digest": {"sha256": f.sha256},
    });
    if let Some(s) = &f.source {
        v["downloadLocation"] = json!(s);
    }
    v
}

fn result(r: &RecipeRun<'_>) -> Value {
    let mut body = Map::new();
    body.insert("recipe".into(), json!(r.recipe));
    body.insert("platform".into(), json!(r.platform));
    body.insert("result".into(), json!(r.result));
    body.insert("fixes".into(), json!(r.fixes));
    if let Some(e) = r.error {
        body.insert("error".into(), json!(e));
    }
    if !r.tests.is_empty() {
        body.insert("tests".into(), json!(r.tests));
    }
    let body = Value::Object(body);
    let bytes = super::to_bytes(&body);
    json!({
        "name": format!("recipe-results/{}/{}", r.platform, r.recipe),
        "mediaType": "application/json",
        "digest": {"sha256": Sha256Hex::of(&bytes).to_string()},
        "content": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "annotations": body,
    })
}

/// The SLSA Provenance v1 predicate.
pub fn predicate(input: &ProvenanceInput<'_>) -> Value {
    let mut image_dep = json!({
        "name": "input image manifest",
        "digest": {"sha256": input.input.digest.hex()},
    });
    let mut image_param = json!({"digest": input.input.digest.as_str()});
    if let Some(r) = input.input.reference {
        image_dep["uri"] = json!(r);
        image_param["reference"] = json!(r);
    }
    let mut deps = vec![image_dep];
    for r in input.recipes {
        deps.push(json!({
            "name": format!("recipes/{}/recipe.toml", r.id),
            "digest": {"sha256": r.manifest_sha256},
        }));
        deps.push(file(&r.id, &r.component));
        deps.extend(r.artifacts.iter().map(|a| file(&r.id, a)));
    }
    let mut byproducts: Vec<Value> = input
        .byproducts
        .iter()
        .map(|b| json!({"name": b.name, "mediaType": b.media_type, "digest": {"sha256": b.sha256}}))
        .collect();
    byproducts.extend(input.results.iter().map(result));
    let mut metadata = json!({
        "startedOn": input.started_on.rfc3339(),
        "finishedOn": input.finished_on.rfc3339(),
    });
    if let Some(id) = input.invocation_id {
        metadata["invocationId"] = json!(id);
    }
    let mut build = json!({
        "buildType": BUILD_TYPE,
        "externalParameters": {
            "image": image_param,
            "recipes": input.recipes.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        },
        "resolvedDependencies": deps,
    });
    if let Some(e) = input.source_date_epoch {
        build["internalParameters"] = json!({"sourceDateEpoch": e.0});
    }
    json!({
        "buildDefinition": build,
        "runDetails": {
            "builder": {"id": input.builder.id, "version": {"rootwasm": input.builder.version}},
            "metadata": metadata,
            "byproducts": byproducts,
        },
    })
}

/// The in-toto Statement v1 carrying the provenance, ready for
/// [`super::dsse::sign`] with [`PAYLOAD_TYPE`].
pub fn statement(input: &ProvenanceInput<'_>) -> Value {
    intoto::statement(
        &intoto::image_subjects(input.subject),
        PREDICATE_TYPE,
        predicate(input),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(f: impl FnOnce(&ProvenanceInput<'_>) -> T) -> T {
        let subject = ImageSubject {
            name: "app",
            repository: Some(Box::leak(Box::new(
                crate::attest::purl::Repository::parse("ghcr.io/acme/app").unwrap(),
            ))),
            tag: None,
            arch: Some("amd64"),
            digests: vec![Digest::of(b"patched")],
        };
        let input_digest = Digest::of(b"input");
        let recipes = vec![RecipeDependency {
            id: "requests-cve-2023-32681".into(),
            manifest_sha256: "11".repeat(32),
            component: RecipeFile {
                path: "recipe.wasm".into(),
                sha256: "22".repeat(32),
                source: None,
            },
            artifacts: vec![RecipeFile {
                path: "artifacts/fix.patch".into(),
                sha256: "33".repeat(32),
                source: Some("https://github.com/psf/requests/commit/74ea7cf".into()),
            }],
        }];
        let fixes = vec!["CVE-2023-32681".to_owned()];
        let journal = "44".repeat(32);
        let input = ProvenanceInput {
            subject: &subject,
            input: InputImage {
                reference: Some("registry.example/images/app:1.0"),
                digest: &input_digest,
            },
            recipes: &recipes,
            builder: Builder {
                id: "https://ci.example/runner",
                version: "0.1.0",
            },
            invocation_id: None,
            source_date_epoch: Some(Epoch(1_600_000_000)),
            started_on: Epoch(1_700_000_000),
            finished_on: Epoch(1_700_000_042),
            byproducts: &[Byproduct {
                name: "journal.json",
                media_type: "application/json",
                sha256: &journal,
            }],
            results: &[RecipeRun {
                recipe: "requests-cve-2023-32681",
                platform: "linux/amd64",
                result: "applied",
                fixes: &fixes,
                error: None,
                tests: &[],
            }],
        };
        f(&input)
    }

    #[test]
    fn the_statement_has_the_slsa_v1_shape() {
        let s = with(statement);
        assert_eq!(s["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        assert_eq!(
            s["subject"][0]["digest"]["sha256"],
            Digest::of(b"patched").hex()
        );
        let b = &s["predicate"]["buildDefinition"];
        assert_eq!(b["buildType"], BUILD_TYPE);
        assert_eq!(
            b["externalParameters"]["image"]["digest"],
            Digest::of(b"input").as_str()
        );
        assert_eq!(
            b["externalParameters"]["recipes"][0],
            "requests-cve-2023-32681"
        );
        let names: Vec<&str> = b["resolvedDependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "input image manifest",
                "requests-cve-2023-32681/recipe.toml",
                "requests-cve-2023-32681/recipe.wasm",
                "requests-cve-2023-32681/artifacts/fix.patch"
            ]
            .map(|n| if n.contains('/') {
                format!("recipes/{n}")
            } else {
                n.to_owned()
            })
        );
        assert!(
            b["resolvedDependencies"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["digest"]["sha256"].as_str().unwrap().len() == 64)
        );
        let r = &s["predicate"]["runDetails"];
        assert_eq!(r["builder"]["version"]["rootwasm"], "0.1.0");
        assert_eq!(r["metadata"]["finishedOn"], "2023-11-14T22:14:02Z");
        let result = &r["byproducts"][1];
        assert_eq!(result["annotations"]["result"], "applied");
        let content = base64::engine::general_purpose::STANDARD
            .decode(result["content"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            result["digest"]["sha256"],
            Sha256Hex::of(&content).to_string()
        );
        let parsed: Value = serde_json::from_slice(&content).unwrap();
        assert_eq!(parsed, result["annotations"]);
    }

    #[test]
    fn deterministic() {
        assert_eq!(
            crate::attest::to_bytes(&with(statement)),
            crate::attest::to_bytes(&with(statement))
        );
    }
}
