#!/usr/bin/env bash
# A realistic outdated Debian image, built from Debian's archive and cached:
# a debootstrap bookworm minbase plus curl, python3.11, sudo, ca-certificates,
# libxml2 and openssl, with every package that bookworm, bookworm-updates or
# bookworm-security carries in an older version pinned to that older version
# (the way a user who pins through apt ends up with one). Test tooling only:
# it runs apt and dpkg in a chroot of a directory it owns, never an image.
#
#   bash scripts/bookworm-image.sh [OUT]     (default target/bookworm; root)
#
# OUT/oci          OCI layout, tag `bookworm-outdated` (one gzip layer)
# OUT/root.tar     the same rootfs as an uncompressed tar
# OUT/outdated.tsv package, arch, installed version, newest version, .deb file
# OUT/debs/        the newest .deb of every outdated package
# OUT/lists/       apt's package lists (the image carries none, as Docker's don't)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-target/bookworm}")
# Tests build it from several threads at once: one builds, the others wait.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
[ -f "$out/done" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "error: building $out needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
mirror=http://deb.debian.org/debian
rm -rf "$out" && mkdir -p "$out/debs"
root="$out/root"
echo "bookworm-image: debootstrap minbase into $root" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$out/debootstrap.log" 2>&1 \
    || { tail -20 "$out/debootstrap.log" >&2; exit 1; }
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends ca-certificates curl python3.11 sudo libxml2 openssl >/dev/null

# Every installed package with several versions in the three suites: pin the
# oldest, remember the newest.
versions() { in_root apt-cache madison "$1" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -u; }
pins=()
while read -r pkg; do
    vs=$(versions "$pkg")
    [ "$(echo "$vs" | wc -l)" -gt 1 ] || continue
    oldest=$(echo "$vs" | head -1)
    for v in $vs; do dpkg --compare-versions "$v" lt "$oldest" && oldest=$v; done
    pins+=("$pkg=$oldest")
done < <(in_root dpkg-query -W -f '${Package}\n')
echo "bookworm-image: pinning ${#pins[@]} packages to their oldest bookworm version" >&2
in_root apt-get install -y -qq --allow-downgrades --no-install-recommends "${pins[@]}" >/dev/null

# What is outdated now, and the newest .deb of each.
: >"$out/outdated.tsv"
while IFS=' ' read -r pkg arch have; do
    newest=$have
    for v in $(versions "$pkg"); do dpkg --compare-versions "$v" gt "$newest" && newest=$v; done
    [ "$newest" = "$have" ] && continue
    in_root sh -c "cd /tmp && apt-get download -qq '$pkg=$newest'" >/dev/null
    deb=$(cd "$root/tmp" && ls "${pkg}_"*.deb)
    mv "$root/tmp/$deb" "$out/debs/"
    printf '%s\t%s\t%s\t%s\t%s\n' "$pkg" "$arch" "$have" "$newest" "$deb" >>"$out/outdated.tsv"
done < <(in_root dpkg-query -W -f '${Package} ${Architecture} ${Version}\n')
echo "bookworm-image: $(wc -l <"$out/outdated.tsv") outdated packages" >&2

# The image: no apt lists or downloaded debs, as official images ship.
mkdir -p "$out/lists"
cp -a "$root/var/lib/apt/lists/." "$out/lists/"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/tmp/*
# Owners as on disk (sudo's, /var/mail's group), not all root; file times
# kept, as `docker build` keeps them (Python's bytecode names its source's).
tar --sort=name --numeric-owner -C "$root" -cf "$out/root.tar" .
python3 - "$out" <<'EOF'
import gzip, hashlib, json, os, sys
out = sys.argv[1]
blobs = os.path.join(out, "oci", "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return "sha256:" + d, len(data)
raw = open(os.path.join(out, "root.tar"), "rb").read()
layer, layer_size = put(gzip.compress(raw, mtime=0))
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["bash"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    "history": [{"created_by": "scripts/bookworm-image.sh: debootstrap minbase bookworm, older versions pinned"}],
}, sort_keys=True).encode()
cfg, cfg_size = put(config)
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
}, sort_keys=True).encode()
man, man_size = put(manifest)
open(os.path.join(out, "oci", "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man, "size": man_size,
    "annotations": {"org.opencontainers.image.ref.name": "bookworm-outdated"}}]},
    open(os.path.join(out, "oci", "index.json"), "w"))
EOF
touch "$out/done"
echo "bookworm-image: oci:$out/oci:bookworm-outdated" >&2
