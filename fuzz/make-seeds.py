#!/usr/bin/env python3
"""Write the small seed inputs under fuzz/seeds/<target>/ (committed).

Run from anywhere: `python3 fuzz/make-seeds.py`. Deterministic: fixed
mtimes and no timestamps in gzip headers, so re-running changes nothing.
scripts/fuzz.sh adds the larger real files from tests/fixtures at run time.
"""
import gzip, hashlib, io, json, lzma, os, sqlite3, tarfile

tarfile.RECORDSIZE = 512  # no 10 KiB padding: seeds stay small

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEEDS = os.path.join(HERE, "seeds")


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, type, data, linkname, pax) tuples."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, data, link, pax in entries:
            i = tarfile.TarInfo(name)
            i.type, i.mtime, i.mode = kind, 1700000000, 0o755 if kind == tarfile.DIRTYPE else 0o644
            i.linkname, i.size = link, len(data)
            if pax:
                i.pax_headers = pax
            t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


R, D, S, L = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
layer = tar([
    ("etc/", D, b"", "", None),
    ("etc/os-release", R, b"ID=debian\nVERSION_ID=12\n", "", None),
    ("etc/passwd", R, b"root:x:0:0::/root:/bin/sh\n", "", {"SCHILY.xattr.user.k": "v"}),
    ("etc/hosts", L, b"", "etc/passwd", None),
    ("bin", S, b"", "usr/bin", None),
    ("usr/", D, b"", "", None),
    ("usr/.wh.games", R, b"", "", None),
    ("opt/", D, b"", "", None),
    ("opt/.wh..wh..opq", R, b"", "", None),
])
gnu = tar([("usr/share/" + "d" * 120 + "/x", R, b"long name\n", "", None)], tarfile.GNU_FORMAT)
put("tar_layer", "basic", b"\x03" + layer)
put("tar_layer", "gnu-longname", b"\x01" + gnu)
put("tar_layer_gz", "basic", b"\x03" + gz(layer))
put("tar_layer_gz", "multi-member", b"\x01" + gz(layer[:1024]) + gz(layer[1024:]))

# OCI: index -> manifest -> config, digests consistent, separated by 0xff.
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}},
                    separators=(",", ":")).encode()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": len(layer),
                "annotations": {"x": "y"}}],
    "annotations": {"org.opencontainers.image.base.name": "debian:12"},
    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "0" * 64, "size": 1},
}, separators=(",", ":")).encode()
mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest)}
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    dict(mdesc, platform={"architecture": "amd64", "os": "linux"}),
    dict(mdesc, platform={"architecture": "arm64", "os": "linux", "variant": "v8"},
         annotations={"org.opencontainers.image.ref.name": "latest"}),
    dict(mdesc, platform={"architecture": "unknown", "os": "unknown"}),
]}, separators=(",", ":")).encode()
put("oci_json", "index-manifest-config", index + b"\xff" + manifest + b"\xff" + config)

# A .deb built by hand: ar of debian-binary, control.tar.*, data.tar.*.
def ar(members):
    out = b"!<arch>\n"
    for name, data in members:
        out += b"%-16s%-12s%-6s%-6s%-8s%-10d`\n" % (name.encode(), b"0", b"0", b"0", b"100644", len(data))
        out += data + (b"\n" if len(data) % 2 else b"")
    return out


control = b"Package: x\nVersion: 1:2.0-1\nArchitecture: amd64\nMulti-Arch: same\nDescription: d\n long\n .\n more\n"
ctl = tar([("./", D, b"", "", None), ("./control", R, control, "", None),
           ("./conffiles", R, b"/etc/x.conf\nremove-on-upgrade /etc/old\n", "", None),
           ("./md5sums", R, b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/x\n", "", None)], tarfile.GNU_FORMAT)
data = tar([("./", D, b"", "", None), ("./etc/", D, b"", "", None), ("./etc/x.conf", R, b"k=v\n", "", None),
            ("./usr/bin/x", R, b"#!/bin/sh\n", "", None), ("./usr/bin/y", L, b"", "./usr/bin/x", None),
            ("./usr/bin/z", S, b"", "x", None)], tarfile.GNU_FORMAT)
put("deb_archive", "gz-xz.deb", ar([("debian-binary", b"2.0\n"), ("control.tar.gz", gz(ctl)),
                                     ("data.tar.xz", lzma.compress(data, format=lzma.FORMAT_XZ))]))
put("deb_archive", "plain-gz.deb", ar([("debian-binary", b"2.0\n"), ("control.tar", ctl), ("data.tar.gz", gz(data))]))

put("deb_text", "control", control)
put("deb_text", "status", b"# comment\nPackage: a\nStatus: install ok installed\nConffiles:\n /etc/a 0123456789abcdef0123456789abcdef\n\nPackage: b\nVersion: 2\n")
put("deb_text", "changelog", b"expat (2.5.0-1+deb12u2) bookworm-security; urgency=medium\n\n  * Fix CVE-2024-45490, CVE-2024-45491.\n\n -- Someone <s@example.org>  Tue, 24 Sep 2024 18:27:24 +0200\n\nexpat (2.5.0-1) unstable; urgency=medium\n\n  * New.\n\n -- Someone <s@example.org>  Fri, 28 Oct 2022 10:00:00 +0200\n")
put("deb_text", "md5sums", b"377868520d0f9534a21f0f64bdb47862  lib/x86_64-linux-gnu/libexpat.so.1\nd41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n")

put("apk_installed", "installed", b"C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\n\nP:ssl_client\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\no:busybox\np:cmd:ssl_client\n\nV:9\n")

db = sqlite3.connect(os.path.join(ROOT, "tests/fixtures/rpmdb/rootfs/var/lib/rpm/rpmdb.sqlite"))
for hnum, blob in db.execute("SELECT hnum, blob FROM Packages ORDER BY hnum"):
    put("rpm_header", "header-%d" % hnum, bytes(blob))

h = lambda b: hashlib.sha256(b).hexdigest()
st = lambda kind, mode, **kw: dict({"type": kind, "mode": mode, "uid": 0, "gid": 0}, **kw)
entries = [
    ("write-file", "/etc/app/conf", None, st("file", "0644", size=3, sha256=h(b"old")), st("file", "0600", size=3, sha256=h(b"new"))),
    ("mkdir", "/etc/app/d", None, None, st("dir", "0755")),
    ("symlink", "/etc/app/d/l", None, None, st("symlink", "0777", target="../conf")),
    ("hardlink", "/etc/app/h", "/etc/app/conf", None, st("file", "0600", size=3, sha256=h(b"new"))),
    ("rename", "/etc/app/r", "/etc/app/h", None, st("file", "0600", size=3, sha256=h(b"new"))),
    ("chmod", "/etc/app/d", None, st("dir", "0755"), st("dir", "1777")),
    ("chown", "/etc/app/conf", None, st("file", "0600", size=3, sha256=h(b"new")), dict(st("file", "0600", size=3, sha256=h(b"new")), uid=1000)),
    ("remove", "/etc/app/old", None, st("file", "4755", size=0, sha256=h(b"")), None),
]
j = {"format": "rootwasm.journal/v1", "entries": []}
for seq, (op, path, frm, before, after) in enumerate(entries):
    e = {"seq": seq, "recipe": "fuzz-seed", "op": op, "path": path, "before": before, "after": after}
    if frm:
        e["from"] = frm
    j["entries"].append(e)
put("journal", "all-ops.json", (json.dumps(j, indent=2) + "\n").encode())
