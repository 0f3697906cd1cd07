//! Maintainer scripts in a recipe: the image as the evaluator
//! (`rootwasm_deb::maintscript`) sees it, and the effects it found, applied
//! through the rootfs so the journal records each one.
//!
//! Every path the evaluator asks about must be in the recipe's read scope
//! (an access outside it ends the run): `rootwasm recipe new` grants what
//! the package's scripts name (`rootwasm_deb::maintscript::scope`).

use crate::{Context, Error, Kind, Result};
use rootwasm_deb::ca_certificates::{self, Op};
use rootwasm_deb::maintscript::{self, Effect, Facts};

/// The image through a recipe's rootfs.
pub struct ImageFacts<'c, 'h>(pub &'c mut Context<'h>);

fn kind(k: Kind) -> maintscript::Kind {
    match k {
        Kind::File => maintscript::Kind::File,
        Kind::Dir => maintscript::Kind::Dir,
        Kind::Symlink => maintscript::Kind::Symlink,
        _ => maintscript::Kind::Other,
    }
}

impl Facts for ImageFacts<'_, '_> {
    fn kind(&mut self, path: &str, follow: bool) -> Option<maintscript::Kind> {
        let m = if follow {
            self.0.stat(path)
        } else {
            self.0.lstat(path)
        };
        m.ok().flatten().map(|m| kind(m.kind))
    }
    fn read(&mut self, path: &str) -> Option<Vec<u8>> {
        self.0.read(path).ok()
    }
    fn readlink(&mut self, path: &str) -> Option<String> {
        self.0.readlink(path).ok()
    }
    fn read_dir(&mut self, path: &str) -> Vec<String> {
        self.0
            .read_dir(path)
            .map(|v| v.into_iter().map(|e| e.name).collect())
            .unwrap_or_default()
    }
    fn meta(&mut self, path: &str) -> Option<(u32, u32, u32)> {
        self.0
            .stat(path)
            .ok()
            .flatten()
            .map(|m| (m.mode & 0o7777, m.uid, m.gid))
    }
}

/// Apply one file effect (the ones that are not package-specific).
pub fn apply_file_effect(cx: &mut Context, e: &Effect) -> Result<()> {
    match e {
        Effect::Remove(p) => {
            if cx.lstat(p)?.is_some() {
                cx.remove(p)?;
            }
        }
        Effect::Touch(p) => {
            if cx.lstat(p)?.is_none() {
                cx.write_file(p, b"", 0o644)?;
            }
        }
        Effect::Mkdir(p) => {
            if cx.lstat(p)?.is_none() {
                cx.mkdir(p, 0o755)?;
            }
        }
        Effect::Symlink { target, link } => {
            if cx.lstat(link)?.is_some() {
                if cx.readlink(link).ok().as_deref() == Some(target.as_str()) {
                    return Ok(());
                }
                cx.remove(link)?;
            }
            cx.symlink(target, link)?;
        }
        Effect::Rename { from, to } => cx.rename(from, to)?,
        Effect::WriteFile(p, data) => {
            let same = cx.lstat(p)?.is_some_and(|m| m.kind == Kind::File) && cx.read(p)? == *data;
            if !same {
                let mode = cx.stat(p)?.map_or(0o644, |m| m.mode & 0o7777);
                cx.write_file(p, data, mode)?;
            }
        }
        Effect::Chmod(p, mode) => {
            if cx.stat(p)?.is_some_and(|m| m.mode & 0o7777 != *mode) {
                cx.chmod(p, *mode)?;
            }
        }
        Effect::Chown(p, spec, _) => {
            if !matches!(spec.as_str(), "root" | "root:root") {
                return Err(Error::msg(format!(
                    "chown {spec} {p}: only root is handled"
                )));
            }
            if cx.stat(p)?.is_some_and(|m| (m.uid, m.gid) != (0, 0)) {
                cx.chown(p, 0, 0)?;
            }
        }
        other => {
            return Err(Error::msg(format!(
                "internal: {other:?} is applied by the component, not as a file effect"
            )));
        }
    }
    Ok(())
}

/// ca-certificates' `configure` (`conf`: rewrite the conf first) or a bare
/// `update-ca-certificates`, on the tree as it is now (after unpacking).
/// Returns how many operations it made.
pub fn ca_certificates(cx: &mut Context, config_script: &str, conf: bool) -> Result<usize> {
    let hooks = "/etc/ca-certificates/update.d";
    if cx.read_dir(hooks).is_ok_and(|v| !v.is_empty()) {
        return Err(Error::msg(format!(
            "{hooks} has hooks, which update-ca-certificates would run; rootwasm runs no program"
        )));
    }
    let snap = ca_certificates::Snapshot::read(&mut ImageFacts(cx), config_script)
        .map_err(|e| Error::msg(e.0))?;
    let ops = if conf {
        ca_certificates::plan(&snap)
    } else {
        ca_certificates::update_only(&snap)
    }
    .map_err(|e| Error::msg(format!("update-ca-certificates: {}", e.0)))?;
    let mut changed = 0;
    for op in &ops {
        match op {
            Op::Write(p, data) => {
                let same =
                    cx.lstat(p)?.is_some_and(|m| m.kind == Kind::File) && cx.read(p)? == *data;
                if !same {
                    cx.write_file(p, data, 0o644)?;
                    changed += 1;
                }
            }
            Op::Rename(a, b) => {
                cx.rename(a, b)?;
                changed += 1;
            }
            Op::Remove(p) => {
                cx.remove(p)?;
                changed += 1;
            }
            Op::Symlink(link, target) => {
                if cx.lstat(link)?.is_some() {
                    cx.remove(link)?;
                }
                cx.symlink(target, link)?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}
