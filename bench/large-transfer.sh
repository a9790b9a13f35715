#!/usr/bin/env bash
# Streams a 1 GiB upload and a 1 GiB download through Ferry (release build, one worker) with curl
# against a `ferry echo` upstream, and reports Ferry's peak resident memory (VmHWM). The issue's
# bound is 64 MiB: bodies must stream with backpressure, never be buffered whole.
#   bench/large-transfer.sh [SIZE_BYTES]      (default 1073741824)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1073741824}
FERRY=${FERRY:-.build/release/ferry}
[ -x "$FERRY" ] || swift build -c release --product ferry
T=$(mktemp -d /tmp/ferry-large.XXXXXX)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(pick_port); PX=$(pick_port)
"$FERRY" echo --port "$UP" --name big > "$T/echo.log" 2>&1 &
cat > "$T/ferry.yaml" <<YAML
static_resources:
  listeners:
  - name: big
    address: {socket_address: {address: 127.0.0.1, port_value: $PX}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: big
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: up, timeout: 0s}
  clusters:
  - name: up
    load_assignment:
      cluster_name: up
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $UP}}}}]}]
YAML
"$FERRY" -c "$T/ferry.yaml" --concurrency 1 -l warning > "$T/ferry.log" 2>&1 &
FERRY_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PX/" && break; sleep 0.1; done
truncate -s "$SIZE" "$T/upload.bin"
start=$(date +%s.%N)
up=$(curl -s -T "$T/upload.bin" -H 'content-type: application/octet-stream' "http://127.0.0.1:$PX/upload")
mid=$(date +%s.%N)
down=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$PX/bytes/$SIZE")
end=$(date +%s.%N)
received=$(sed -E 's/.*"body_bytes":([0-9]+).*/\1/' <<<"$up")
hwm=$(awk '/VmHWM/{print $2}' /proc/$FERRY_PID/status)
rss=$(awk '/VmRSS/{print $2}' /proc/$FERRY_PID/status)
awk -v s="$SIZE" -v r="$received" -v d="$down" -v t0="$start" -v t1="$mid" -v t2="$end" -v h="$hwm" -v now="$rss" 'BEGIN{
  printf "upload:   %d bytes sent, %d received by the upstream, %.1f MiB/s\n", s, r, s/1048576/(t1-t0)
  printf "download: %d bytes received, %.1f MiB/s\n", d, s/1048576/(t2-t1)
  printf "ferry peak RSS (VmHWM): %.1f MiB; RSS after: %.1f MiB\n", h/1024, now/1024
  ok = (r == s && d == s && h < 65536)
  printf "%s\n", ok ? "PASS: both transfers complete, peak RSS under 64 MiB" : "FAIL"
  exit ok ? 0 : 1 }'
