//! Registry credentials as skopeo, podman and docker find them: the auth
//! files of containers-auth.json(5) in their order, each's `credHelpers`,
//! `auths` and `credsStore`, and the docker credential-helper protocol.
//!
//! Hand-written: the `docker_credential` crate reads only docker's
//! `config.json` from `$DOCKER_CONFIG`, not `$REGISTRY_AUTH_FILE` or
//! podman's `auth.json`, and takes no path to read instead.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A user name and password (or token) for one registry, and where they came from.
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
    /// The file or helper that gave them, for messages.
    pub from: String,
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

/// The auth files, in the order containers-auth.json(5) reads them.
pub fn auth_files() -> Vec<PathBuf> {
    auth_files_with(|k| std::env::var_os(k))
}

fn auth_files_with(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let env = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    files.extend(env("HOME").map(|h| h.join(".config/containers/auth.json")));
    match env("DOCKER_CONFIG") {
        Some(d) => files.push(d.join("config.json")),
        None => files.extend(env("HOME").map(|h| h.join(".docker/config.json"))),
    }
    files
}

/// `host[:port]` of an `auths` key, which may be a URL (`https://index.docker.io/v1/`).
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// Docker Hub goes by several names.
fn same_registry(a: &str, b: &str) -> bool {
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    a == b || (hub(a) && hub(b))
}

/// Credentials for `registry` (`host[:port]`), from the first auth file
/// that has any; `None` if none has (anonymous access).
pub fn lookup(registry: &str) -> Result<Option<Credentials>, String> {
    for path in auth_files() {
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let file: AuthFile = serde_json::from_slice(&text).map_err(|e| {
            format!(
                "{}: not a valid auth file ({e}); fix or remove it",
                path.display()
            )
        })?;
        if let Some((_, helper)) = file
            .cred_helpers
            .iter()
            .find(|(k, _)| same_registry(key_host(k), registry))
        {
            return helper_get(helper, registry);
        }
        if let Some((_, entry)) = file
            .auths
            .iter()
            .find(|(k, _)| same_registry(key_host(k), registry))
            && let Some(auth) = &entry.auth
        {
            return decode(auth, &path).map(Some);
        }
        if let Some(helper) = &file.creds_store
            && let Some(c) = helper_get(helper, registry)?
        {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn decode(auth: &str, path: &std::path::Path) -> Result<Credentials, String> {
    use base64::Engine as _;
    let bad = || {
        format!(
            "{}: an `auth` entry is not base64 of user:password",
            path.display()
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (user, pass) = text.split_once(':').ok_or_else(bad)?;
    Ok(Credentials {
        username: user.into(),
        password: pass.into(),
        from: path.display().to_string(),
    })
}

/// `docker-credential-<helper> get`, the server on stdin, JSON on stdout.
/// A helper that has nothing for the server says so and exits non-zero.
fn helper_get(helper: &str, registry: &str) -> Result<Option<Credentials>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        username: String,
        secret: String,
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("credential helper {program}: {e}; install it or remove it from the auth file")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("credential helper {program}: {e}"))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).to_lowercase()
            + &String::from_utf8_lossy(&out.stderr).to_lowercase();
        if msg.contains("not found") {
            return Ok(None);
        }
        return Err(format!(
            "credential helper {program} failed for {registry}: {}",
            msg.trim()
        ));
    }
    let r: Reply = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("credential helper {program}: unexpected output ({e})"))?;
    if r.username == "<token>" {
        return Err(format!(
            "credential helper {program} gave an identity token for {registry}; rootwasm needs a user name and password or token: use --creds"
        ));
    }
    Ok(Some(Credentials {
        username: r.username,
        password: r.secret,
        from: program,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_keys_name_hosts() {
        assert_eq!(key_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(key_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert!(same_registry("docker.io", "index.docker.io"));
        assert!(!same_registry("ghcr.io", "docker.io"));
    }

    #[test]
    fn auth_files_in_containers_auth_json_order() {
        let env = |k: &str| {
            Some(match k {
                "REGISTRY_AUTH_FILE" => "/a/auth.json".into(),
                "XDG_RUNTIME_DIR" => "/run/user/1".into(),
                "HOME" => "/home/u".into(),
                _ => return None,
            })
        };
        let files: Vec<String> = auth_files_with(env)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/a/auth.json",
                "/run/user/1/containers/auth.json",
                "/home/u/.config/containers/auth.json",
                "/home/u/.docker/config.json"
            ]
        );
        let with_docker = auth_files_with(|k| (k == "DOCKER_CONFIG").then(|| "/d".into()));
        assert_eq!(with_docker, [PathBuf::from("/d/config.json")]);
    }
}
