# cpu-lib.sh - sourced by the side-by-side scripts in bench/: a process's CPU per request.
# measure PID PORT runs the load ($rate 0: wrk -t1 -c64 for $duration s; else h2load --h1 at
# $rate requests/s over 16 connections) against 127.0.0.1:PORT and prints requests/s and the
# process's user, system and total microseconds per request (from /proc/PID/stat).
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# One run against port $2 of pid $1: prints requests/s, user, system and total µs per request.
measure() {
  local pid=$1 port=$2 u0 s0 u1 s1 out reqs rps
  read -r u0 s0 < <(ticks "$pid")
  if [ "$rate" = 0 ]; then
    out=$(wrk -t1 -c64 -d"${duration}s" "http://127.0.0.1:$port/")
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  else
    out=$(h2load --h1 -c16 -m1 --rps "$(( (rate + 15) / 16 ))" -D "$duration" "http://127.0.0.1:$port/" 2>&1)
    reqs=$(grep -oP 'requests: \d+ total, \d+ started, \K\d+(?= done)' <<<"$out")
    rps=$(grep -oP 'finished in [\d.]+m?s, \K[\d.]+(?= req/s)' <<<"$out")
  fi
  read -r u1 s1 < <(ticks "$pid")
  awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v r="$reqs" -v t="$(getconf CLK_TCK)" -v rps="$rps" \
    'BEGIN { printf "%10.0f req/s  user %5.1f  system %5.1f  total %5.1f us/req\n", rps, u/t*1e6/r, s/t*1e6/r, (u+s)/t*1e6/r }'
}
