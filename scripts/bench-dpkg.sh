#!/usr/bin/env bash
# Benchmark a Debian distro upgrade: rootwasm's dpkg-upgrade component
# (`rootwasm run --commit`, warm component cache) against Debian's own
# `dpkg --root -i` of the same .deb on an identical root, in the same run.
# Also checks that both leave the same status file.
# Usage: bash scripts/bench-dpkg.sh [runs]   (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo build --quiet --release -p rootwasm
runs=${1:-15}
b=target/bench/dpkg
rm -rf "$b" && mkdir -p "$b"
f=tests/fixtures/debs
recipe=recipes/debian-libexpat1-2.5.0-1-deb12u5-amd64
new=$recipe/libexpat1_2.5.0-1+deb12u5_amd64.deb

# The root: libexpat1 2.5.0-1+deb12u2 installed by dpkg itself.
mkdir -p "$b/root/var/lib/dpkg/"{info,updates,triggers}
touch "$b/root/var/lib/dpkg/"{status,available}
dpkg --root="$b/root" --force-depends -i "$f/libexpat1_2.5.0-1+deb12u2_amd64.deb" >/dev/null 2>&1

export ROOTWASM_CACHE_DIR="$b/cache"
rw=./target/release/rootwasm
cp -a "$b/root" "$b/warm" && $rw run "$recipe" --rootfs "$b/warm" --commit >/dev/null  # fill the cache

ms() { python3 -c 'import sys,statistics; v=sorted(float(x) for x in sys.stdin); print(f"{statistics.median(v):.1f}")'; }
t_rw=(); t_dpkg=()
for i in $(seq "$runs"); do
    rm -rf "$b/a" "$b/d"; cp -a "$b/root" "$b/a"; cp -a "$b/root" "$b/d"
    s=$(date +%s%N); $rw run "$recipe" --rootfs "$b/a" --commit >/dev/null; e=$(date +%s%N)
    t_rw+=($(( (e - s) / 1000 )))
    s=$(date +%s%N); dpkg --root="$b/d" --force-depends -i "$new" >/dev/null 2>&1; e=$(date +%s%N)
    t_dpkg+=($(( (e - s) / 1000 )))
done
cmp "$b/a/var/lib/dpkg/status" "$b/d/var/lib/dpkg/status"
r=$(printf '%s\n' "${t_rw[@]}" | awk '{print $1/1000}' | ms)
d=$(printf '%s\n' "${t_dpkg[@]}" | awk '{print $1/1000}' | ms)
echo "libexpat1 2.5.0-1+deb12u2 -> deb12u5, median of $runs:"
echo "  rootwasm run --commit (dpkg-upgrade component): $r ms"
echo "  dpkg --root -i:                                  $d ms"
python3 -c "print(f'  ratio rootwasm/dpkg: {$r/$d:.2f}')"
