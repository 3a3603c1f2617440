#!/usr/bin/env bash
# NTS-KE cost before and after a change: chronyd and one or more kairosd binaries (e.g. a copy of
# the old build's daemon/kairosd and the new one) serve NTS-KE on SERVER_CPU in the same run, and
# kairos-loadgen drives each in turn from LOADGEN_CPU, ROUNDS rounds alternated, so that a busy
# machine spreads over all of them alike. Per server: handshakes per server CPU-second and the
# user and system µs per handshake, as median [min..max] over the rounds.
#
# Server CPU: the run time of every thread of the server and its children (chronyd's NTS-KE
# helper) from /proc/PID/task/*/schedstat (nanoseconds), split into user and system by the
# utime/stime ticks of /proc/PID/stat (10 ms ticks: too coarse on their own for runs of a few
# hundred ms of CPU). bench_server.sh has the full table against chronyd; this script only
# compares binaries. Numbers only: nothing passes or fails.
#
# Usage: ke_cost.sh BUILD ROUNDS ecdsa|rsa KAIROSD_BINARY...
#   environment: SERVER_CPU (1), LOADGEN_CPU (0), KE_SECONDS (4), KE_CONCURRENCY (8)
set -euo pipefail

if (($# < 4)); then
  echo "usage: $0 BUILD ROUNDS ecdsa|rsa KAIROSD_BINARY..." >&2
  exit 2
fi
build=$(cd "$1" && pwd)
rounds=$2
cert=$3
shift 3
binaries=("$@")
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/interop/lib.sh"

SERVER_CPU=${SERVER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}
KE_SECONDS=${KE_SECONDS:-4}
KE_CONCURRENCY=${KE_CONCURRENCY:-8}
loadgen=$build/tools/loadgen/kairos-loadgen
[[ -x $loadgen ]] || { echo "no $loadgen: build kairos-loadgen first" >&2; exit 1; }
hz=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/kairos-ke-cost.XXXXXX)
chmod 0755 "$work"
started=()
cleanup() {
  local pid
  for pid in "${started[@]}"; do stop_pid "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case $cert in
  ecdsa) make_test_pki "$work/pki" ;;
  rsa) make_test_pki_rsa "$work/pki" ;;
  *) echo "certificate: ecdsa or rsa, not $cert" >&2; exit 2 ;;
esac

# Ports 17400–17499.
names=() ke_ports=() pids=()
fetch_chrony "$build/chrony"
mkdir -p "$work/chronyd"
cp "$work/pki/"{ca.crt,fullchain.crt,server.key} "$work/chronyd/"
CHRONYD_PID=
start_chronyd_nts_server "$build/chrony" "$work/chronyd" 17400 17401 1 "$SERVER_CPU" ||
  { started+=("$CHRONYD_PID"); exit 1; }
started+=("$CHRONYD_PID")
sleep 0.5  # the NTS-KE helper is forked at start
for pid in $(pgrep -P "$CHRONYD_PID" | tr '\n' ' '); do started+=("$pid"); done
names+=(chronyd) ke_ports+=(17401) pids+=("$CHRONYD_PID")

set_launcher
i=0
for binary in "${binaries[@]}"; do
  dir=$work/kairosd$i ntp_port=$((17410 + 2 * i)) ke_port=$((17411 + 2 * i))
  mkdir -p "$dir/state"
  cp "$work/pki/"{ca.crt,fullchain.crt,server.key} "$dir/"
  bench_server_toml "$dir" "$ntp_port" "$ke_port" 1
  [[ $RUN_USER == nobody ]] && chown -R nobody:nogroup "$dir"
  taskset -c "$SERVER_CPU" "${LAUNCHER[@]}" "$binary" --config "$dir/kairosd.toml" --no-steer --foreground \
    >"$dir/kairosd.log" 2>&1 &
  pid=$!
  started+=("$pid")
  wait_tcp_listener "$pid" "$ke_port" "$dir/kairosd.log" kairosd
  names+=("kairosd#$i") ke_ports+=("$ke_port") pids+=("$pid")
  echo "kairosd#$i: $binary" >&2
  i=$((i + 1))
done

# utime and stime ticks, and run-time nanoseconds, of PID, its children and all their threads.
server_cpu() {
  local user=0 system=0 ns=0 p t u s x
  for p in $1 $(pgrep -P "$1" | tr '\n' ' '); do
    [[ -r /proc/$p/stat ]] || continue
    read -r u s < <(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12, $13 }')
    user=$((user + u)) system=$((system + s))
    for t in /proc/"$p"/task/*/schedstat; do
      read -r x _ <"$t" || continue
      ns=$((ns + x))
    done
  done
  echo "$user $system $ns"
}

results=$work/results.txt
: >"$results"
for ((round = 1; round <= rounds; round++)); do
  for j in "${!names[@]}"; do
    read -r u0 s0 n0 < <(server_cpu "${pids[$j]}")
    out=$(taskset -c "$LOADGEN_CPU" "$loadgen" ke --server "127.0.0.1:${ke_ports[$j]}" --ca "$work/pki/ca.crt" \
      --aead 15 --concurrency "$KE_CONCURRENCY" --duration "$KE_SECONDS" --json 2>/dev/null || echo '{}')
    read -r u1 s1 n1 < <(server_cpu "${pids[$j]}")
    done_=$(jq -r '.completed // 0' <<<"$out")
    failed=$(jq -r '.failed // 0' <<<"$out")
    echo "${names[$j]} $done_ $failed $((u1 - u0)) $((s1 - s0)) $((n1 - n0))" >>"$results"
    echo "  round $round ${names[$j]}: $done_ handshakes ($failed failed), server CPU $(((n1 - n0) / 1000000)) ms" >&2
  done
done

echo "NTS-KE $cert, $rounds rounds of ${KE_SECONDS} s, concurrency $KE_CONCURRENCY; median [min..max]"
printf '%-12s %-26s %-22s %-22s\n' server "handshakes/CPU-s" "user µs/handshake" "system µs/handshake"
awk -v hz="$hz" '
  $2 > 0 && $6 > 0 {
    k = $1; n = ++count[k]; cpu = $6 / 1e9; ticks = $4 + $5; user = ticks > 0 ? $4 / ticks : 0.5
    rate[k, n] = $2 / cpu; us[k, n] = cpu * 1e6 / $2 * user; sy[k, n] = cpu * 1e6 / $2 * (1 - user)
    if (!(k in seen)) { seen[k] = 1; order[++keys] = k }
  }
  function summary(a, k, m,   v, i, j, t, mid) {
    for (i = 1; i <= m; i++) v[i] = a[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    mid = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    return sprintf("%.0f [%.0f..%.0f]", mid, v[1], v[m])
  }
  END {
    for (i = 1; i <= keys; i++) {
      k = order[i]
      printf "%-12s %-26s %-22s %-22s\n", k, summary(rate, k, count[k]), summary(us, k, count[k]), summary(sy, k, count[k])
    }
  }' "$results"
