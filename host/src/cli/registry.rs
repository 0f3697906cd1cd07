//! skopeo's registry flags, shared by every verb that reads or writes `docker://`.

use clap::Args;
use rootwasm::image::registry::RegistryOptions;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Registry credentials, user:password [default: $REGISTRY_AUTH_FILE,
    /// ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json,
    /// $DOCKER_CONFIG/config.json or ~/.docker/config.json, and their credential helpers].
    #[arg(long, value_name = "USER:PASSWORD")]
    creds: Option<String>,
    /// Directory of CA certificates (*.crt) trusted besides the system's, as skopeo's --cert-dir.
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Check registry TLS certificates and host names (--tls-verify=false skips both).
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", require_equals = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
}

impl RegistryArgs {
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            creds: self.creds.clone(),
            cert_dir: self.cert_dir.clone(),
            insecure: !self.tls_verify,
        }
    }
}
