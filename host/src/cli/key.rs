//! `rootwasm key ...` and the signing key `apply` uses.
//!
//! The provenance is always signed. With no `--key`, rootwasm uses a local
//! key: `$ROOTWASM_KEY`, else `$XDG_CONFIG_HOME/rootwasm/signing-key.pem`
//! (or `~/.config/...`), generated on first use with its public key beside
//! it, so a reviewer can be given the public half (`rootwasm key export`).

use anyhow::Context;
use clap::Subcommand;
use rootwasm::attest::key::{self, SigningKey};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Print the public key (SubjectPublicKeyInfo PEM) of a signing key.
    Export {
        /// The private key (PKCS#8 PEM) [default: the local key].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Write a new ed25519 key pair: PATH (private, 0600) and PATH.pub.pem.
    Generate {
        /// Where to write the private key.
        path: PathBuf,
    },
}

/// The local key's path.
pub fn default_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ROOTWASM_KEY") {
        return Ok(p.into());
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
        .context("no signing key: pass --key, or set ROOTWASM_KEY (neither HOME nor XDG_CONFIG_HOME is set)")?;
    Ok(config.join("rootwasm/signing-key.pem"))
}

fn public_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub.pem");
    s.into()
}

fn generate(path: &Path) -> anyhow::Result<SigningKey> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let k = SigningKey::generate()?;
    key::save_private(path, &k)?;
    key::save_public(&public_path(path), &k.public())?;
    Ok(k)
}

/// The key to sign with: `explicit`, or the local key (generated if missing).
pub fn signing_key(explicit: Option<&Path>) -> anyhow::Result<SigningKey> {
    if let Some(p) = explicit {
        return key::load_private(p)
            .with_context(|| format!("loading the signing key {}", p.display()));
    }
    let p = default_path()?;
    if p.exists() {
        return key::load_private(&p).with_context(|| {
            format!(
                "loading the local signing key {} (set ROOTWASM_KEY or pass --key)",
                p.display()
            )
        });
    }
    let k = generate(&p)?;
    eprintln!(
        "rootwasm: generated a signing key at {}; give reviewers its public key {} (or `rootwasm key export`)",
        p.display(),
        public_path(&p).display()
    );
    Ok(k)
}

pub fn run(c: KeyCommand) -> anyhow::Result<ExitCode> {
    match c {
        KeyCommand::Export { key } => {
            let p = match key {
                Some(k) => k,
                None => default_path()?,
            };
            let k = key::load_private(&p).with_context(|| format!("loading {}", p.display()))?;
            print!("{}", k.public().to_spki_pem());
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Generate { path } => {
            if path.exists() {
                anyhow::bail!("{} exists; choose another path", path.display());
            }
            let k = generate(&path)?;
            println!(
                "wrote {} and {} (keyid {})",
                path.display(),
                public_path(&path).display(),
                k.keyid()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
