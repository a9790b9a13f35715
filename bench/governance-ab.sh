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
source bench/side-by-side-lib.sh
rounds=4 duration=3 rate=0
side_by_side_options "$@"
side_by_side_setup
start_nginx backend 'server { listen 127.0.0.1:18180 backlog=4096; location / { default_type text/plain; return 200 "hello\n"; } }'
start_ferry off bench/ferry-bench.yaml 18183 19983 18180
start_ferry on bench/ferry-bench-governance.yaml 18184 19984 18180
wait_for_ports 18180 18183 18184

echo "governance filters off (:18183) and on (:18184), $(load_description), $rounds rounds; $(nproc) CPUs, $(uname -r)"
measure "$pid_off" 18183 >/dev/null; measure "$pid_on" 18184 >/dev/null  # warm-up
for i in $(seq "$rounds"); do
  echo "round $i  off $(measure "$pid_off" 18183)"
  echo "round $i  on  $(measure "$pid_on" 18184)"
done
