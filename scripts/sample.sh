#!/usr/bin/env bash
# The main job on the built-in sample: patch a container image made of a
# Debian bookworm root (real packages) and a pip install of requests 2.30.0,
# upgrading libexpat1 to Debian's fixed package and backporting the fix for
# CVE-2023-32681 into requests; then review the result as a reviewer would.
# The sample image is built from the vendored packages on the first run and
# cached in target/sample/; the signing key is target/sample/signing-key.pem.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --quiet -p rootwasm -p rootwasm-testimage

export ROOTWASM_KEY="$PWD/target/sample/signing-key.pem"
rw=./target/debug/rootwasm
out=oci:target/sample/patched:bookworm-requests
./target/debug/build-sample "$PWD" target/sample/image
rm -rf target/sample/patched target/sample/journal
$rw apply oci:target/sample/image:bookworm-requests \
    --recipes recipes --output "$out" \
    --journal-dir target/sample/journal
echo
echo "== history"
$rw history "$out"
echo
echo "== verify (signature, subject, layers, journal replay)"
$rw verify "$out" --key "$ROOTWASM_KEY.pub.pem"
echo
echo "== journal (also: $rw attestation $out journal)"
cat target/sample/journal/default/journal.json
echo
echo "== patch explorer"
$rw explore "$out" -o target/sample/report.html --recipes recipes --key "$ROOTWASM_KEY.pub.pem" \
    --advisories tests/fixtures/advisories/trivy-sample.json
echo "report: $PWD/target/sample/report.html"
