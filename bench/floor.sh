#!/usr/bin/env bash
# floor.sh - how much of a request's CPU SwiftNIO takes before any HTTP work: nginx's HTTP proxy,
# Ferry's tcp_proxy (bench/ferry-bench-tcp.yaml: the same bytes, no parsing) and Ferry's HTTP
# proxy (bench/ferry-bench.yaml), one worker each, in front of one backend nginx, measured in
# turn round after round. CPU is the proxy's user and system time from /proc/<pid>/stat
# (nginx: its worker process). See docs/benchmarks.md, "The floor".
#
#   bench/floor.sh                         # wrk -t1 -c64, 5 s per run, 2 rounds
#   bench/floor.sh --rounds 3 --duration 4
#   bench/floor.sh --rate 2000             # h2load --h1 at a fixed 2000 requests/s instead
#
# Ports: backend 18280, nginx proxy 18281, Ferry tcp_proxy 18282, Ferry HTTP 18283 (admin
# 19982/19983). Needs nginx, wrk (and h2load for --rate); builds ferry in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/side-by-side-lib.sh
rounds=2 duration=5 rate=0
side_by_side_options "$@"
side_by_side_setup
start_nginx backend 'server { listen 127.0.0.1:18280 backlog=4096; location / { default_type text/plain; return 200 "hello\n"; } }'
start_nginx proxy 'upstream be { server 127.0.0.1:18280; keepalive 512; }
    server { listen 127.0.0.1:18281 backlog=4096; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }'
start_ferry tcp bench/ferry-bench-tcp.yaml 18282 19982 18280
start_ferry http bench/ferry-bench.yaml 18283 19983 18280
wait_for_ports 18280 18281 18282 18283
# nginx's worker: the child of the proxy's master.
pid_nginx=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)

echo "nginx HTTP proxy (:18281), Ferry tcp_proxy (:18282), Ferry HTTP (:18283); $(load_description), $rounds rounds; $(nproc) CPUs, $(uname -r)"
for p in "$pid_nginx:18281" "$pid_tcp:18282" "$pid_http:18283"; do measure "${p%%:*}" "${p##*:}" >/dev/null; done  # warm-up
for i in $(seq "$rounds"); do
  echo "round $i  nginx-http  $(measure "$pid_nginx" 18281)"
  echo "round $i  ferry-tcp   $(measure "$pid_tcp" 18282)"
  echo "round $i  ferry-http  $(measure "$pid_http" 18283)"
done
