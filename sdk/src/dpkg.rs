//! The dpkg database as recipes see it, for fixes to Debian packages.
//!
//! dpkg keeps one stanza per package in `/var/lib/dpkg/status` and per-package
//! files in `/var/lib/dpkg/info/` (`<pkg>.list`, `.md5sums`, `.conffiles`,
//! maintainer scripts; `<pkg>:<arch>.*` for `Multi-Arch: same`). Distroless
//! images have no `status` file, only `/var/lib/dpkg/status.d/<pkg>` (the
//! control stanza) and sometimes `status.d/<pkg>.md5sums`. A fix must leave
//! whichever layout it found exactly as dpkg would: `dpkg --verify` clean and
//! every other stanza byte for byte unchanged.

use crate::{Context, Error, Kind, Result};
pub use rootwasm_deb as deb;
use rootwasm_deb::{Stanza, control::paragraphs, md5sums};

/// dpkg's administrative directory.
pub const ADMIN: &str = "/var/lib/dpkg";
/// The status file.
pub const STATUS: &str = "/var/lib/dpkg/status";

/// Where an installed package's record lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A stanza in `/var/lib/dpkg/status`, files in `info/<info_name>.*`.
    Status,
    /// Distroless: `/var/lib/dpkg/status.d/<file>` holds the stanza.
    StatusD {
        /// The stanza's file name under `status.d/`.
        file: String,
    },
}

/// An installed package as the database records it.
#[derive(Clone, Debug)]
pub struct Installed {
    /// `Package`.
    pub name: String,
    /// `Architecture`.
    pub arch: String,
    /// `Version`.
    pub version: String,
    /// Name of its `info/` files: `pkg` or `pkg:arch`.
    pub info_name: String,
    /// The whole stanza.
    pub stanza: Stanza,
    /// Which database holds it.
    pub layout: Layout,
}

impl Installed {
    /// The database file that records this package (the patch record's location).
    pub fn location(&self) -> String {
        match &self.layout {
            Layout::Status => STATUS.into(),
            Layout::StatusD { file } => format!("{ADMIN}/status.d/{file}"),
        }
    }

    /// `info/<info_name>.<ext>` (status layout) or `status.d/<file>.<ext>` (distroless).
    pub fn info_file(&self, ext: &str) -> String {
        match &self.layout {
            Layout::Status => format!("{ADMIN}/info/{}.{ext}", self.info_name),
            Layout::StatusD { file } => format!("{ADMIN}/status.d/{file}.{ext}"),
        }
    }

    /// The `Conffiles` field as `(path, md5, flags)`.
    pub fn conffiles(&self) -> Vec<(String, String, String)> {
        conffiles_field(self.stanza.get("Conffiles").unwrap_or_default())
    }
}

/// Parse a `Conffiles` value: ` /etc/x <md5> [obsolete] [remove-on-upgrade]` lines.
pub fn conffiles_field(v: &str) -> Vec<(String, String, String)> {
    v.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let path = it.next()?.to_owned();
            let md5 = it.next()?.to_owned();
            let flags: Vec<&str> = it.collect();
            Some((path, md5, flags.join(" ")))
        })
        .collect()
}

fn is_installed(s: &Stanza) -> bool {
    s.get("Status")
        .is_none_or(|st| st.split_whitespace().nth(2) == Some("installed"))
}

/// Find the installed `package` (of `arch`, if given; `all` matches any).
pub fn find(cx: &mut Context<'_>, package: &str, arch: Option<&str>) -> Result<Option<Installed>> {
    let wanted = |s: &Stanza| {
        s.get("Package") == Some(package)
            && is_installed(s)
            && arch.is_none_or(|a| {
                let have = s.get("Architecture").unwrap_or_default();
                a == "all" || have == "all" || have == a
            })
    };
    let make = |s: Stanza, layout: Layout| {
        let arch = s.get("Architecture").unwrap_or_default().to_owned();
        let info_name = if s.get("Multi-Arch") == Some("same") {
            format!("{package}:{arch}")
        } else {
            package.to_owned()
        };
        Installed {
            name: package.to_owned(),
            version: s.get("Version").unwrap_or_default().to_owned(),
            arch,
            info_name,
            stanza: s,
            layout,
        }
    };
    if cx.exists(STATUS)? {
        let text = cx.read_to_string(STATUS)?;
        let found = paragraphs(&text)
            .map_err(|e| Error::msg(format!("{STATUS}: {e}")))?
            .into_iter()
            .map(|(_, s)| s)
            .find(|s| wanted(s));
        return Ok(found.map(|s| make(s, Layout::Status)));
    }
    let dir = format!("{ADMIN}/status.d");
    if cx.lstat(&dir)?.is_some_and(|m| m.kind == Kind::Dir) {
        let mut names: Vec<String> = cx
            .read_dir(&dir)?
            .into_iter()
            .filter(|e| e.kind == Kind::File && !e.name.ends_with(".md5sums"))
            .map(|e| e.name)
            .collect();
        names.sort();
        for file in names {
            let text = cx.read_to_string(&format!("{dir}/{file}"))?;
            for s in
                Stanza::parse_all(&text).map_err(|e| Error::msg(format!("{dir}/{file}: {e}")))?
            {
                if wanted(&s) {
                    return Ok(Some(make(s, Layout::StatusD { file })));
                }
            }
        }
    }
    Ok(None)
}

