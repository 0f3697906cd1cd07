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
    # GNU time measures peak memory of the crafted-image tests (budgets.rs).
    [ -x /usr/bin/time ] || missing="$missing time"
    # librpm is the rpmvercmp oracle (through Debian's python3) and builds the rpmdb fixture.
    command -v rpmbuild >/dev/null || missing="$missing rpm"
    /usr/bin/python3 -c 'import rpm' 2>/dev/null || missing="$missing python3-rpm"
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
