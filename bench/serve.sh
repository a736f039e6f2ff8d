#!/usr/bin/env bash
# Load test of `memdx serve` with wrk (Debian: apt-get install -y wrk), by hand (not CI).
# Usage: bench/serve.sh [SECONDS] [BINARY]. Loopback only. Peer, same run: python3's http.server
# serving a saved copy of the same /metrics body (what a static file costs on this machine).
set -euo pipefail
D=${1:-30}
BIN=${2:-target/release/memdx}
T=$(mktemp -d)
"$BIN" serve --listen 127.0.0.1:0 2>"$T/err" & spid=$!
cleanup() { kill $spid ${ppid:-} 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
for _ in $(seq 50); do grep -q http "$T/err" && break; sleep 0.1; done
addr=$(grep -o '127.0.0.1:[0-9]*' "$T/err")
curl -s "http://$addr/metrics" > "$T/metrics"
echo "== memdx serve ($addr), $(wc -l < "$T/metrics") lines"
wrk -t2 -c4 -d"${D}s" --latency "http://$addr/metrics" | tee "$T/wrk1"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$T" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) & ppid=$!
sleep 1
echo "== peer: python3 http.server, static copy"
wrk -t2 -c4 -d"${D}s" --latency "http://127.0.0.1:$port/metrics" | tee "$T/wrk2"
r1=$(awk '/Requests\/sec/{print $2}' "$T/wrk1"); r2=$(awk '/Requests\/sec/{print $2}' "$T/wrk2")
echo "requests/s memdx $r1, peer $r2, ratio $(awk -v a="$r1" -v b="$r2" 'BEGIN{printf "%.2f", a/b}')"
