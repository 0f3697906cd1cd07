#!/usr/bin/env bash
# Load benchmark of `rootwasm serve` on 127.0.0.1: wrk (Debian's), 64
# concurrent connections for 10 s each on /vex and /sbom of the patched
# sample, then the server's resident memory before and after. The peer, in
# the same run: Python's threading http.server serving the same blob (the
# ETag names it) from the layout, with no token check.
# Usage: bash scripts/bench-serve.sh [debug|release]   (default: debug)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-debug}
command -v wrk >/dev/null || { apt-get update -qq; apt-get install -y -qq wrk >/dev/null; }
tgt=${CARGO_TARGET_DIR:-target}
if [ "$profile" = release ]; then
    cargo build --quiet --release -p rootwasm -p rootwasm-testimage
else
    cargo build --quiet --workspace
fi
rw=$tgt/$profile/rootwasm
b=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$b"' EXIT
"$tgt/$profile/build-sample" "$PWD" "$b/image" >/dev/null
export ROOTWASM_KEY="$b/key.pem"
$rw key generate "$ROOTWASM_KEY" >/dev/null
mkdir -p "$b/images"
$rw apply oci:"$b/image":bookworm-requests --recipes recipes \
    --output oci:"$b/images/sample":bookworm-requests >/dev/null 2>&1
token=$(head -c 24 /dev/urandom | base64)
printf 'sha256:%s\n' "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" > "$b/tokens"
port=18931
$rw serve --images "$b/images" --tokens "$b/tokens" --listen 127.0.0.1:$port 2>"$b/serve.log" &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2 " kB"}' /proc/$pid/status; }
echo "rootwasm serve ($profile build), pid $pid, RSS at start: $(rss)"
peer_port=18932
python3 -m http.server --bind 127.0.0.1 -d "$b/images/sample/blobs/sha256" $peer_port \
    >/dev/null 2>&1 &
peer=$!
trap 'kill "$pid" "$peer" 2>/dev/null || true; rm -rf "$b"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$peer_port/" && break; sleep 0.1; done
load() { wrk -t 2 -c 64 -d 10s --latency "$@" | grep -E 'Requests/sec|requests in|Non-2xx|Socket errors|50%|99%'; }
for doc in vex sbom; do
    url="http://127.0.0.1:$port/v1/images/tags/sample~bookworm-requests/$doc"
    hex=$(curl -sI -H "Authorization: Bearer $token" "$url" | tr -d '\r"' | awk -F'sha256:' 'tolower($0) ~ /^etag/ {print $2}')
    echo "== GET /$doc, 64 connections, 2 threads, 10 s"
    ours=$(load -H "Authorization: Bearer $token" "$url"); echo "$ours"
    echo "RSS after: $(rss)"
    echo "== peer: python3 -m http.server, the same blob ($hex)"
    theirs=$(load "http://127.0.0.1:$peer_port/$hex"); echo "$theirs"
    rate() { awk '/Requests\/sec/ {print $2}'; }
    echo "ratio (rootwasm serve / http.server requests per second): $(echo "$ours" | rate) / $(echo "$theirs" | rate)" \
        | awk '{printf "%s %.2f\n", $0, $(NF-2) / $NF}'
done
kill -TERM "$pid"; wait "$pid" || true
tail -1 "$b/serve.log"
