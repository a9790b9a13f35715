# side-by-side-lib.sh - sourced by the side-by-side scripts in bench/ (governance-ab.sh,
# floor.sh): options, a release build, nginx and Ferry processes that stop with the script, and a
# process's CPU per request.
#
# measure PID PORT runs the load ($h2c 1: h2load -c16 -m10 over h2c for $duration s; else $rate 0:
# wrk -t1 -c64; else h2load --h1 at $rate requests/s over 16 connections) against 127.0.0.1:PORT and
# prints requests/s and the process's user, system and total microseconds per request (from
# /proc/PID/stat).

# --rounds N, --duration S, --rate R, --h2c into $rounds, $duration, $rate, $h2c (the caller sets
# defaults; --h2c only where the caller set h2c=0, since not every script's proxies speak h2c).
side_by_side_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --rounds) rounds=$2; shift ;;
      --duration) duration=$2; shift ;;
      --rate) rate=$2; shift ;;
      --h2c) [ -n "${h2c+set}" ] || { echo "--h2c is not available in this script" >&2; exit 2; }; h2c=1 ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
  done
}

# Builds ferry in release mode ($FERRY) and makes the work dir.
side_by_side_setup() {
  swift build -c release --product ferry >/dev/null
  FERRY=$(pwd)/.build/release/ferry
  side_by_side_workdir
}
# Makes $work, removed with every started process at exit.
side_by_side_workdir() {
  work=$(mktemp -d)
  pids=()
  trap side_by_side_cleanup EXIT
}
side_by_side_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }

# start_nginx NAME 'server { ... }' (or an upstream and a server): one worker, its pid file $work/NAME.pid.
start_nginx() {
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
  nginx -c "$work/$1.conf" & pids+=($!)
}

# start_ferry NAME CONFIG PORT ADMIN BACKEND [BINARY]: one worker of BINARY (default $FERRY) on
# CONFIG with its listener (18083), admin (19901) and backend (18080) ports moved; its pid in $pid_NAME.
start_ferry() {
  sed -e "s/port_value: 18083/port_value: $3/" -e "s/port_value: 19901/port_value: $4/" \
      -e "s/port_value: 18080/port_value: $5/" "$2" > "$work/$1.yaml"
  "${6:-$FERRY}" -c "$work/$1.yaml" --concurrency 1 -l warning > "$work/$1.log" 2>&1 & pids+=($!)
  eval "pid_$1=$!"
}

# What measure runs, for the scripts' headings.
load_description() {
  if [ "${h2c:-0}" = 1 ]; then echo "h2load -c16 -m10 (h2c) -D ${duration}s"
  elif [ "$rate" = 0 ]; then echo "wrk -t1 -c64 -d${duration}s"; else echo "h2load --h1 -c16 at $rate req/s for ${duration}s"; fi
}

# Waits until each port answers HTTP (10 s at most each).
wait_for_ports() {
  for port in "$@"; do
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  done
}

ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# One run against port $2 of pid $1: prints requests/s, user, system and total µs per request.
measure() {
  local pid=$1 port=$2 u0 s0 u1 s1 out reqs rps
  read -r u0 s0 < <(ticks "$pid")
  if [ "${h2c:-0}" = 1 ]; then
    out=$(h2load -c16 -m10 -D "$duration" "http://127.0.0.1:$port/" 2>&1)
    reqs=$(grep -oP 'requests: \d+ total, \d+ started, \K\d+(?= done)' <<<"$out")
    rps=$(grep -oP 'finished in [\d.]+m?s, \K[\d.]+(?= req/s)' <<<"$out")
  elif [ "$rate" = 0 ]; then
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
