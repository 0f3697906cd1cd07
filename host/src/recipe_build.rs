//! `rootwasm recipe build`: compile a recipe crate into a component and pin its hash.
//!
//! The build is made reproducible so a reviewer can rebuild a recipe and get
//! the pinned sha256: release profile with fixed settings, one codegen unit,
//! and host paths remapped out of the binary.

use crate::journal::Sha256Hex;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not be run or failed.
    #[error("{0}")]
    Cargo(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// recipe.toml or Cargo.toml is not as expected.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.into(),
        source,
    }
}

fn cargo_json(args: &[&str], dir: &Path) -> Result<serde_json::Value, BuildError> {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            BuildError::Cargo(format!(
                "running cargo: {e}; is the Rust toolchain installed?"
            ))
        })?;
    if !out.status.success() {
        return Err(BuildError::Cargo(format!(
            "cargo {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| BuildError::Cargo(format!("cargo {}: bad JSON: {e}", args.join(" "))))
}

/// Build the crate in `crate_dir` for wasm32-wasip2 and return the component bytes.
pub fn build_component(crate_dir: &Path) -> Result<Vec<u8>, BuildError> {
    let manifest = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(io(&manifest))?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| BuildError::Invalid {
        path: manifest.clone(),
        message: e.to_string(),
    })?;
    let name = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| BuildError::Invalid {
            path: manifest.clone(),
            message: "no [package] name".into(),
        })?
        .replace('-', "_");
    let meta = cargo_json(
        &["metadata", "--format-version", "1", "--no-deps"],
        crate_dir,
    )?;
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let workspace = PathBuf::from(meta["workspace_root"].as_str().unwrap_or("."));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let flags = [
        format!("--remap-path-prefix={}=/rootwasm", workspace.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
    ]
    .join("\x1f");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        .status()
        .map_err(|e| BuildError::Cargo(format!("running cargo: {e}")))?;
    if !status.success() {
        return Err(BuildError::Cargo(format!(
            "cargo build of {} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)",
            manifest.display()
        )));
    }
    let wasm = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&wasm).map_err(io(&wasm))
}

/// Build the recipe in `recipe_dir`, copy the component to its `component.path`
/// and write the component's sha256 into recipe.toml. Returns the sha256.
pub fn build_recipe(recipe_dir: &Path) -> Result<Sha256Hex, BuildError> {
    let toml_path = recipe_dir.join("recipe.toml");
    if !toml_path.exists() {
        return build_shared(recipe_dir);
    }
    let text = std::fs::read_to_string(&toml_path).map_err(io(&toml_path))?;
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| BuildError::Invalid {
                path: toml_path.clone(),
                message: e.to_string(),
            })?;
    let rel = doc
        .get("component")
        .and_then(|c| c.get("path"))
        .and_then(|p| p.as_str())
        .ok_or_else(|| BuildError::Invalid {
            path: toml_path.clone(),
            message: "missing [component] path".into(),
        })?
        .to_owned();
    let bytes = build_component(recipe_dir)?;
    let sha = Sha256Hex::of(&bytes);
    let out = recipe_dir.join(&rel);
    std::fs::write(&out, &bytes).map_err(io(&out))?;
    doc["component"]["sha256"] = toml_edit::value(sha.to_string());
    std::fs::write(&toml_path, doc.to_string()).map_err(io(&toml_path))?;
    Ok(sha)
}

/// File name of a shared component inside its crate directory.
pub const SHARED_COMPONENT: &str = "component.wasm";

/// Build a shared component (a crate with no recipe.toml, such as
/// `recipes/dpkg-upgrade`) into `<dir>/component.wasm`, and re-pin every
/// sibling recipe that uses it (`path = "../<dir>/component.wasm"`).
fn build_shared(dir: &Path) -> Result<Sha256Hex, BuildError> {
    let bytes = build_component(dir)?;
    let sha = Sha256Hex::of(&bytes);
    let out = dir.join(SHARED_COMPONENT);
    std::fs::write(&out, &bytes).map_err(io(&out))?;
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(sha);
    };
    let wanted = format!("../{}/{SHARED_COMPONENT}", name.to_string_lossy());
    let mut siblings: Vec<PathBuf> = std::fs::read_dir(parent)
        .map_err(io(parent))?
        .filter_map(|e| e.ok().map(|e| e.path().join("recipe.toml")))
        .filter(|p| p.is_file())
        .collect();
    siblings.sort();
    for toml_path in siblings {
        let text = std::fs::read_to_string(&toml_path).map_err(io(&toml_path))?;
        let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
            continue;
        };
        if doc
            .get("component")
            .and_then(|c| c.get("path"))
            .and_then(|p| p.as_str())
            == Some(wanted.as_str())
        {
            doc["component"]["sha256"] = toml_edit::value(sha.to_string());
            std::fs::write(&toml_path, doc.to_string()).map_err(io(&toml_path))?;
        }
    }
    Ok(sha)
}
