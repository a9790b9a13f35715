#!/usr/bin/env bash
# floor.sh - how much of a request's CPU SwiftNIO takes before any HTTP work: nginx's HTTP proxy,
# Ferry's tcp_proxy (bench/ferry-bench-tcp.yaml: the same bytes, no parsing) and Ferry's HTTP
# proxy (bench/ferry-bench.yaml), one worker each, in front of one backend nginx, measured in
# turn round after round. CPU is the proxy's user and system time from /proc/<pid>/stat
# (nginx: its worker process). See docs/benchmarks.md, "The floor".
#
#   bench/floor.sh                         # wrk -t1 -c64, 5 s per run, 2 rounds
#   bench/floor.sh --rounds 3 --duration 4
#
# Ports: backend 18280, nginx proxy 18281, Ferry tcp_proxy 18282, Ferry HTTP 18283 (admin
# 19982/19983). Needs nginx and wrk; builds ferry in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
rounds=2 duration=5 rate=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
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

nginx_conf() {  # $1 name, $2 server block
  cat > "$work/$1.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/$1.pid;
error_log $work/$1.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
    $2
}
CONF
}
nginx_conf backend 'server { listen 127.0.0.1:18280 backlog=4096; location / { default_type text/plain; return 200 "hello\n"; } }'
nginx_conf proxy 'upstream be { server 127.0.0.1:18280; keepalive 512; }
    server { listen 127.0.0.1:18281 backlog=4096; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }'
nginx -c "$work/backend.conf" & pids+=($!)
nginx -c "$work/proxy.conf" & pids+=($!)
for name in tcp http; do
  src=bench/ferry-bench.yaml port=18283 admin=19983
  [ $name = tcp ] && src=bench/ferry-bench-tcp.yaml port=18282 admin=19982
  sed -e "s/port_value: 18083/port_value: $port/" -e "s/port_value: 19901/port_value: $admin/" \
      -e "s/port_value: 18080/port_value: 18280/" "$src" > "$work/$name.yaml"
  "$FERRY" -c "$work/$name.yaml" --concurrency 1 -l warning > "$work/$name.log" 2>&1 & pids+=($!)
  eval "pid_$name=$!"
done
for port in 18280 18281 18282 18283; do
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
done
# nginx's worker: the child of the proxy's master.
pid_nginx=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)

source bench/cpu-lib.sh
echo "nginx HTTP proxy (:18281), Ferry tcp_proxy (:18282), Ferry HTTP (:18283); wrk -t1 -c64 -d${duration}s, $rounds rounds; $(nproc) CPUs, $(uname -r)"
for p in "$pid_nginx:18281" "$pid_tcp:18282" "$pid_http:18283"; do measure "${p%%:*}" "${p##*:}" >/dev/null; done  # warm-up
for i in $(seq "$rounds"); do
  echo "round $i  nginx-http  $(measure "$pid_nginx" 18281)"
  echo "round $i  ferry-tcp   $(measure "$pid_tcp" 18282)"
  echo "round $i  ferry-http  $(measure "$pid_http" 18283)"
done
