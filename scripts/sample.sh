#!/usr/bin/env bash
# The main job on the built-in sample: backport the fix for CVE-2023-32681
# into the vendored pip install of requests 2.30.0, then print the journal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --quiet -p rootwasm

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a tests/fixtures/requests-2.30.0/rootfs "$work/rootfs"

echo "== dry run" >&2
./target/debug/rootwasm run recipes/requests-cve-2023-32681 --rootfs "$work/rootfs"
echo >&2
echo "== commit, printing the journal" >&2
./target/debug/rootwasm run recipes/requests-cve-2023-32681 --rootfs "$work/rootfs" --commit --json
