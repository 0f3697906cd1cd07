#!/usr/bin/env bash
# Everything the sample and the tests need on a fresh Debian machine (as root),
# idempotent: the Rust wasm target, and a Python venv with the test oracles.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust 1.95 with rustup first" >&2
    exit 1
fi
rustup target add wasm32-wasip2 >/dev/null

if [ "${1:-}" = "--tests" ]; then
    # Other people's tools that check our output.
    missing=""
    for tool in skopeo umoci; do
        command -v "$tool" >/dev/null || missing="$missing $tool"
    done
    # A real registry for the docker:// tests (registry.rs): Debian's
    # distribution 2.8, with openssl for its TLS certificates, htpasswd for
    # its bcrypt password file, and curl to read what a scanner would.
    command -v docker-registry >/dev/null || missing="$missing docker-registry"
    command -v htpasswd >/dev/null || missing="$missing apache2-utils"
    command -v openssl >/dev/null || missing="$missing openssl"
    command -v curl >/dev/null || missing="$missing curl"
    # GNU time measures peak memory of the crafted-image tests (budgets.rs).
    [ -x /usr/bin/time ] || missing="$missing time"
    # librpm is the rpmvercmp oracle (through Debian's python3) and builds the rpmdb fixture.
    command -v rpmbuild >/dev/null || missing="$missing rpm"
    # The realistic bookworm image (scripts/bookworm-image.sh) and the
    # installed versions' .debs the maintainer-script tests fetch.
    command -v debootstrap >/dev/null || missing="$missing debootstrap"
    command -v curl >/dev/null || missing="$missing curl"
    /usr/bin/python3 -c 'import rpm' 2>/dev/null || missing="$missing python3-rpm"
    # The catalog's behaviour tests run Debian's interpreters, and install
    # packages with the real npm and gem (host/tests/it/catalog.rs).
    [ -x /usr/bin/node ] || missing="$missing nodejs"
    command -v npm >/dev/null || missing="$missing npm"
    [ -x /usr/bin/ruby ] || missing="$missing ruby"
    # Headless Chromium opens the Patch Explorer page (explore.rs, through Selenium).
    command -v chromium >/dev/null || missing="$missing chromium"
    command -v chromedriver >/dev/null || missing="$missing chromium-driver"
    # `recipe sync` tests build a Debian repository with Debian's own tools and sign it.
    command -v apt-ftparchive >/dev/null || missing="$missing apt-utils"
    command -v gpg >/dev/null || missing="$missing gpg"
    command -v xz >/dev/null || missing="$missing xz-utils"
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing="$missing debian-archive-keyring"
    if [ -n "$missing" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
    py=target/py/bin/python
    if [ ! -x "$py" ]; then
        python3 -m venv target/py
    fi
    "$py" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
