#!/usr/bin/env bash
# Benchmark `rootwasm apply` of every distro upgrade of the realistic
# outdated bookworm image (scripts/bookworm-image.sh) against `tar -xzf` of
# the same image's layer, side by side in the same loop. Release build,
# warm component and layer-index caches. Needs root and Debian's mirror on
# the first run (the image and the installed versions' .debs are cached).
#
#   bash scripts/bench-bookworm.sh [ROUNDS]      (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bash scripts/setup.sh
bash scripts/bookworm-image.sh
cargo build --quiet --release -p rootwasm
rw=${CARGO_TARGET_DIR:-target}/release/rootwasm
img=target/bookworm
b=target/bench-bookworm
mkdir -p "$b"

# The installed versions' .debs (so recipes may remove dropped files), with
# the image's own apt lists, run on the host.
old="$img/installed-debs"
if [ ! -f "$old/done" ]; then
    mkdir -p "$old" "$b/apt/lists/partial" "$b/apt/cache"
    (cd "$old" && apt-get download -qq -oDebug::NoLocking=1 -oAPT::Architecture=amd64 \
        -oDir::State::Lists="$(realpath ../lists)" -oDir::Cache="$(realpath ../../bench-bookworm/apt/cache)" \
        -oDir::Etc::SourceList="$(realpath ../root/etc/apt/sources.list)" -oDir::Etc::SourceParts=/dev/null \
        -oDir::State::status="$(realpath ../root/var/lib/dpkg/status)" \
        $(awk -F'\t' '{print $1"="$3}' ../outdated.tsv)) 2>/dev/null
    touch "$old/done"
fi

# One recipe per source version for its outdated binary packages, as
# `recipe sync` writes them.
r="$b/recipes-by-source"
if [ ! -f "$r/done" ]; then
    rm -rf "$r" && mkdir -p "$r/dpkg-upgrade"
    cp recipes/dpkg-upgrade/component.wasm "$r/dpkg-upgrade/"
    declare -A members
    while IFS=$'\t' read -r pkg _arch _inst _newest deb; do
        src=$(dpkg-deb --show --showformat='${source:Package}_${source:Version}' "$img/debs/$deb")
        members[$src]+="$pkg:$deb "
    done <"$img/outdated.tsv"
    n=0
    for src in $(printf '%s\n' "${!members[@]}" | sort); do
        n=$((n + 1))
        args=()
        for m in ${members[$src]}; do
            args+=(--deb "$img/debs/${m#*:}" --installed "$(ls "$old/${m%%:*}_"*.deb)")
        done
        first=${members[$src]%% *}
        args+=(--changelog-from "$img/debs/${first#*:}" --recipes "$r")
        # A changelog naming no CVE gets a placeholder id (as tests/it/bookworm.rs).
        "$rw" recipe new distro-upgrade "${args[@]}" >/dev/null 2>&1 \
            || "$rw" recipe new distro-upgrade "${args[@]}" \
                --fix "$(printf 'TEMP-0000000-%06X' "$n")" >/dev/null
    done
    touch "$r/done"
fi

layer=$(python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json")); m=json.load(open(d+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(d+"/blobs/sha256/"+m["layers"][0]["digest"][7:])' "$img/oci")
echo "image: $(wc -l <"$img/outdated.tsv") outdated packages in $(ls -d "$r"/debian-* | wc -l) recipes; layer $(du -h "$layer" | cut -f1) gzip"
cache="$b/cache"
args=(apply "oci:$img/oci:bookworm-outdated" --recipes "$r" --output "oci:$b/out:patched"
    --no-evidence --cache-dir "$cache" --max-captured-bytes 2000000000)
# Warm both caches; print what applied.
rm -rf "$b/out"; "$rw" "${args[@]}" --json >"$b/result.json" 2>/dev/null || true
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["platforms"][0]["recipes"]; from collections import Counter; print("results:", dict(Counter(x["result"] for x in r)))' "$b/result.json"

t() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
# Each timed command starts with no dirty pages left by the one before it
# (`sync`): otherwise the disk's writeback of one lands in the other's time.
for _ in $(seq "$rounds"); do
    rm -rf "$b/x" && mkdir "$b/x" && sync
    echo "tar -xzf:            $(t tar -xzf "$layer" -C "$b/x")  (seconds, peak KiB)"
    rm -rf "$b/out" && sync
    echo "rootwasm apply warm: $(t "$rw" "${args[@]}")"
done
rm -rf "$b/x" "$b/out"
