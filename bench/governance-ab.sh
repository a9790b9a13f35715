#!/usr/bin/env bash
# governance-ab.sh - Ferry's proxy CPU per request with every governance filter off and on,
# measured side by side: one backend nginx (answering "200 hello"), one Ferry on
# bench/ferry-bench.yaml and one on bench/ferry-bench-governance.yaml (both one worker), and the
# load pointed at each in turn, round after round, so both see the same machine state.
# CPU is the proxy process's user and system time from /proc/<pid>/stat.
#
#   bench/governance-ab.sh                 # wrk -t1 -c64, 3 s per run, 4 rounds (saturation)
#   bench/governance-ab.sh --rate 2000     # h2load --h1 at a fixed 2000 requests/s over 16 connections
#   bench/governance-ab.sh --rounds 6 --duration 5
#
# Ports: backend 18180, filters off 18183, filters on 18184 (admin 19983/19984). Needs nginx, wrk,
# h2load; builds ferry in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
rounds=4 duration=3 rate=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --rate) rate=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
swift build -c release --product ferry >/dev/null
FERRY=$ROOT/.build/release/ferry
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
    server { listen 127.0.0.1:18180 backlog=4096; location / { default_type text/plain; return 200 "hello\n"; } }
}
EOF
nginx -c "$work/nginx.conf" & pids+=($!)
for name in off on; do
  src=bench/ferry-bench.yaml port=18183 admin=19983
  [ $name = on ] && src=bench/ferry-bench-governance.yaml port=18184 admin=19984
  sed -e "s/port_value: 18083/port_value: $port/" -e "s/port_value: 19901/port_value: $admin/" \
      -e "s/port_value: 18080/port_value: 18180/" "$src" > "$work/$name.yaml"
  "$FERRY" -c "$work/$name.yaml" --concurrency 1 -l warning > "$work/$name.log" 2>&1 & pids+=($!)
  eval "pid_$name=$!"
done
for port in 18180 18183 18184; do
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
done

source bench/cpu-lib.sh
load=$([ "$rate" = 0 ] && echo "wrk -t1 -c64 -d${duration}s" || echo "h2load --h1 -c16 at $rate req/s for ${duration}s")
echo "governance filters off (:18183) and on (:18184), $load, $rounds rounds; $(nproc) CPUs, $(uname -r)"
measure "$pid_off" 18183 >/dev/null; measure "$pid_on" 18184 >/dev/null  # warm-up
for i in $(seq "$rounds"); do
  echo "round $i  off $(measure "$pid_off" 18183)"
  echo "round $i  on  $(measure "$pid_on" 18184)"
done
