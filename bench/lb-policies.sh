#!/usr/bin/env bash
# Tail latency with one slow endpoint among three: three `ferry echo` upstreams, one of which
# holds every answer back by DELAY_MS (default 50), behind Ferry (release build, one worker)
# with ROUND_ROBIN, LEAST_REQUEST and Ferry's peak EWMA in turn. wrk drives the same load
# through each (CONNS connections, default 16, for SECONDS, default 10) and the script prints
# requests/s, p50, p99 and the slow endpoint's share of the requests for each policy.
#   bench/lb-policies.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DELAY_MS=${DELAY_MS:-50}
CONNS=${CONNS:-16}
SECONDS_PER_RUN=${SECONDS:-10}
FERRY=${FERRY:-.build/release/ferry}
[ -x "$FERRY" ] || swift build -c release --product ferry
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
T=$(mktemp -d /tmp/ferry-lb.XXXXXX)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
A=$(pick_port); B=$(pick_port); S=$(pick_port); PX=$(pick_port); ADMIN=$(pick_port)
"$FERRY" echo --port "$A" --name fast-a > "$T/a.log" 2>&1 &
"$FERRY" echo --port "$B" --name fast-b > "$T/b.log" 2>&1 &
"$FERRY" echo --port "$S" --name slow --delay "$DELAY_MS" > "$T/s.log" 2>&1 &
config() {
  cat <<YAML
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $ADMIN}}}
static_resources:
  listeners:
  - name: lb
    address: {socket_address: {address: 127.0.0.1, port_value: $PX}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: lb
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: pool}
          http_filters:
          - {name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
  clusters:
  - name: pool
$1
    load_assignment:
      cluster_name: pool
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $A}}}
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $B}}}
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $S}}}
YAML
}
EWMA='    load_balancing_policy:
      policies:
      - typed_extension_config:
          name: ferry.load_balancing_policies.peak_ewma
          typed_config: {"@type": type.googleapis.com/ferry.load_balancing_policies.peak_ewma.v1.PeakEwma}'
printf "one endpoint of three answers after %s ms; wrk -t1 -c%s -d%ss --latency; ferry --concurrency 1\n" "$DELAY_MS" "$CONNS" "$SECONDS_PER_RUN"
printf "%-14s %10s %9s %9s %12s\n" policy "req/s" "p50 ms" "p99 ms" "slow share"
for policy in ROUND_ROBIN LEAST_REQUEST PEAK_EWMA; do
  if [ "$policy" = PEAK_EWMA ]; then config "$EWMA" > "$T/ferry.yaml"; else config "    lb_policy: $policy" > "$T/ferry.yaml"; fi
  "$FERRY" -c "$T/ferry.yaml" --concurrency 1 -l warning > "$T/ferry-$policy.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PX/" && break; sleep 0.1; done
  curl -s -X POST "http://127.0.0.1:$ADMIN/reset_counters" > /dev/null
  out=$(wrk -t1 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$PX/")
  stats=$(curl -s "http://127.0.0.1:$ADMIN/clusters")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }
  p50=$(awk '$1=="50%"{print $2}' <<<"$out" | to_ms)
  p99=$(awk '$1=="99%"{print $2}' <<<"$out" | to_ms)
  slow=$(awk -F'::' -v s="127.0.0.1:$S" '$2==s && $3=="rq_total"{print $4}' <<<"$stats")
  total=$(awk -F'::' '$3=="rq_total"{t+=$4} END{print t}' <<<"$stats")
  share=$(awk -v s="$slow" -v t="$total" 'BEGIN{printf "%.1f%%", t ? 100*s/t : 0}')
  printf "%-14s %10s %9s %9s %12s\n" "$policy" "$rps" "$p50" "$p99" "$share"
done
