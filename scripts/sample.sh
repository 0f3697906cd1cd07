#!/usr/bin/env bash
# The main job on the built-in sample: patch a container image made of a
# Debian bookworm root (real packages) and a pip install of requests 2.30.0,
# upgrading libexpat1 to Debian's fixed package and backporting the fix for
# CVE-2023-32681 into requests. The sample image is built from the
# vendored packages on the first run and cached in target/sample/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --quiet -p rootwasm -p rootwasm-testimage

./target/debug/build-sample "$PWD" target/sample/image
rm -rf target/sample/patched target/sample/journal
./target/debug/rootwasm apply oci:target/sample/image:bookworm-requests \
    --recipes recipes \
    --output oci:target/sample/patched:bookworm-requests \
    --journal-dir target/sample/journal
echo
echo "== journal (target/sample/journal/default/journal.json)"
cat target/sample/journal/default/journal.json
