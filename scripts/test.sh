#!/usr/bin/env bash
# Every test, from a fresh clone: setup, formatting, lints, then the suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
export ROOTWASM_TEST_PYTHON="$PWD/target/py/bin/python"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
