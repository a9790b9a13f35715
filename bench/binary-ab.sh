#!/usr/bin/env bash
# binary-ab.sh - two ferry binaries (before and after a change) side by side on
# bench/ferry-bench.yaml, one worker each, in front of one backend nginx; the load goes to each in
# turn, round after round (the order swapping every round), so both see the same machine state.
# CPU is each proxy process's user and system time from /proc/<pid>/stat.
#
#   git stash; swift build -c release --product ferry; cp .build/release/ferry /tmp/ferry-before
#   git stash pop; swift build -c release --product ferry
#   bench/binary-ab.sh /tmp/ferry-before .build/release/ferry --h2c --rounds 10
#
# Options: --h2c (h2load -c16 -m10 over h2c; default wrk -t1 -c64), --rate R (h2load --h1 at R
# requests/s), --rounds N (default 6), --duration S (default 3).
# Ports: backend 18280, A 18283, B 18284 (admin 19283/19284). Needs nginx, wrk, h2load.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/side-by-side-lib.sh
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
a=$(realpath "$1") b=$(realpath "$2"); shift 2
rounds=6 duration=3 rate=0 h2c=0
side_by_side_options "$@"
side_by_side_workdir
start_nginx backend 'server { listen 127.0.0.1:18280 backlog=4096; location / { default_type text/plain; return 200 "hello\n"; } }'
start_ferry a bench/ferry-bench.yaml 18283 19283 18280 "$a"
start_ferry b bench/ferry-bench.yaml 18284 19284 18280 "$b"
wait_for_ports 18280 18283 18284

echo "A $a (:18283), B $b (:18284); $(load_description), $rounds rounds; $(nproc) CPUs, $(uname -r)"
measure "$pid_a" 18283 >/dev/null; measure "$pid_b" 18284 >/dev/null  # warm-up
for i in $(seq "$rounds"); do
  if [ $((i % 2)) = 1 ]; then
    echo "round $i  A $(measure "$pid_a" 18283)"; echo "round $i  B $(measure "$pid_b" 18284)"
  else
    echo "round $i  B $(measure "$pid_b" 18284)"; echo "round $i  A $(measure "$pid_a" 18283)"
  fi
done | tee "$work/rounds"
for x in A B; do
  awk -v x=$x '$3 == x { print $(NF-1) }' "$work/rounds" | sort -n |
    awk -v x=$x '{ v[NR] = $1 } END { printf "%s median %.1f us/req (%.1f-%.1f)\n", x, (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2, v[1], v[NR] }'
done
