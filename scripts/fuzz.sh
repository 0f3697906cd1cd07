#!/usr/bin/env bash
# Fuzz every parser target for SECONDS each (default 240), one after the
# other, on one core at the lowest priority. Not part of the test suite.
#
#   scripts/fuzz.sh [seconds] [target...]
#
# Needs the nightly toolchain; installs cargo-fuzz if it is missing.
# FUZZ_TARGET_DIR sets cargo's target dir (default fuzz/target). New corpus
# entries go to fuzz/corpus/<target>, crashes to fuzz/artifacts/<target>,
# libFuzzer's logs to fuzz/logs/<target> (all git-ignored); the committed
# seeds are fuzz/seeds/<target> (regenerate with fuzz/make-seeds.py).
# Prints, per target, the CPU seconds used and libFuzzer's final stats.
set -euo pipefail

secs=${1:-240}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz=$root/fuzz
tdir=${FUZZ_TARGET_DIR:-$fuzz/target}

if ! cargo fuzz --version >/dev/null 2>&1; then
    nice -n 19 cargo install cargo-fuzz --locked
fi

# No sanitizer: the targets are safe Rust (the C in SQLite and zstd is not
# instrumented either), so ASan would only slow it down; debug assertions
# (-a) keep overflow checks, which turn arithmetic bugs into crashes.
flags=(-s none -a --fuzz-dir "$fuzz" --target-dir "$tdir")
nice -n 19 cargo +nightly fuzz build "${flags[@]}"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir "$fuzz")

failed=0
for t in "${targets[@]}"; do
    corpus=$fuzz/corpus/$t logs=$fuzz/logs/$t
    mkdir -p "$corpus" "$logs" "$fuzz/artifacts/$t"
    # Real packages as extra seeds (copied, so the fixtures are never written).
    if [ "$t" = deb_archive ]; then
        cp -n "$root/tests/fixtures/debs/netbase_6.4_all.deb" "$corpus/"
    fi
    echo "== $t: ${secs}s"
    TIMEFORMAT="cpu: %U user + %S sys seconds, %R wall"
    # -jobs=1 -workers=1: one fuzzing process; its output goes to fuzz-0.log.
    time (cd "$logs" && nice -n 19 cargo +nightly fuzz run "${flags[@]}" "$t" \
        "$corpus" "$fuzz/seeds/$t" -- \
        -max_total_time="$secs" -jobs=1 -workers=1 -timeout=10 \
        -rss_limit_mb=1024 -print_final_stats=1) || { echo "!! $t: libFuzzer exited with $?"; failed=1; }
    grep -E '^stat::|^==[0-9]+== ERROR|panicked at|Test unit written' "$logs/fuzz-0.log" || true
    echo "corpus: $(find "$corpus" -type f | wc -l) files, $(du -sk "$corpus" | cut -f1) KiB"
    echo "crashes: $(find "$fuzz/artifacts/$t" -type f | wc -l)"
done
# A target that crashed or did not build makes the run fail.
exit "$failed"