/// Replace the installed package's record with `stanza`: its paragraph in
/// `status` (every other byte of the file unchanged) or its `status.d` file.
pub fn write_stanza(cx: &mut Context<'_>, inst: &Installed, stanza: &Stanza) -> Result<()> {
    match &inst.layout {
        Layout::Status => {
            let text = cx.read_to_string(STATUS)?;
            let paras = paragraphs(&text).map_err(|e| Error::msg(format!("{STATUS}: {e}")))?;
            let (range, _) = paras
                .into_iter()
                .find(|(_, s)| {
                    s.get("Package") == Some(inst.name.as_str())
                        && s.get("Architecture") == Some(inst.arch.as_str())
                        && is_installed(s)
                })
                .ok_or_else(|| Error::msg(format!("{STATUS}: {} vanished", inst.name)))?;
            let mut out = String::with_capacity(text.len() + 256);
            out.push_str(&text[..range.start]);
            out.push_str(&stanza.to_dpkg_text());
            out.push_str(&text[range.end..]);
            let mode = cx.stat(STATUS)?.map_or(0o644, |m| m.mode);
            cx.write_file(STATUS, out.as_bytes(), mode)?;
        }
        Layout::StatusD { file } => {
            let path = format!("{ADMIN}/status.d/{file}");
            let mode = cx.stat(&path)?.map_or(0o644, |m| m.mode);
            cx.write_file(&path, stanza.to_text().as_bytes(), mode)?;
        }
    }
    Ok(())
}

/// Set the md5sums of `changed` files (absolute paths) in the package's
/// md5sums file, so `dpkg --verify` stays clean after a backport.
///
/// Every path must be the package's: listed in its md5sums, its `.list`, or
/// its `Conffiles` (dpkg tracks conffiles by the status hash, not md5sums,
/// so those lines are left alone). Anything else is refused: a backport
/// must not touch files the package does not own. Old distroless images
/// carry neither md5sums nor a list; then there is nothing to check or keep.
pub fn update_md5sums(cx: &mut Context<'_>, inst: &Installed, changed: &[String]) -> Result<()> {
    let path = inst.info_file("md5sums");
    let list = inst.info_file("list");
    let mut sums = if cx.exists(&path)? {
        let text = cx.read_to_string(&path)?;
        Some(md5sums::parse(&text).map_err(|e| Error::msg(format!("{path}: {e}")))?)
    } else {
        None
    };
    let listed: Option<Vec<String>> = if cx.exists(&list)? {
        Some(
            cx.read_to_string(&list)?
                .lines()
                .map(str::to_owned)
                .collect(),
        )
    } else {
        None
    };
    if sums.is_none() && listed.is_none() {
        return Ok(());
    }
    let conffiles: Vec<String> = inst.conffiles().into_iter().map(|(p, _, _)| p).collect();
    for file in changed {
        let in_sums = sums
            .as_ref()
            .is_some_and(|s| s.iter().any(|(p, _)| p == file));
        let owned = in_sums
            || conffiles.contains(file)
            || listed.as_ref().is_some_and(|l| l.contains(file));
        if !owned {
            return Err(Error::msg(format!(
                "{file} is not a file of the package {}: a backport may only change files it owns",
                inst.name
            )));
        }
        if in_sums {
            let sum = rootwasm_deb::md5_hex(&cx.read(file)?);
            if let Some(slot) = sums
                .as_mut()
                .and_then(|s| s.iter_mut().find(|(p, _)| p == file))
            {
                slot.1 = sum;
            }
        }
    }
    if let Some(sums) = sums {
        let mode = cx.stat(&path)?.map_or(0o644, |m| m.mode);
        cx.write_file(&path, md5sums::format(&sums).as_bytes(), mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conffiles() {
        let c = conffiles_field("\n /etc/a 0123 obsolete\n /etc/b 4567");
        assert_eq!(c[0], ("/etc/a".into(), "0123".into(), "obsolete".into()));
        assert_eq!(c[1].2, "");
    }
}
